import { createHash, randomUUID } from 'node:crypto';
import * as engine from '../bandit/index.js';
import { BanditConfigError, BanditInputError, type ActionInput, type BanditModel, type Features, type OffPolicyEstimate } from '../bandit/index.js';
import { ConflictError, GoneError, HttpError, NotFoundError, ServiceUnavailableError, ValidationError } from '../http/errors.js';
import type { Config } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { Db } from '../store/database.js';
import type { DecisionMetrics } from './decision-metrics.js';
import { DecisionStore, type DecisionPayload, type EventRow, type ModelStats } from './decision-store.js';
import { GroupCommitter, savepoint, type JobOutcome } from './group-commit.js';
import { canonical, resetsState, resolveModelConfig, sameConfig, type ModelConfig, type ModelConfigInput } from './model-config.js';
import { checkActions, FeatureBudget } from './request-limits.js';

/** The engine entry points the service uses; injectable so tests can count or fail them. */
export type BanditEngine = Pick<typeof engine, 'createBanditModel' | 'normalizeBanditConfig' | 'offPolicyEstimate'>;

export const DEFAULT_MODEL = 'default';

/** Rewarded events the off-policy estimates look back over. */
const OFF_POLICY_WINDOW = 500;
/** Expired events closed per model per sweep, so one sweep never blocks the loop for long. */
const SWEEP_BATCH = 1000;

/** A model in memory: configuration, learned state and how far into the reward log that state reaches. */
interface ModelEntry {
  name: string;
  config: ModelConfig;
  version: number;
  createdAt: number;
  updatedAt: number;
  bandit: BanditModel;
  /** Last rewards.seq folded into `bandit`: a snapshot stores it, replay starts after it. */
  lastSeq: number;
  /** `lastSeq` at the last snapshot: unchanged means nothing to snapshot. */
  snapshotSeq: number;
  offPolicy?: { key: string; value: OffPolicyEstimate | null };
}

export interface DecideInput {
  model?: string;
  context?: Features;
  actions?: (string | ActionInput)[];
  eventId?: string;
}

export interface DecideResult {
  eventId: string;
  model: string;
  action: string;
  probability: number;
  ranking: { id: string; probability: number }[];
  strategy: string;
}

export interface RewardItem {
  eventId: string;
  reward?: number;
  label?: string;
}

/** One reward's outcome: an HTTP status and its body (a problem document for 4xx). */
export interface RewardResult {
  status: number;
  body: Record<string, unknown>;
}

type RewardStep = RewardResult | { dispatch: string };

export interface ModelView {
  name: string;
  version: number;
  config: ModelConfig;
  createdAt: string;
  updatedAt: string;
  stats: ModelStats & { meanReward: number | null; updates: number; rewardSeq: number; fingerprint: string };
  offPolicy: OffPolicyEstimate | null;
}

export function problemBody(err: HttpError): Record<string, unknown> {
  return { type: err.type, title: err.title, status: err.status, detail: err.message, ...err.extra };
}

/**
 * The bandit service: models in memory, every write through the group
 * committer, learning applied in reward-log order after each commit so that
 * snapshot + replay of the log rebuilds exactly the model in memory.
 */
export class DecisionService {
  readonly store: DecisionStore;
  readonly committer: GroupCommitter;
  private readonly models = new Map<string, ModelEntry>();
  private closed = false;
  private sweeping = false;

  constructor(
    private readonly db: Db,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly metrics: DecisionMetrics,
    private readonly engine: BanditEngine,
  ) {
    this.store = new DecisionStore(db);
    this.committer = new GroupCommitter(db,
      (size, seconds) => { metrics.commitSize.observe(size); metrics.commitDuration.observe(seconds); },
      (err) => logger.error({ err }, 'group commit failed; its requests get 500 and memory is unchanged'));
  }

  // ---- lifecycle ----

  /** Loads every model (latest snapshot + replay of the rewards after it); creates `default` if missing. */
  load(): void {
    for (const row of this.store.models()) {
      const config = JSON.parse(row.config) as ModelConfig;
      const snap = this.store.snapshot(row.name, row.version);
      if (!snap) this.logger.warn({ model: row.name, version: row.version }, 'no snapshot for the current version: replaying the whole reward log');
      const bandit = this.build(config, snap ? new Uint8Array(snap.state) : undefined);
      const entry: ModelEntry = {
        name: row.name, config, version: row.version, createdAt: row.created_at, updatedAt: row.updated_at,
        bandit, lastSeq: snap?.reward_seq ?? 0, snapshotSeq: snap?.reward_seq ?? 0,
      };
      let replayed = 0;
      for (const r of this.store.replay(row.name, entry.lastSeq)) {
        this.fold(entry, r.seq, JSON.parse(r.payload) as DecisionPayload, r.reward);
        replayed++;
      }
      this.models.set(row.name, entry);
      this.logger.info({ model: row.name, version: row.version, snapshotSeq: entry.snapshotSeq, replayed, updates: bandit.updates }, 'bandit model loaded');
    }
    if (!this.models.has(DEFAULT_MODEL)) {
      const config = this.resolve({});
      const bandit = this.build(config);
      const now = Date.now();
      const entry: ModelEntry = { name: DEFAULT_MODEL, config, version: 1, createdAt: now, updatedAt: now, bandit, lastSeq: 0, snapshotSeq: 0 };
      this.db.transaction(() => {
        entry.lastSeq = entry.snapshotSeq = this.store.maxRewardSeq();
        this.store.insertModel(DEFAULT_MODEL, JSON.stringify(config), 1, now);
        this.store.writeSnapshot(DEFAULT_MODEL, 1, entry.lastSeq, bandit.snapshot(), now);
      })();
      this.models.set(DEFAULT_MODEL, entry);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Commits what is queued, snapshots every model, then refuses new work. */
  close(): void {
    if (this.closed) return;
    this.committer.flush();
    this.db.transaction(() => {
      for (const entry of this.models.values()) this.writeSnapshot(entry, true);
    })();
    this.committer.close();
    this.closed = true;
  }

  // ---- models ----

  private build(config: ModelConfig, snapshot?: Uint8Array): BanditModel {
    return asValidation(() => this.engine.createBanditModel({ strategy: config.strategy, learner: config.learner }, snapshot));
  }

  private resolve(input: ModelConfigInput): ModelConfig {
    return asValidation(() => resolveModelConfig(input, (c) => this.engine.normalizeBanditConfig(c)));
  }

  private entry(name: string): ModelEntry {
    const e = this.models.get(name);
    if (!e) throw new NotFoundError(`No bandit model named "${name}"`);
    return e;
  }

  private guard(): void {
    if (this.closed) throw new ServiceUnavailableError('The decisions service is shutting down');
  }

  names(): string[] {
    return [...this.models.keys()].sort();
  }

  /**
   * Creates or reconfigures a model. A new strategy or learner starts from
   * fresh learned state (the old weights belong to another model); changing
   * only actions or the reward policy keeps it. Any change bumps the version.
   */
  async put(name: string, input: ModelConfigInput, { forceReset = false } = {}): Promise<{ view: ModelView; created: boolean }> {
    this.guard();
    const budget: FeatureBudget = new FeatureBudget(this.config.limits);
    if (input.actions) checkActions(input.actions, budget, this.config.limits);
    const config = this.resolve(input);
    const existing = this.models.get(name);
    const reset = forceReset || !existing || resetsState(existing.config, config);
    // Built (and validated by the engine) before queuing, so a bad config changes nothing.
    const fresh = reset ? this.build(config) : undefined;
    if (existing && !reset && sameConfig(existing.config, config)) return { view: this.view(existing), created: false };

    const created = await this.committer.submit((): JobOutcome<boolean> => {
      const now = Date.now();
      const current = this.models.get(name);
      const kind = this.store.modelKind(name);
      if (kind !== undefined && kind !== 'bandit') throw new ConflictError(`"${name}" names a model of kind ${kind}`);
      const version = (current?.version ?? 0) + 1;
      const json = JSON.stringify(config);
      if (current) this.store.updateModel(name, json, version, now);
      else this.store.insertModel(name, json, version, now);
      if (fresh) {
        // Rewards logged so far belong to the old state: replay starts after them.
        const seq = this.store.maxRewardSeq();
        this.store.writeSnapshot(name, version, seq, fresh.snapshot(), now);
        const entry: ModelEntry = { name, config, version, createdAt: current?.createdAt ?? now, updatedAt: now, bandit: fresh, lastSeq: seq, snapshotSeq: seq };
        return { result: !current, afterCommit: () => { this.models.set(name, entry); } };
      }
      const target = current!;
      this.store.writeSnapshot(name, version, target.lastSeq, target.bandit.snapshot(), now);
      const seq = target.lastSeq;
      return {
        result: false,
        afterCommit: () => {
          target.config = config;
          target.version = version;
          target.updatedAt = now;
          target.snapshotSeq = seq;
        },
      };
    });
    return { view: this.view(this.entry(name)), created };
  }

  /** Deletes a model; its open events are closed. `default` is reset to the default configuration instead. */
  async delete(name: string): Promise<ModelView | undefined> {
    this.guard();
    this.entry(name);
    if (name === DEFAULT_MODEL) return (await this.put(name, {}, { forceReset: true })).view;
    await this.committer.submit(() => {
      this.store.deleteModel(name);
      this.store.closeOpenEvents(name, 'deleted');
      return { result: undefined, afterCommit: () => { this.models.delete(name); } };
    });
    return undefined;
  }

  view(entry: ModelEntry | string): ModelView {
    const e = typeof entry === 'string' ? this.entry(entry) : entry;
    const stats = this.store.stats(e.name, e.createdAt);
    const decided = stats.rewardedEvents;
    return {
      name: e.name,
      version: e.version,
      config: e.config,
      createdAt: new Date(e.createdAt).toISOString(),
      updatedAt: new Date(e.updatedAt).toISOString(),
      stats: {
        ...stats,
        meanReward: decided > 0 ? stats.rewardTotal / decided : null,
        updates: e.bandit.updates,
        rewardSeq: e.lastSeq,
        fingerprint: createHash('sha256').update(e.bandit.snapshot()).digest('hex'),
      },
      offPolicy: this.offPolicy(e),
    };
  }

  /**
   * IPS / SNIPS / DR of the current policy over the latest rewarded events.
   * The policy was trained on these same events, so read it as a progress
   * indicator rather than an unbiased forecast.
   */
  private offPolicy(e: ModelEntry): OffPolicyEstimate | null {
    const key = `${e.version}:${e.lastSeq}`;
    if (e.offPolicy?.key === key) return e.offPolicy.value;
    const records = [];
    for (const row of this.store.recentRewarded(e.name, OFF_POLICY_WINDOW)) {
      const p = JSON.parse(row.payload) as DecisionPayload;
      const d = e.bandit.decide(p.context, p.actions, row.event_id);
      const targetPredicted = d.pmf.reduce((s, q, i) => s + q * (d.scores[i] ?? 0), 0);
      records.push({
        loggedProbability: p.probability, targetProbability: d.pmf[p.chosen] ?? 0, reward: row.reward,
        targetPredicted, loggedPredicted: d.scores[p.chosen] ?? 0,
      });
    }
    const value = records.length > 0 ? this.engine.offPolicyEstimate(records) : null;
    e.offPolicy = { key, value };
    return value;
  }

  // ---- decide ----

  async decide(input: DecideInput): Promise<DecideResult> {
    this.guard();
    const limits = this.config.limits;
    const name = input.model ?? DEFAULT_MODEL;
    const entry = this.entry(name);
    const budget: FeatureBudget = new FeatureBudget(limits);
    const context = input.context ?? {};
    budget.features('/context', context);
    let actions: ActionInput[];
    if (input.actions) actions = checkActions(input.actions, budget, limits);
    else if (entry.config.actions) actions = checkActions(entry.config.actions, budget, limits);
    else throw new ValidationError(`actions is required: model "${name}" has no fixed actions list`, [{ path: '/actions', message: 'is required' }]);
    const eventId = input.eventId ?? randomUUID();
    budget.string('/eventId', eventId, 'eventId');

    const d = asValidation(() => entry.bandit.decide(context, actions, eventId));
    const strategy = entry.config.strategy.name;
    const payload: DecisionPayload = {
      context, actions, pmf: d.pmf, scores: d.scores, chosen: d.chosen, probability: d.probability,
      modelVersion: entry.version, strategy,
    };
    const json = JSON.stringify(payload);
    const now = Date.now();
    const deadline = now + Math.round(entry.config.reward.waitSeconds * 1000);
    const inserted = await this.committer.submit(() => {
      // Deleted by a job queued ahead of this one: logging would orphan the event.
      if (this.store.modelKind(name) !== 'bandit') throw new NotFoundError(`No bandit model named "${name}"`);
      return { result: this.store.insertDecision(eventId, name, now, deadline, json) };
    });
    if (!inserted) throw new ConflictError(`eventId "${eventId}" is already in use`, { eventId });
    this.metrics.decisions.inc({ model: name, strategy });

    const order = actions.map((_, i) => i).sort((a, b) => (d.pmf[b]! - d.pmf[a]!) || (d.scores[b]! - d.scores[a]!) || a - b);
    return {
      eventId, model: name, action: actions[d.chosen]!.id, probability: d.probability,
      ranking: order.map((i) => ({ id: actions[i]!.id, probability: d.pmf[i]! })),
      strategy,
    };
  }

  // ---- rewards ----

  /** Applies rewards independently, in order; one durable group commit for the decision events among them. */
  async reward(items: readonly RewardItem[], feedback: (kind: string, item: RewardItem) => Promise<RewardResult>): Promise<RewardResult[]> {
    this.guard();
    const steps = await Promise.all(items.map((item) => this.committer.submit(() => this.rewardJob(item, Date.now())).catch((err: unknown): RewardStep => {
      if (err instanceof HttpError) return { status: err.status, body: problemBody(err) };
      throw err;
    })));
    const results: RewardResult[] = [];
    for (const [i, step] of steps.entries()) {
      results.push('dispatch' in step ? await feedback(step.dispatch, items[i]!) : step);
    }
    return results;
  }

  private rewardJob(item: RewardItem, now: number): JobOutcome<RewardStep> {
    const row = this.store.findEvent(item.eventId);
    const fail = (err: HttpError): JobOutcome<RewardStep> => ({ result: { status: err.status, body: problemBody(err) } });
    if (!row) return fail(new NotFoundError(`No logged event with eventId "${item.eventId}"`));
    if (row.kind !== 'decision') return { result: { dispatch: row.kind } };
    if (item.reward === undefined) {
      return fail(new ValidationError('reward is required for a decision event (label applies to image events)', [{ path: '/reward', message: 'is required' }]));
    }
    const entry = this.models.get(row.model);
    if (row.closed) {
      if (row.closed_reason === 'reward') {
        return fail(new ConflictError(`Event "${row.event_id}" was already rewarded (aggregation first)`, { eventId: row.event_id, reward: row.reward }));
      }
      return fail(gone(row, row.closed_reason === 'deleted' ? 'its model was deleted or reset' : 'its reward window closed'));
    }
    if (!entry) return fail(new NotFoundError(`Model "${row.model}" of event "${row.event_id}" no longer exists`));
    if (row.deadline_at !== null && now >= row.deadline_at) {
      const closed = this.closeExpired(entry, row, now);
      return { result: { status: 410, body: problemBody(gone({ ...row, reward: closed.reward }, 'its reward window closed')) }, afterCommit: closed.afterCommit };
    }
    const reward = item.reward;
    const body = { eventId: row.event_id, reward, applied: true };
    if (entry.config.reward.aggregation === 'sum') {
      savepoint(this.db, () => {
        this.store.insertReward(row.event_id, row.model, reward, item.label ?? null, 'client', now, false);
        this.store.updateEvent(row.event_id, (row.reward ?? 0) + reward, row.reward_count + 1, false, null);
      });
      return { result: { status: 200, body: { ...body, total: (row.reward ?? 0) + reward, learnedAt: new Date(row.deadline_at ?? now).toISOString() } }, afterCommit: () => this.countReward(row.model, reward) };
    }
    const seq = savepoint(this.db, () => {
      const s = this.store.insertReward(row.event_id, row.model, reward, item.label ?? null, 'client', now, true);
      this.store.updateEvent(row.event_id, reward, row.reward_count + 1, true, 'reward');
      return s;
    });
    return {
      result: { status: 200, body },
      afterCommit: () => {
        this.countReward(row.model, reward);
        this.learn(row.model, seq, JSON.parse(row.payload) as DecisionPayload, reward);
      },
    };
  }

  private countReward(model: string, reward: number): void {
    this.metrics.rewards.inc({ model });
    this.metrics.rewardSum.inc({ model }, reward);
  }

  /** Closes an event whose window passed: the sum so far (aggregation sum) or the default reward is learned. */
  private closeExpired(entry: ModelEntry, row: EventRow, now: number): { reward: number; afterCommit: () => void } {
    const aggregated = row.reward_count > 0;
    const reward = aggregated ? row.reward ?? 0 : entry.config.reward.default;
    const seq = savepoint(this.db, () => {
      const s = this.store.insertReward(row.event_id, row.model, reward, null, aggregated ? 'aggregate' : 'default', now, true);
      this.store.updateEvent(row.event_id, reward, row.reward_count, true, 'window');
      return s;
    });
    return {
      reward,
      afterCommit: () => {
        if (!aggregated) this.metrics.defaultRewards.inc({ model: row.model });
        this.learn(row.model, seq, JSON.parse(row.payload) as DecisionPayload, reward);
      },
    };
  }

  /** Folds one logged reward into the live model, unless that model's state already starts after it. */
  private learn(model: string, seq: number, p: DecisionPayload, reward: number): void {
    const entry = this.models.get(model);
    if (!entry || seq <= entry.lastSeq) return;
    const end = this.metrics.updateDuration.startTimer({ model });
    this.fold(entry, seq, p, reward);
    end();
    this.metrics.updates.inc({ model });
  }

  private fold(entry: ModelEntry, seq: number, p: DecisionPayload, reward: number): void {
    entry.bandit.learn({ context: p.context, actions: p.actions, chosen: p.chosen, probability: p.probability, reward });
    entry.lastSeq = seq;
  }

  // ---- background work ----

  /** Applies the default (or summed) reward to every event past its deadline. */
  async sweep(now = Date.now()): Promise<number> {
    if (this.closed || this.sweeping) return 0;
    const due = [...this.models.keys()].filter((m) => this.store.hasExpired(m, now));
    if (due.length === 0) return 0;
    this.sweeping = true;
    try {
      return await this.committer.submit(() => {
        const effects: (() => void)[] = [];
        for (const name of due) {
          const entry = this.models.get(name);
          if (!entry) continue;
          for (const row of this.store.expired(name, now, SWEEP_BATCH)) effects.push(this.closeExpired(entry, row, now).afterCommit);
        }
        return { result: effects.length, afterCommit: () => { for (const f of effects) f(); } };
      });
    } finally {
      this.sweeping = false;
    }
  }

  /** Snapshots every model whose state moved since its last snapshot. */
  async snapshot(): Promise<void> {
    if (this.closed) return;
    await this.committer.submit(() => {
      const done: (() => void)[] = [];
      for (const entry of this.models.values()) {
        const seq = this.writeSnapshot(entry, false);
        if (seq !== undefined) done.push(() => { entry.snapshotSeq = Math.max(entry.snapshotSeq, seq); });
      }
      return { result: undefined, afterCommit: () => { for (const f of done) f(); } };
    });
  }

  private writeSnapshot(entry: ModelEntry, force: boolean): number | undefined {
    if (!force && entry.lastSeq === entry.snapshotSeq) return undefined;
    const end = this.metrics.snapshotDuration.startTimer({ model: entry.name });
    this.store.writeSnapshot(entry.name, entry.version, entry.lastSeq, entry.bandit.snapshot(), Date.now());
    end();
    return entry.lastSeq;
  }

  /** For tests and diagnostics: the canonical config of a model. */
  configOf(name: string): string {
    return canonical(this.entry(name).config);
  }
}

/** 410 for an event whose window has closed, carrying the reward that was applied. */
function gone(row: Pick<EventRow, 'event_id' | 'reward'>, why: string): GoneError {
  return new GoneError(`Event "${row.event_id}" no longer accepts rewards: ${why}`, { eventId: row.event_id, reward: row.reward, applied: false });
}

/** The engine's own checks (config, input) become 400s naming the field. */
function asValidation<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BanditConfigError || err instanceof BanditInputError) {
      const where = err.path.split('/').slice(1).join('.');
      throw new ValidationError(where ? `${where} ${err.message}` : err.message, [{ path: err.path, message: err.message }]);
    }
    throw err;
  }
}
