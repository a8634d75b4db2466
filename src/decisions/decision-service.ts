import type { OptimizerStatus } from '../bandit/index.js';
import type { Config } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { Db } from '../store/database.js';
import { decide, type DecideInput, type DecideResult } from './decide.js';
import { decideSlots, type DecideSlotsInput, type DecideSlotsResult } from './slots.js';
import type { DecisionMetrics } from './decision-metrics.js';
import { DecisionStore, encodeDecisionPayload, type BrowsedRow, type DecisionPayload, type ExportRow } from './decision-store.js';
import { DecisionsWriter, httpError } from './decisions-writer.js';
import { ModelAdmin } from './model-admin.js';
import type { ModelConfigInput } from './model-config.js';
import { ModelLearning } from './model-learning.js';
import { ModelRegistry, type BanditEngine } from './model-registry.js';
import { modelView, type ModelView } from './model-view.js';
import { OffPolicyWindow } from './off-policy-window.js';
import type { OpResult } from './op-result.js';
import { logCount, logCounts, type LogCount, type RetentionOp } from './retention.js';
import { submitRewards, type FeedbackDispatch, type RewardItem, type RewardResult } from './reward-intake.js';
import { Snapshots } from './snapshots.js';
import { WindowSweep } from './window-sweep.js';
import { migratePg, openPool, type PgPool } from '../store/postgres.js';
import { LogFollower } from './log-follower.js';
import { PgDecisionStore } from './pg-store.js';
import { ensureModel, PgWriteRunner } from './pg-writer.js';
import { DEFAULT_MODEL } from './model-registry.js';

export type { BanditEngine } from './model-registry.js';
export { DEFAULT_MODEL } from './model-registry.js';
export type { DecideInput, DecideResult } from './decide.js';
export type { DecideSlotsInput, DecideSlotsResult, SlotInput, SlotResult } from './slots.js';
export type { RewardItem, RewardResult } from './reward-intake.js';
export type { ModelView } from './model-view.js';
export { SWEEP_BATCH } from './window-sweep.js';

/**
 * The bandit service, the one entry point of the routes, the evaluation slice and retention. It holds no rules
 * of its own: it wires the parts and forwards to them.
 *
 * - models in memory: model-registry.ts; created, reconfigured, deleted one at a time: model-admin.ts;
 *   shown: model-view.ts (off-policy estimates: off-policy-window.ts)
 * - writes: decisions-writer.ts (main thread: accept or refuse) → write-executor.ts (writer thread, one
 *   transaction per group); the reward log's rules: reward-rules.ts
 * - a decision: decide.ts; rewards: reward-intake.ts; expired windows: window-sweep.ts
 * - learning, live and replayed at start: model-learning.ts; snapshots: snapshots.ts
 */
export class DecisionService {
  readonly store: DecisionStore;
  private readonly registry: ModelRegistry;
  private readonly writer: DecisionsWriter;
  private readonly learning: ModelLearning;
  private readonly estimates: OffPolicyWindow;
  private readonly admin: ModelAdmin;
  private readonly sweeper: WindowSweep;
  private readonly snapshots: Snapshots;
  private readonly effects = (r: OpResult): void => this.learning.applyEffects(r);
  /** With FOCAL_DATABASE_URL: the shared PostgreSQL database and this replica's follower of its reward log. */
  private readonly pg: { pool: PgPool; store: PgDecisionStore; follower: LogFollower; starting?: Promise<void> } | undefined;
  /** What `decide()` needs, built once (the hot path allocates nothing for it). */
  private readonly decideDeps: Parameters<typeof decide>[0];

  constructor(
    private readonly db: Db,
    private readonly config: Config,
    private readonly logger: Logger,
    metrics: DecisionMetrics,
    engine: BanditEngine,
  ) {
    this.store = new DecisionStore(db);
    this.registry = new ModelRegistry(engine);
    this.writer = new DecisionsWriter(db, logger, metrics);
    if (config.databaseUrl) {
      const pool = openPool(config.databaseUrl);
      // An idle connection's error (the server restarted) must not crash the process: the next query reconnects.
      pool.on('error', (err) => logger.warn({ err }, 'PostgreSQL: an idle connection failed'));
      const store = new PgDecisionStore(pool);
      this.learning = new ModelLearning(this.registry, this.store, db, metrics, logger, true);
      this.pg = { pool, store, follower: new LogFollower(config.databaseUrl, store, this.learning, logger, () => this.refreshCounters()) };
    } else {
      this.learning = new ModelLearning(this.registry, this.store, db, metrics, logger);
    }
    const shared = this.pg?.store;
    this.estimates = new OffPolicyWindow(this.store, (records) => engine.offPolicyEstimate(records), logger, (name) => this.registry.get(name),
      shared ? (model, beforeSeq, limit) => shared.rewardedBefore(model, beforeSeq, limit) : undefined);
    this.admin = new ModelAdmin(this.registry, this.writer, config.limits, this.estimates, (e) => modelView(e, this.logCount(e.name), config, this.estimates, this.pg?.follower.lag));
    this.sweeper = new WindowSweep(this.writer, this.effects);
    this.snapshots = new Snapshots(this.registry, this.writer, metrics);
    this.decideDeps = { registry: this.registry, writer: this.writer, limits: config.limits, metrics };
  }

  // ---- lifecycle ----

  /** Loads every model (latest snapshot + replay of the rewards after it), creates `default` if missing, then starts the writer. */
  start(): void {
    if (this.pg) {
      this.pg.starting = this.startReplica(this.pg).catch((err: unknown) => {
        this.logger.fatal({ err }, 'PostgreSQL (FOCAL_DATABASE_URL): start-up failed; this replica stays not ready');
      });
      return;
    }
    this.learning.restore();
    this.writer.start();
  }

  /**
   * A replica starts from the shared database: migrations, `default` created once, every model from its latest
   * snapshot plus the log up to the current head, then the follower; writes are accepted (and /readyz answers
   * 200) once it has caught up.
   */
  private async startReplica(pg: NonNullable<DecisionService['pg']>): Promise<void> {
    await migratePg(pg.pool);
    const config = this.registry.resolve({});
    await ensureModel(pg.pool, DEFAULT_MODEL, JSON.stringify(config), this.registry.build(config).snapshot(), Date.now());
    const position = await pg.store.maxRewardSeq();
    await this.learning.syncFromPg(pg.store, position);
    await pg.store.refreshLogCounts();
    await pg.follower.start(position);
    this.writer.start(new PgWriteRunner(pg.pool, (seq) => pg.follower.applied(seq)));
    this.logger.info({ position, models: this.registry.names().length }, 'replica: caught up with the shared PostgreSQL log');
  }

  get isReady(): boolean {
    return this.writer.isReady && (this.pg?.follower.caughtUp ?? true);
  }

  /** Whether this process runs the shared background work (sweep, log retention): always on SQLite; on PostgreSQL the sweep-lock holder. */
  get leads(): boolean {
    return this.pg ? this.pg.follower.isLeader : true;
  }

  /** The shared PostgreSQL database's pool (FOCAL_DATABASE_URL), for the routes that read the log there. */
  get sharedPool(): PgPool | undefined {
    return this.pg?.pool;
  }

  /** Whether the bandit log is in PostgreSQL (FOCAL_DATABASE_URL). */
  get replicated(): boolean {
    return this.pg !== undefined;
  }

  /** A model's log (events, bytes, oldest): the SQLite counters, or the shared database's as last refreshed (every second). */
  logCount(name: string): LogCount | undefined {
    return this.pg ? this.pg.store.logCounts.get(name) : logCount(this.db, name);
  }

  /** Every model's log counts (the log gauges). */
  logCounts(): Map<string, LogCount> {
    return this.pg ? this.pg.store.logCounts : logCounts(this.db);
  }

  /** Waits for admin operations, commits what is queued, snapshots every model, then stops the writer. */
  async close(): Promise<void> {
    await this.pg?.starting;
    await this.writer.close(() => this.admin.settled(), () => this.snapshots.op(true));
    if (this.pg) {
      await this.pg.follower.close();
      await this.pg.pool.end();
    }
  }

  // ---- models ----

  names(): string[] {
    return this.registry.names();
  }

  /** The model as GET /models/{name} shows it, or a 404. */
  view(name: string): ModelView {
    return modelView(this.registry.entry(name), this.logCount(name), this.config, this.estimates, this.pg?.follower.lag);
  }

  /** `forceReset`: fresh learned state even if the strategy and learner stay; `state`: start from this learned state (an import). */
  put(name: string, input: ModelConfigInput, options: { forceReset?: boolean; state?: Uint8Array } = {}): Promise<ModelView> {
    return this.admin.put(name, input, options);
  }

  /** The model's learned state as a snapshot (what `put(…, { state })` takes back), with the version it belongs to. */
  learnedState(name: string): { version: number; state: Uint8Array } {
    const e = this.registry.entry(name);
    return { version: e.version, state: e.bandit.snapshot() };
  }

  delete(name: string): Promise<ModelView | undefined> {
    return this.admin.delete(name);
  }

  /** Automatic optimization's status by model (strategy auto only), for the optimizer gauges. */
  optimizerByModel(): { model: string; status: OptimizerStatus }[] {
    const out: { model: string; status: OptimizerStatus }[] = [];
    for (const e of this.registry.all()) {
      const status = e.bandit.optimizerStatus?.();
      if (status) out.push({ model: e.name, status });
    }
    return out;
  }

  /** Open windows by model, for the pending-events gauge. */
  pendingByModel(): { model: string; n: number }[] {
    return [...this.registry.all()].map((e) => ({ model: e.name, n: e.counters.pending }));
  }

  // ---- decisions and rewards ----

  /** `requestJson`: the body exactly as received, if it is `input`'s JSON text; it is logged instead of re-serialising. */
  decide(input: DecideInput, requestJson?: string): Promise<DecideResult> {
    return decide(this.decideDeps, input, requestJson);
  }

  /**
   * A multi-slot decision (slots.ts): one distinct action per slot, in order; each slot is logged as the decision
   * `{eventId}#{slot}` and rewarded on its own (`reward` with `slot`).
   */
  decideSlots(input: DecideSlotsInput): Promise<DecideSlotsResult> {
    return decideSlots(this.decideDeps, input);
  }

  /** Applies rewards independently, in order (reward-intake.ts); other kinds of events go to `feedback`. */
  async reward(items: readonly RewardItem[], feedback: FeedbackDispatch): Promise<RewardResult[]> {
    // On PostgreSQL an image event is logged in this replica's own SQLite database only: its id is looked up there.
    const localKind = this.pg ? (id: string) => this.store.findEvent(id)?.kind : undefined;
    return submitRewards(this.writer.accepting(), items, feedback, this.effects, localKind);
  }

  /**
   * Activates a deferred decision (`defer: true`): from now on its rewards are learned, including one that
   * arrived before. A multi-slot decision's id activates every slot. 404 unknown, 409 not deferred (already
   * active, or decided in logging mode), 410 its reward window closed first.
   */
  async activate(eventId: string): Promise<void> {
    const writer = this.writer.accepting();
    const r = await writer.submit({ op: 'activate', eventId, now: Date.now() }, this.effects);
    if (r.problem) throw httpError(r);
    const { model, activated } = r.body as { model: string; activated: number };
    this.decideDeps.metrics.activations.inc({ model }, activated);
  }

  /**
   * Logs events decided elsewhere (DSJSON import) as this model's decisions, all or none,
   * and learns the rewarded ones in order once durable, as if they had been decided here.
   */
  async importEvents(name: string, events: readonly { eventId: string; createdAt: number; payload: DecisionPayload; reward: number | null; skipLearn?: boolean }[]): Promise<{ imported: number; learned: number }> {
    const writer = this.writer.accepting();
    this.registry.entry(name);
    const r = await writer.submit({
      op: 'import', model: name, now: Date.now(),
      events: events.map((e) => ({ eventId: e.eventId, createdAt: e.createdAt, payload: encodeDecisionPayload(e.payload), reward: e.reward, ...(e.skipLearn ? { skipLearn: true } : {}) })),
    }, this.effects);
    if (r.problem) throw httpError(r);
    return r.body as { imported: number; learned: number };
  }

  /** The model's decisions logged before `beforeSeq`, newest first (the decision browser; the shared database's on PostgreSQL). */
  async decisionsBefore(model: string, beforeSeq: number, limit: number): Promise<BrowsedRow[]> {
    return this.pg ? this.pg.store.decisionsBefore(model, beforeSeq, limit) : this.store.decisionsBefore(model, beforeSeq, limit);
  }

  /** One logged event by its id, as the decision browser reads it. */
  async findLogged(eventId: string): Promise<BrowsedRow | undefined> {
    return this.pg ? this.pg.store.findLogged(eventId) : this.store.findLogged(eventId);
  }

  /** A page of the model's logged decisions for an export (the shared database's on PostgreSQL). */
  async exportPage(model: string, from: number, to: number, afterSeq: number, limit: number): Promise<ExportRow[]> {
    return this.pg ? this.pg.store.exportPage(model, from, to, afterSeq, limit) : this.store.exportPage(model, from, to, afterSeq, limit);
  }

  // ---- background work ----

  /** Closes every expired window (window-sweep.ts); the number closed. `now`: a fixed clock (tests). */
  sweep(now?: number): Promise<number> {
    // Replicas: only the holder of the sweep lock sweeps (a reward past its deadline still closes it anywhere).
    if (!this.leads) return Promise.resolve(0);
    return this.sweeper.run(now);
  }

  /**
   * Replicas: every model's counters from the shared tables, read by a `counters` op in the commit order of this
   * replica's writes (pg-writer.ts), so that a write is never counted twice nor lost by a refresh running beside it.
   */
  private async refreshCounters(): Promise<void> {
    if (!this.writer.isReady) return;
    const models = [...this.registry.all()].map((e) => ({ name: e.name, since: e.createdAt }));
    await this.writer.accepting().submit({ op: 'counters', models }, (r) => this.learning.assignCounters(r.counters ?? []));
  }

  /** Snapshots every model whose state moved since its last snapshot. */
  snapshot(): Promise<void> {
    return this.snapshots.take();
  }

  /** Log retention's batches (retention.ts) go through the writer like any write. */
  write(op: RetentionOp): Promise<OpResult> {
    return this.writer.accepting().submit(op, (r) => {
      for (const [model, removed] of Object.entries(r.retention?.removed ?? {})) this.registry.get(model)?.counters.removed(removed);
    });
  }
}
