import { performance } from 'node:perf_hooks';
import type { Statement } from 'better-sqlite3';
import type { Config } from '../platform/config.js';
import { parseDuration } from '../platform/duration.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { Db } from '../store/database.js';
import type { ModelConfig } from './model-config.js';

/**
 * Log retention: decision events older than their model's `log.retention` (else FOCAL_LOG_RETENTION) are deleted
 * with their reward rows, in small batches, on the decisions writer thread: each batch is one op of a group
 * commit, so decisions and rewards keep committing between batches. Never deleted:
 *
 * - an event whose reward window is open (closed = 0): a reward may still arrive;
 * - an event with a learned reward that the model's current snapshot has not folded in (reward seq > the
 *   snapshot's reward_seq): a restart replays it. Such a batch reports `needsSnapshot`; the pass snapshots
 *   the models and goes on, so the deleted rewards are folded into the state a restart loads.
 *
 * After each batch, incremental vacuum hands up to `vacuumPages` free pages back to the file system.
 * Image events (kind 'image') are the images capability's and are not touched. The per-minute time series
 * (timeseries.ts) is pruned to the same retention, by minute.
 */

export interface RetentionOp {
  op: 'retention';
  now: number;
  defaultRetentionMs: number;
  /** Most events deleted by this op. */
  batch: number;
  /** Only this model's events, every one logged before `before` (a purge: DELETE of Personalizer's logs); same guards. */
  only?: { model: string; before: number };
  vacuumPages: number;
  /** PostgreSQL: a reward row received less than this long ago stays (pg-retention.ts: a replica behind the log has not read it yet). */
  replicaMarginMs?: number;
}

/** What deleted events took out of a model's statistics (the counts of GET /models/{name} cover the events kept). */
export interface RemovedStats {
  decisions: number;
  rewardedEvents: number;
  rewardTotal: number;
  clientRewards: number;
  defaultRewards: number;
  /** Apprentice-mode decisions deleted, and of them those the model's own draw matched (stats.apprentice). */
  apprentice?: { events: number; imitated: number };
}

export interface RetentionResult {
  deleted: Record<string, number>;
  removed: Record<string, RemovedStats>;
  /** Some old events wait for a snapshot (their rewards are not in one yet). */
  needsSnapshot: boolean;
  /** The batch filled up: there may be more to delete. */
  more: boolean;
  vacuumedPages: number;
  /** Time the batch held the writer (its own work, not the queueing before it). */
  ms: number;
}

/** Rows looked at per deleted row at most, so that a head of kept events (open windows) bounds the work of a batch. */
export const SCAN_FACTOR = 4;

/** A model's retention in milliseconds. */
export function retentionMs(config: Pick<ModelConfig, 'log'> | undefined, defaultMs: number): number {
  const given = config?.log?.retention;
  return (given !== undefined ? parseDuration(given) : undefined) ?? defaultMs;
}

/** Runs on the connection of the decisions writer (src/decisions/write-executor.ts). */
export class RetentionStep {
  private readonly s: Record<string, Statement>;

  constructor(private readonly db: Db) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      models: p(`SELECT m.name AS name, m.config AS config, m.created_at AS createdAt, s.reward_seq AS snapshotSeq FROM models m
        LEFT JOIN snapshots s ON s.model = m.name AND s.version = m.version WHERE m.kind = 'bandit'`),
      orphans: p(`SELECT model FROM log_stats WHERE events > 0 AND model NOT IN (SELECT name FROM models)`),
      head: p(`SELECT seq, event_id, created_at, closed, reward, imitated FROM events WHERE model = ? AND kind = 'decision' ORDER BY seq LIMIT ?`),
      rewards: p('SELECT seq, learn, source, received_at FROM rewards WHERE event_id = ?'),
      deleteRewards: p('DELETE FROM rewards WHERE event_id = ?'),
      deleteEvent: p('DELETE FROM events WHERE seq = ?'),
      // The per-minute time series (migration 130) is kept as long as the events: a range delete of its primary key.
      pruneTimeseries: p('DELETE FROM timeseries WHERE model = ? AND minute < ?'),
    };
  }

  run(op: RetentionOp): RetentionResult {
    const began = performance.now();
    const result: RetentionResult = { deleted: {}, removed: {}, needsSnapshot: false, more: false, vacuumedPages: 0, ms: 0 };
    let budget = op.batch;
    const targets = retentionTargets(this.s.models!.all() as RetentionModel[], op.only ? [] : (this.s.orphans!.all() as { model: string }[]).map((o) => o.model), op);
    for (const t of targets) this.s.pruneTimeseries!.run(t.model, Math.floor(t.cutoff / 60_000) * 60_000);
    for (const t of targets) {
      if (budget <= 0) break;
      const rows = this.s.head!.all(t.model, budget * SCAN_FACTOR) as RetentionRow[];
      let deleted = 0;
      const removed = noneRemoved();
      for (const row of rows) {
        if (row.created_at >= t.cutoff || deleted >= budget) break;
        const rewards = row.closed === 0 ? [] : this.s.rewards!.all(row.event_id) as RetentionReward[];
        const verdict = judgeRetention(row, rewards, t);
        if (verdict === 'snapshot') result.needsSnapshot = true;
        if (verdict !== 'delete') continue;
        this.s.deleteRewards!.run(row.event_id);
        this.s.deleteEvent!.run(row.seq);
        deleted++;
        countRemoved(removed, row, rewards, t);
      }
      recordDeleted(result, t, deleted, removed);
      budget -= deleted;
    }
    if (budget <= 0) result.more = true;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    if (free > 0 && op.vacuumPages > 0 && this.db.pragma('auto_vacuum', { simple: true }) === 2) {
      const pages = Math.min(free, op.vacuumPages);
      this.db.pragma(`incremental_vacuum(${pages})`);
      result.vacuumedPages = pages;
      if (free > pages) result.more = true;
    }
    result.ms = performance.now() - began;
    return result;
  }
}

// ---- the rules, shared by both dialects (SQLite: RetentionStep; PostgreSQL: pg-retention.ts) ----

/** A bandit model as retention reads it: its config and the reward seq its current version's snapshot reaches (null: none). */
export interface RetentionModel {
  name: string;
  config: string;
  createdAt: number;
  snapshotSeq: number | null;
}

/** One model's events to look at: those logged before `cutoff`; rewards past `snapshotSeq` are not in a snapshot yet. */
export interface RetentionTarget {
  model: string;
  cutoff: number;
  snapshotSeq: number;
  /** The model's creation: what was logged before it is not in its statistics. */
  since: number;
}

export interface RetentionRow {
  seq: number;
  event_id: string;
  created_at: number;
  closed: number;
  reward: number | null;
  imitated: number | null;
}

export interface RetentionReward {
  seq: number;
  learn: number;
  source: string;
  received_at: number;
}

/** The models an op looks at, each with its cutoff; events of deleted models (`orphans`) go after the default retention. */
export function retentionTargets(models: readonly RetentionModel[], orphans: readonly string[], op: RetentionOp): RetentionTarget[] {
  // No snapshot of the current version: a restart replays the whole log, so no learned reward may go.
  let targets = models.map((m) => ({ model: m.name, cutoff: op.now - retentionMs(JSON.parse(m.config) as ModelConfig, op.defaultRetentionMs), snapshotSeq: m.snapshotSeq ?? 0, since: m.createdAt }));
  if (op.only) {
    const { model, before } = op.only;
    targets = targets.filter((t) => t.model === model).map((t) => ({ ...t, cutoff: before }));
  }
  // Events of deleted models: nothing replays them, no statistics count them.
  for (const model of orphans) targets.push({ model, cutoff: op.now - op.defaultRetentionMs, snapshotSeq: Number.MAX_SAFE_INTEGER, since: Number.MAX_SAFE_INTEGER });
  return targets;
}

/** Whether an event older than its cutoff goes: never an open window, nor one whose learned reward no snapshot holds yet. */
export function judgeRetention(row: RetentionRow, rewards: readonly RetentionReward[], t: RetentionTarget): 'open' | 'snapshot' | 'delete' {
  if (row.closed === 0) return 'open';
  if (rewards.some((r) => r.learn === 1 && r.seq > t.snapshotSeq)) return 'snapshot';
  return 'delete';
}

export function noneRemoved(): RemovedStats {
  return { decisions: 0, rewardedEvents: 0, rewardTotal: 0, clientRewards: 0, defaultRewards: 0 };
}

/** Takes a deleted event out of the figures DecisionStore.stats counts (events since the model was created, rewards received since). */
export function countRemoved(removed: RemovedStats, row: RetentionRow, rewards: readonly RetentionReward[], t: RetentionTarget): void {
  if (row.created_at >= t.since) {
    removed.decisions++;
    if (row.imitated !== null) {
      removed.apprentice ??= { events: 0, imitated: 0 };
      removed.apprentice.events++;
      removed.apprentice.imitated += row.imitated;
    }
    if (row.reward !== null) {
      removed.rewardedEvents++;
      removed.rewardTotal += row.reward;
    }
  }
  for (const r of rewards) {
    if (r.received_at < t.since) continue;
    if (r.source === 'client') removed.clientRewards++;
    else if (r.source === 'default') removed.defaultRewards++;
  }
}

export function recordDeleted(result: RetentionResult, t: RetentionTarget, deleted: number, removed: RemovedStats): void {
  if (deleted === 0) return;
  result.deleted[t.model] = deleted;
  if (t.since !== Number.MAX_SAFE_INTEGER) result.removed[t.model] = removed;
}

// ---- main thread ----

/** What the retention loop needs of the decisions service. */
export interface RetentionHost {
  readonly isReady: boolean;
  /** Whether the periodic passes run here (replicas on PostgreSQL: only on the sweep-lock holder); a purge runs anywhere. */
  readonly leads: boolean;
  write(op: RetentionOp): Promise<{ retention?: RetentionResult }>;
  snapshot(): Promise<void>;
}

export interface RetentionOptions {
  /** How often a pass starts (default 60 s). */
  intervalMs?: number;
  /** Events deleted per batch (one writer op); default 100. */
  batch?: number;
  /** Free pages handed back per batch; default 64 (256 kB at 4 kB pages). */
  vacuumPages?: number;
  /** Replicas on PostgreSQL: how long a reward row stays after it was received, so a replica behind the log still reads it (default 60 s). */
  replicaMarginMs?: number;
  /**
   * Pause between batches: at least this (default 10 ms), and at least `dutyFactor` times as long as the batch
   * took (default 4: retention holds the writer at most a fifth of the time), so a backlog is deleted at a pace
   * that leaves the writer to decisions; steady state only has to keep up with the rate events are logged at.
   */
  pauseMs?: number;
  dutyFactor?: number;
}

export class LogRetention {
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly deletedTotal;
  private readonly batch: number;
  private readonly vacuumPages: number;

  constructor(
    private readonly host: RetentionHost,
    private readonly config: Pick<Config, 'logRetentionMs'>,
    private readonly logger: Logger,
    metrics: Metrics,
    private readonly options: RetentionOptions = {},
  ) {
    this.batch = options.batch ?? 100;
    this.vacuumPages = options.vacuumPages ?? 64;
    this.deletedTotal = metrics.counter('focal_log_events_deleted_total', 'Logged events deleted by retention, by model.', ['model']);
  }

  /** A pass is running. */
  get busy(): boolean {
    return this.running;
  }

  start(): void {
    this.timer = setInterval(() => {
      if (!this.host.leads) return;
      this.pass().catch((err: unknown) => { this.logger.error({ err }, 'log retention pass failed'); });
    }, this.options.intervalMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Deletes what is due, batch by batch, until nothing more is; resolves with the number of events deleted.
   * Yields to the event loop between batches: each batch waits for its group commit like any write.
   */
  async pass(now = Date.now(), only?: RetentionOp['only']): Promise<number> {
    if (this.running || !this.host.isReady) return 0;
    this.running = true;
    let total = 0;
    let snapshotted = false;
    try {
      for (;;) {
        if (!this.host.isReady) break;
        const r = (await this.host.write({ op: 'retention', now, defaultRetentionMs: this.config.logRetentionMs, batch: this.batch, vacuumPages: this.vacuumPages,
          ...(this.options.replicaMarginMs !== undefined ? { replicaMarginMs: this.options.replicaMarginMs } : {}), ...(only ? { only } : {}) })).retention;
        if (!r) break;
        let deleted = 0;
        for (const [model, n] of Object.entries(r.deleted)) {
          this.deletedTotal.inc({ model }, n);
          deleted += n;
        }
        total += deleted;
        if (r.needsSnapshot && !snapshotted) {
          // Fold what the old events' rewards taught into a snapshot, then they can go.
          await this.host.snapshot();
          snapshotted = true;
          continue;
        }
        if (!r.more || (deleted === 0 && r.vacuumedPages === 0) || !this.host.isReady) break;
        const pause = Math.max(this.options.pauseMs ?? 10, (this.options.dutyFactor ?? 4) * r.ms);
        await new Promise((resolve) => setTimeout(resolve, pause));
        if (!this.host.isReady) break;
      }
    } finally {
      this.running = false;
    }
    if (total > 0) this.logger.debug({ deleted: total }, 'log retention: events deleted');
    return total;
  }
}

/**
 * Deletes every event of `model` logged before `now` that retention may delete (not an open window; rewards
 * already in a snapshot, taking one if needed), after any pass in progress; the number deleted.
 */
export async function purgeLog(retention: LogRetention, model: string, now = Date.now()): Promise<number> {
  while (retention.busy) await new Promise((resolve) => setTimeout(resolve, 10));
  return retention.pass(now, { model, before: now + 1 });
}

// ---- statistics ----

export interface LogStats {
  /** Events of this model in the log. */
  events: number;
  /** Bytes of their stored payloads and ids (compressed as stored; pages and indexes not counted). */
  bytes: number;
  /** When the oldest of them was logged (null: none). */
  oldest: string | null;
  /** The retention in force for this model. */
  retention: string;
}

const statements = new WeakMap<Db, { stats: Statement; oldest: Statement; all: Statement }>();

function prepared(db: Db) {
  let s = statements.get(db);
  if (!s) {
    s = {
      stats: db.prepare('SELECT events, bytes FROM log_stats WHERE model = ?'),
      // The (model) index is ordered by seq: one probe, not a scan.
      oldest: db.prepare('SELECT created_at FROM events WHERE model = ? ORDER BY seq LIMIT 1'),
      all: db.prepare('SELECT model, events, bytes FROM log_stats WHERE events > 0'),
    };
    statements.set(db, s);
  }
  return s;
}

/** A model's log as counted (events, bytes) with its oldest event's time (ms; undefined: none). */
export interface LogCount {
  events: number;
  bytes: number;
  oldest?: number;
}

/** `stats.log` of GET /models/{name} from its counts (SQLite: logCount; PostgreSQL: PgDecisionStore.logCounts). */
export function logStatsOf(count: LogCount | undefined, config: ModelConfig, defaultRetentionMs: number): LogStats {
  return {
    events: count?.events ?? 0,
    bytes: count?.bytes ?? 0,
    oldest: count?.oldest !== undefined ? new Date(count.oldest).toISOString() : null,
    retention: config.log?.retention ?? formatDuration(defaultRetentionMs),
  };
}

/** A model's log in the SQLite database: counters kept by triggers (migration 191) and one index probe. */
export function logCount(db: Db, model: string): LogCount {
  const s = prepared(db);
  const row = s.stats.get(model) as { events: number; bytes: number } | undefined;
  const oldest = (s.oldest.get(model) as { created_at: number } | undefined)?.created_at;
  return { events: row?.events ?? 0, bytes: row?.bytes ?? 0, ...(oldest !== undefined ? { oldest } : {}) };
}

/** The largest whole unit: 2592000000 → "30d". */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}

/** Every model's log counts in the SQLite database (the gauges' source without FOCAL_DATABASE_URL). */
export function logCounts(db: Db): Map<string, LogCount> {
  const out = new Map<string, LogCount>();
  if (!db.open) return out;
  for (const r of prepared(db).all.all() as { model: string; events: number; bytes: number }[]) {
    const oldest = (prepared(db).oldest.get(r.model) as { created_at: number } | undefined)?.created_at;
    out.set(r.model, { events: r.events, bytes: r.bytes, ...(oldest !== undefined ? { oldest } : {}) });
  }
  return out;
}

/** Prometheus gauges of the log's size, read at scrape time from `counts` (the counters, not the events). */
export function registerLogMetrics(counts: () => Map<string, LogCount>, metrics: Metrics): void {
  metrics.gauge('focal_log_events', 'Logged events kept, by model.', ['model'], function collect() {
    this.reset();
    for (const [model, c] of counts()) if (c.events > 0) this.set({ model }, c.events);
  });
  metrics.gauge('focal_log_bytes', 'Bytes of the logged events\' stored payloads and ids, by model.', ['model'], function collect() {
    this.reset();
    for (const [model, c] of counts()) if (c.events > 0) this.set({ model }, c.bytes);
  });
  metrics.gauge('focal_log_oldest_event_age_seconds', 'Age of the oldest logged event, by model.', ['model'], function collect() {
    this.reset();
    const now = Date.now();
    for (const [model, c] of counts()) if (c.events > 0 && c.oldest !== undefined) this.set({ model }, (now - c.oldest) / 1000);
  });
}
