import { createHash } from 'node:crypto';
import * as engine from '../bandit/index.js';
import { BanditConfigError, BanditInputError, type ActionInput, type BanditModel, type Features, type OffPolicyEstimate } from '../bandit/index.js';
import { ConflictError, GoneError, HttpError, NotFoundError, ServiceUnavailableError, ValidationError, type FieldError } from '../http/errors.js';
import type { Config } from '../platform/config.js';
import { newEventId } from '../platform/ids.js';
import type { Logger } from '../platform/logger.js';
import type { Db } from '../store/database.js';
import type { DecisionMetrics } from './decision-metrics.js';
import { decodeDecisionPayload, DecisionStore, encodeDecisionPayload, type DecisionPayload, type ModelStats } from './decision-store.js';
import { GroupCommitter, InlineRunner, WorkerRunner } from '../store/group-commit.js';
import type { StoredPayload } from '../store/payload-codec.js';
import { storageHealth } from '../store/storage-health.js';
import { resetsState, resolveModelConfig, sameConfig, type ModelConfig, type ModelConfigInput } from './model-config.js';
import { checkActions, FeatureBudget } from './request-limits.js';
import { logStats, type LogStats, type RetentionOp } from './retention.js';
import { ModelCounters } from './model-counters.js';
import { OffPolicyWindow } from './off-policy-window.js';
import { createExecutor, EXECUTOR_MODULE, type Learn, type OpResult, type WriteOp } from './write-ops.js';

/** The engine entry points the service uses; injectable so tests can count or fail them. */
export type BanditEngine = Pick<typeof engine, 'createBanditModel' | 'normalizeBanditConfig' | 'offPolicyEstimate'>;

export const DEFAULT_MODEL = 'default';

/**
 * Expired windows closed per sweep op. The sweep repeats while ops come back full, so it keeps up with any
 * decision rate; the batch bounds one op's time on the writer thread (it delays the decisions committed with it)
 * and the learning it hands to the event loop at once (≈ 25 µs per event for the default model with 10 actions × 20 features: ≈ 3 ms a batch).
 */
export const SWEEP_BATCH = 128;

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
  /** Statistics kept up to date by committed results (GET /models reads these, not the tables). */
  counters: ModelCounters;
  fingerprint?: { key: string; value: string };
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

export interface ModelView {
  name: string;
  version: number;
  config: ModelConfig;
  createdAt: string;
  updatedAt: string;
  stats: ModelStats & { meanReward: number | null; updates: number; rewardSeq: number; fingerprint: string; log: LogStats };
  offPolicy: OffPolicyEstimate | null;
}


/**
 * The bandit service: models in memory; every write goes through the group
 * committer (on a writer thread); learning is applied in reward-log order
 * once each group is durable, so snapshot + replay of the log rebuilds
 * exactly the model in memory.
 */
export class DecisionService {
  readonly store: DecisionStore;
  private committer: GroupCommitter<WriteOp, OpResult> | undefined;
  private readonly models = new Map<string, ModelEntry>();
  private closing = false;
  private closed = false;
  private sweeping = false;
  /** Admin operations run one at a time: each decides reset-or-keep against the committed state. */
  private adminChain: Promise<unknown> = Promise.resolve();
  private readonly estimates: OffPolicyWindow;

  constructor(
    private readonly db: Db,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly metrics: DecisionMetrics,
    private readonly engine: BanditEngine,
  ) {
    this.store = new DecisionStore(db);
    this.estimates = new OffPolicyWindow(this.store, (records) => this.engine.offPolicyEstimate(records), logger, (name) => this.models.get(name));
  }

  // ---- lifecycle ----

  /**
   * Loads every model (latest snapshot + replay of the rewards after it),
   * creates `default` if missing, then starts the writer.
   */
  start(): void {
    for (const row of this.store.models()) {
      const config = JSON.parse(row.config) as ModelConfig;
      let snap = this.store.snapshot(row.name, row.version);
      if (!snap) this.logger.warn({ model: row.name, version: row.version }, 'no snapshot for the current version: replaying the whole reward log');
      let bandit: BanditModel;
      try {
        bandit = this.build(config, snap ? new Uint8Array(snap.state) : undefined);
      } catch (err) {
        // A snapshot this version cannot read (a learner whose state format changed, e.g. bayes-linear's
        // per-action posteriors) is rebuilt from the events still in the log rather than stopping start-up.
        if (!(err instanceof engine.SnapshotFormatError)) throw err;
        this.logger.warn({ model: row.name, version: row.version, err: err.message }, 'snapshot in an older format: rebuilding the model from the events kept in the log');
        snap = undefined;
        bandit = this.build(config);
      }
      const entry: ModelEntry = {
        name: row.name, config, version: row.version, createdAt: row.created_at, updatedAt: row.updated_at,
        bandit, lastSeq: snap?.reward_seq ?? 0, snapshotSeq: snap?.reward_seq ?? 0,
        counters: ModelCounters.from(this.store.stats(row.name, row.created_at)),
      };
      let replayed = 0;
      let failed = 0;
      for (const r of this.store.replay(row.name, entry.lastSeq)) {
        if (!this.fold(entry, r.seq, r.eventId, r.payload, r.reward)) failed++;
        replayed++;
      }
      this.models.set(row.name, entry);
      this.logger.info({ model: row.name, version: row.version, snapshotSeq: entry.snapshotSeq, replayed, failed, updates: bandit.updates }, 'bandit model loaded');
    }
    if (!this.models.has(DEFAULT_MODEL)) {
      const config = this.resolve({});
      const bandit = this.build(config);
      const now = Date.now();
      const entry: ModelEntry = {
        name: DEFAULT_MODEL, config, version: 1, createdAt: now, updatedAt: now, bandit, lastSeq: 0, snapshotSeq: 0, counters: new ModelCounters(),
      };
      this.db.transaction(() => {
        entry.lastSeq = entry.snapshotSeq = this.store.maxRewardSeq();
        this.store.insertModel(DEFAULT_MODEL, JSON.stringify(config), 1, now);
        this.store.writeSnapshot(DEFAULT_MODEL, 1, entry.lastSeq, bandit.snapshot(), now);
      })();
      this.models.set(DEFAULT_MODEL, entry);
    }
    const runner = this.db.memory
      ? new InlineRunner(createExecutor(this.db))
      : new WorkerRunner<WriteOp, OpResult>(this.db.name, EXECUTOR_MODULE, 'decisions writer', (err) => {
        this.logger.fatal({ err }, 'the decisions writer thread failed: writes are refused until restart');
        this.closed = true;
      });
    this.committer = new GroupCommitter(runner, {
      onCommit: (size, seconds) => { this.metrics.commitSize.observe(size); this.metrics.commitDuration.observe(seconds); },
      onCommitError: (err) => { if (!storageHealth(this.db)?.failed(err)) this.logger.error({ err }, 'group commit failed; its requests fail and memory is unchanged'); },
      failure: (r) => (r.problem?.internal ? r.problem.detail : undefined),
    });
  }

  get isReady(): boolean {
    return this.committer !== undefined && !this.closing && !this.closed;
  }

  private get writer(): GroupCommitter<WriteOp, OpResult> {
    if (!this.committer || this.closing || this.closed) throw new ServiceUnavailableError('The decisions service is not accepting writes (starting, shutting down or failed)');
    return this.committer;
  }

  /** Commits what is queued, snapshots every model, then stops the writer. */
  async close(): Promise<void> {
    if (this.closing || !this.committer) return;
    this.closing = true;
    const committer = this.committer;
    await this.adminChain.catch(() => undefined);
    await committer.drain();
    if (!this.closed) {
      await committer.submit(...this.snapshotOp(true));
    }
    await committer.close();
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

  names(): string[] {
    return [...this.models.keys()].sort();
  }

  private admin<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.adminChain.then(fn, fn);
    this.adminChain = next.catch(() => undefined);
    return next;
  }

  /**
   * Creates or reconfigures a model. A new strategy or learner starts from
   * fresh learned state (the old weights belong to another model); changing
   * only actions or the reward policy keeps it. Any change bumps the version.
   */
  put(name: string, input: ModelConfigInput, { forceReset = false } = {}): Promise<ModelView> {
    const writer = this.writer;
    const budget: FeatureBudget = new FeatureBudget(this.config.limits);
    if (input.actions) checkActions(input.actions, budget, this.config.limits);
    const config = this.resolve(input);
    return this.admin(async () => {
      const existing = this.models.get(name);
      const reset = forceReset || !existing || resetsState(existing.config, config);
      if (existing && !reset && sameConfig(existing.config, config)) return this.view(existing);
      // Built (and so validated by the engine) before anything is written.
      const fresh = reset ? this.build(config) : undefined;
      const r = await writer.submit({
        op: 'put', name, config: JSON.stringify(config), reset, now: Date.now(),
        state: (fresh ?? existing!.bandit).snapshot(), lastSeq: existing?.lastSeq ?? 0,
      }, (r) => {
        if (r.problem) return;
        const now = Date.now();
        if (fresh) {
          this.models.set(name, {
            name, config, version: r.version!, createdAt: existing?.createdAt ?? now, updatedAt: now,
            bandit: fresh, lastSeq: r.seq!, snapshotSeq: r.seq!,
            // A reset keeps the model's history (its statistics count from createdAt, which stays).
            counters: existing?.counters ?? new ModelCounters(),
          });
        } else {
          Object.assign(existing!, { config, version: r.version!, updatedAt: now, snapshotSeq: r.seq! });
        }
      });
      if (r.problem) throw httpError(r);
      return this.view(name);
    });
  }

  /** Deletes a model; its open events are closed. `default` is reset to the default configuration instead. */
  async delete(name: string): Promise<ModelView | undefined> {
    const writer = this.writer;
    this.entry(name);
    if (name === DEFAULT_MODEL) return this.put(name, {}, { forceReset: true });
    return this.admin(async () => {
      this.entry(name);
      await writer.submit({ op: 'delete', name }, () => { this.models.delete(name); this.estimates.forget(name); });
      return undefined;
    });
  }

  /** Open windows by model, for the pending-events gauge. */
  pendingByModel(): { model: string; n: number }[] {
    return [...this.models.values()].map((e) => ({ model: e.name, n: e.counters.pending }));
  }

  /** No table is read: statistics are counters, the fingerprint and estimates are cached (see below). */
  view(entry: ModelEntry | string): ModelView {
    const e = typeof entry === 'string' ? this.entry(entry) : entry;
    const stats = e.counters.snapshot();
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
        fingerprint: this.fingerprint(e),
        log: logStats(this.db, e.name, e.config, this.config.logRetentionMs),
      },
      offPolicy: this.estimates.get(e),
    };
  }

  /** sha256 of the learned state, cached until the state moves (serialising a large table is not free). */
  private fingerprint(e: ModelEntry): string {
    const key = `${e.version}:${e.lastSeq}:${e.bandit.updates}`;
    if (e.fingerprint?.key !== key) e.fingerprint = { key, value: createHash('sha256').update(e.bandit.snapshot()).digest('hex') };
    return e.fingerprint.value;
  }

  // ---- decide ----

  /** `requestJson`: the body exactly as received, if it is `input`'s JSON text; it is logged instead of re-serialising. */
  async decide(input: DecideInput, requestJson?: string): Promise<DecideResult> {
    const writer = this.writer;
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
    // Only a client's id counts against FOCAL_MAX_STRING_LENGTH: a generated UUID must fit whatever the limit.
    if (input.eventId !== undefined) budget.string('/eventId', input.eventId, 'eventId');
    const eventId = input.eventId ?? newEventId();

    const d = asValidation(() => entry.bandit.decide(context, actions, eventId));
    const strategy = entry.config.strategy.name;
    const payload: DecisionPayload = {
      context, actions, pmf: d.pmf, scores: d.scores, chosen: d.chosen, probability: d.probability,
      modelVersion: entry.version, strategy,
    };
    const now = Date.now();
    const r = await writer.submit({
      op: 'decision', eventId, model: name, createdAt: now,
      deadlineAt: now + Math.round(entry.config.reward.waitSeconds * 1000), payload: encodeDecisionPayload(payload, requestJson, input.actions !== undefined),
    });
    if (r.problem) throw httpError(r);
    if (!r.inserted) throw new ConflictError(`eventId "${eventId}" is already in use`, { eventId });
    this.models.get(name)?.counters.decided();
    this.metrics.decisions.inc({ model: name, strategy });

    const order = actions.map((_, i) => i).sort((a, b) => (d.pmf[b]! - d.pmf[a]!) || (d.scores[b]! - d.scores[a]!) || a - b);
    return {
      eventId, model: name, action: actions[d.chosen]!.id, probability: d.probability,
      ranking: order.map((i) => ({ id: actions[i]!.id, probability: d.pmf[i]! })),
      strategy,
    };
  }

  // ---- imported logs ----

  /**
   * Logs events decided elsewhere (DSJSON import) as this model's decisions, all or none,
   * and learns the rewarded ones in order once durable, as if they had been decided here.
   */
  async importEvents(name: string, events: readonly { eventId: string; createdAt: number; payload: DecisionPayload; reward: number | null }[]): Promise<{ imported: number; learned: number }> {
    const writer = this.writer;
    this.entry(name);
    const r = await writer.submit({
      op: 'import', model: name, now: Date.now(),
      events: events.map((e) => ({ eventId: e.eventId, createdAt: e.createdAt, payload: encodeDecisionPayload(e.payload), reward: e.reward })),
    }, (r) => this.applyEffects(r));
    if (r.problem) throw httpError(r);
    return r.body as { imported: number; learned: number };
  }

  // ---- rewards ----

  /**
   * Applies rewards independently, in order: all are handed to the writer at once, which commits them with
   * whatever else is queued in groups (src/store/group-commit.ts); other kinds go to `feedback`.
   */
  async reward(items: readonly RewardItem[], feedback: (kind: string, item: RewardItem) => Promise<RewardResult>): Promise<RewardResult[]> {
    const writer = this.writer;
    const now = Date.now();
    const done = await Promise.all(items.map((item) => writer.submit({
      op: 'reward', eventId: item.eventId, now,
      ...(item.reward !== undefined ? { reward: item.reward } : {}), ...(item.label !== undefined ? { label: item.label } : {}),
    }, (r) => this.applyEffects(r))));
    const results: RewardResult[] = [];
    for (const [i, r] of done.entries()) {
      if (r.dispatch !== undefined) results.push(await feedback(r.dispatch, items[i]!));
      else if (r.problem) results.push({ status: r.problem.status, body: httpError(r).toProblem() });
      else results.push({ status: r.status ?? 200, body: r.body ?? {} });
    }
    return results;
  }

  /** Folds a committed op's rewards into memory and metrics. Never throws: the op is durable, its caller gets its answer. */
  private applyEffects(r: OpResult): void {
    if (r.counted) {
      this.models.get(r.counted.model)?.counters.rewarded();
      this.metrics.rewards.inc({ model: r.counted.model });
      this.metrics.rewardSum.inc({ model: r.counted.model }, r.counted.reward);
    }
    for (const l of r.learns ?? []) {
      if (l.source === 'default') this.metrics.defaultRewards.inc({ model: l.model });
      this.models.get(l.model)?.counters.closed(l);
      this.learn(l);
    }
  }

  /** Folds one logged reward into the live model, unless that model's state already starts after it. */
  private learn(l: Learn): void {
    const entry = this.models.get(l.model);
    if (!entry || l.seq <= entry.lastSeq) return;
    const end = this.metrics.updateDuration.startTimer({ model: l.model });
    const ok = this.fold(entry, l.seq, l.eventId, l.payload, l.reward);
    end();
    if (ok) this.metrics.updates.inc({ model: l.model });
  }

  /**
   * Learns one row of the reward log; live and replay both come here, so they treat a failing row alike. A
   * learning step that throws (after the commit: the reward stands) is logged with its event id and counted,
   * and the model moves past it: `lastSeq` advances, later rows are learned, and replay of the same log meets
   * the same failure and does the same, so the model stays the one the log rebuilds (the engine is
   * deterministic given its state and the event). False when the step failed.
   */
  private fold(entry: ModelEntry, seq: number, eventId: string, payload: StoredPayload, reward: number): boolean {
    let ok = true;
    try {
      const p = decodeDecisionPayload(payload);
      entry.bandit.learn({ context: p.context, actions: p.actions, chosen: p.chosen, probability: p.probability, reward, eventId });
    } catch (err) {
      ok = false;
      this.metrics.learningErrors.inc({ model: entry.name });
      this.logger.error({ err, model: entry.name, eventId, seq }, 'learning from a logged reward failed; the reward stands and the model moves past it (replay does the same)');
    }
    entry.lastSeq = seq;
    return ok;
  }

  // ---- background work ----

  /**
   * Applies the default (or summed) reward to every event past its deadline, in batches of SWEEP_BATCH
   * closed on the writer thread (window-closer.ts) and learned here in reward-log order, one batch after
   * another until none is left. Between batches the event loop serves requests. `now`: a fixed clock (tests).
   */
  async sweep(now?: number): Promise<number> {
    if (!this.isReady || this.sweeping) return 0;
    this.sweeping = true;
    let closed = 0;
    try {
      for (;;) {
        const r = await this.writer.submit({ op: 'sweep', now: now ?? Date.now(), limit: SWEEP_BATCH }, (r) => this.applyEffects(r));
        const n = r.learns?.length ?? 0;
        closed += n;
        if (n < SWEEP_BATCH || !this.isReady) return closed;
      }
    } finally {
      this.sweeping = false;
    }
  }

  /** Log retention's batches (retention.ts) go through the writer like any write. */
  write(op: RetentionOp): Promise<OpResult> {
    return this.writer.submit(op, (r) => {
      for (const [model, removed] of Object.entries(r.retention?.removed ?? {})) this.models.get(model)?.counters.removed(removed);
    });
  }

  /** Snapshots every model whose state moved since its last snapshot. */
  async snapshot(): Promise<void> {
    if (!this.isReady) return;
    const [op, effect] = this.snapshotOp(false);
    if (op.op === 'snapshot' && op.items.length === 0) return;
    await this.writer.submit(op, effect);
  }

  private snapshotOp(force: boolean): [WriteOp, () => void] {
    const items = [];
    const taken: { entry: ModelEntry; seq: number }[] = [];
    for (const entry of this.models.values()) {
      if (!force && entry.lastSeq === entry.snapshotSeq) continue;
      const end = this.metrics.snapshotDuration.startTimer({ model: entry.name });
      items.push({ name: entry.name, version: entry.version, seq: entry.lastSeq, state: entry.bandit.snapshot() });
      end();
      taken.push({ entry, seq: entry.lastSeq });
    }
    const effect = () => { for (const t of taken) t.entry.snapshotSeq = Math.max(t.entry.snapshotSeq, t.seq); };
    return [{ op: 'snapshot', items, now: Date.now() }, effect];
  }
}

const PROBLEM_TYPES: Record<number, (detail: string, extra: Record<string, unknown>) => HttpError> = {
  400: (d, x) => new ValidationError(d, (x.errors as FieldError[] | undefined) ?? []),
  404: (d) => new NotFoundError(d),
  409: (d, x) => new ConflictError(d, x),
  410: (d, x) => new GoneError(d, x),
};

/** The HttpError for a problem the writer decided. */
function httpError(r: OpResult): HttpError {
  const p = r.problem!;
  const make = PROBLEM_TYPES[p.status];
  return make ? make(p.detail, p.extra ?? {}) : new HttpError(p.status, '/problems/internal', 'Error', p.detail, p.extra ?? {});
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
