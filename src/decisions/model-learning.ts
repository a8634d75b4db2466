import { SnapshotFormatError, type BanditModel } from '../bandit/index.js';
import type { Logger } from '../platform/logger.js';
import type { Db } from '../store/database.js';
import type { StoredPayload } from '../store/payload-codec.js';
import type { DecisionMetrics } from './decision-metrics.js';
import { decodeDecisionPayload, type DecisionStore, type ModelRow, type ModelStats, type SnapshotRow } from './decision-store.js';
import type { LogRow, PgDecisionStore } from './pg-store.js';
import type { ModelConfig } from './model-config.js';
import { ModelCounters } from './model-counters.js';
import { DEFAULT_MODEL, type ModelEntry, type ModelRegistry } from './model-registry.js';
import type { Learn, OpResult } from './op-result.js';

/**
 * How a model's learned state moves: only by folding rows of the reward log, in `rewards.seq` order, through
 * `fold`. Live learning (a committed op's effects) and start-up replay (snapshot + the rows after it) both
 * come here, which is what makes replay equal live.
 */
export class ModelLearning {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly store: DecisionStore,
    private readonly db: Db,
    private readonly metrics: DecisionMetrics,
    private readonly logger: Logger,
    /** PostgreSQL: learning comes from the log follower only. */
    private readonly followsLog = false,
  ) {}

  /** Loads every model (latest snapshot + replay of the rewards after it) and creates `default` if missing. */
  restore(): void {
    for (const row of this.store.models()) {
      const entry = this.entryFrom(row, this.store.snapshot(row.name, row.version), this.store.stats(row.name, row.created_at), this.store.apprenticeStats(row.name, row.created_at));
      this.replayInto(entry, this.store.replay(row.name, entry.lastSeq));
    }
    if (!this.registry.has(DEFAULT_MODEL)) {
      const config = this.registry.resolve({});
      const bandit = this.registry.build(config);
      const now = Date.now();
      const entry: ModelEntry = {
        name: DEFAULT_MODEL, config, version: 1, createdAt: now, updatedAt: now, bandit, lastSeq: 0, snapshotSeq: 0, counters: new ModelCounters(),
      };
      this.db.transaction(() => {
        entry.lastSeq = entry.snapshotSeq = this.store.maxRewardSeq();
        this.store.insertModel(DEFAULT_MODEL, JSON.stringify(config), 1, now);
        this.store.writeSnapshot(DEFAULT_MODEL, 1, entry.lastSeq, bandit.snapshot(), now);
      })();
      this.registry.set(entry);
    }
  }

  /** A model's entry from its stored row and the snapshot of its current version (none: fresh state from seq 0). */
  private entryFrom(row: ModelRow, snapshot: SnapshotRow | undefined, stats: ModelStats, apprentice?: { events: number; imitated: number }): ModelEntry {
    const config = JSON.parse(row.config) as ModelConfig;
    let snap = snapshot;
    if (!snap) this.logger.warn({ model: row.name, version: row.version }, 'no snapshot for the current version: replaying the whole reward log');
    let bandit: BanditModel;
    try {
      bandit = this.registry.build(config, snap ? new Uint8Array(snap.state) : undefined);
    } catch (err) {
      // A snapshot this version cannot read (a learner whose state format changed, e.g. bayes-linear's
      // per-action posteriors) is rebuilt from the events still in the log rather than stopping start-up.
      if (!(err instanceof SnapshotFormatError)) throw err;
      this.logger.warn({ model: row.name, version: row.version, err: err.message }, 'snapshot in an older format: rebuilding the model from the events kept in the log');
      snap = undefined;
      bandit = this.registry.build(config);
    }
    return {
      name: row.name, config, version: row.version, createdAt: row.created_at, updatedAt: row.updated_at,
      bandit, lastSeq: snap?.reward_seq ?? 0, snapshotSeq: snap?.reward_seq ?? 0, counters: ModelCounters.from(stats, apprentice),
    };
  }

  /** Replays logged rewards (after the entry's snapshot, in seq order) into the entry, then publishes it. */
  private replayInto(entry: ModelEntry, rows: Iterable<{ seq: number; eventId: string; payload: StoredPayload; reward: number }>): void {
    let replayed = 0;
    let failed = 0;
    for (const r of rows) {
      if (r.seq <= entry.lastSeq) continue;
      if (!this.fold(entry, r.seq, r.eventId, r.payload, r.reward)) failed++;
      replayed++;
    }
    this.registry.set(entry);
    this.logger.info({ model: entry.name, version: entry.version, snapshotSeq: entry.snapshotSeq, replayed, failed, updates: entry.bandit.updates }, 'bandit model loaded');
  }

  // ---- PostgreSQL (replicas): the shared log is followed, and only the follower folds ----

  /**
   * Loads the models stored in PostgreSQL (snapshot + the model's learned rows up to `upToSeq`, the follower's
   * position) whose version differs from memory, and drops the ones deleted there: PUT and DELETE on any
   * replica reach this one. `default` is created if missing.
   */
  async syncFromPg(store: PgDecisionStore, upToSeq: number): Promise<void> {
    // The entries as they were before the rows were read: one this replica creates meanwhile is not in the rows.
    const before = new Map([...this.registry.all()].map((e) => [e.name, e]));
    const rows = await store.models();
    for (const row of rows) {
      const current = this.registry.get(row.name);
      if (current?.version === row.version) continue;
      const [snap, stats] = await Promise.all([store.snapshot(row.name, row.version), store.stats(row.name, row.created_at)]);
      const entry = this.entryFrom(row, snap, stats);
      const replay: { seq: number; eventId: string; payload: StoredPayload; reward: number }[] = [];
      for (let after = entry.lastSeq; ;) {
        const page = await store.log(after, 5000, row.name, upToSeq);
        for (const r of page) if (r.learn) replay.push(r);
        if (page.length < 5000) break;
        after = page.at(-1)!.seq;
      }
      // A local PUT may have published this version while the rows were read: keep the one in memory.
      const now = this.registry.get(row.name);
      if (now?.version === row.version) continue;
      // A local DELETE removed the model while the rows were read (it was here when they were asked for): the rows
      // predate it, so the model is not brought back; a re-creation elsewhere reaches the next sync.
      if (now === undefined && before.has(row.name)) continue;
      this.replayInto(entry, replay);
    }
    const stored = new Set(rows.map((r) => r.name));
    for (const e of [...this.registry.all()]) if (!stored.has(e.name) && before.get(e.name) === e) this.registry.remove(e.name);
  }

  /** One row of the shared log, in seq order (log-follower.ts): a learned row is folded into its model. */
  followed(r: LogRow): void {
    if (r.learn) this.learn(r);
  }

  /**
   * The counters of the models as a `counters` op read them from the shared tables (decisions and rewards of every
   * replica), applied in commit order: this replica's writes before the op are in them, the ones after it move them
   * as usual. A model re-created meanwhile (another `createdAt`) keeps its own.
   */
  assignCounters(rows: NonNullable<OpResult['counters']>): void {
    for (const r of rows) {
      const e = this.registry.get(r.model);
      if (e?.createdAt === r.since) Object.assign(e.counters, r.stats);
    }
  }

  /** Folds a committed op's rewards into memory and metrics. Never throws: the op is durable, its caller gets its answer. */
  applyEffects(r: OpResult): void {
    if (r.counted) {
      this.registry.get(r.counted.model)?.counters.rewarded();
      this.metrics.rewards.inc({ model: r.counted.model });
      this.metrics.rewardSum.inc({ model: r.counted.model }, r.counted.reward);
    }
    for (const l of r.learns ?? []) {
      if (l.source === 'default') this.metrics.defaultRewards.inc({ model: l.model });
      // An activation learns a reward whose event closed (and was counted) before it.
      if (l.source !== 'activated') this.registry.get(l.model)?.counters.closed(l);
      // On PostgreSQL only the log follower folds (in the shared log's order); it has reached this row already.
      if (!l.held && !this.followsLog) this.learn(l);
    }
  }

  /** Folds one logged reward into the live model, unless that model's state already starts after it. */
  private learn(l: Pick<Learn, 'model' | 'seq' | 'eventId' | 'payload' | 'reward'>): void {
    const entry = this.registry.get(l.model);
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
}
