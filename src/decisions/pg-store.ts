import type { PgClient, PgPool } from '../store/postgres.js';
import { BROWSED_COLUMNS, type BrowsedRow, type ExportRow, type ModelRow, type ModelStats, type RewardedRow, type RewardSource, type SnapshotRow } from './decision-store.js';
import type { LogCount } from './retention.js';

/** One learned or recorded row of the shared reward log, with its decision's payload, as a follower reads it. */
export interface LogRow {
  seq: number;
  eventId: string;
  model: string;
  reward: number;
  source: RewardSource;
  learn: number;
  payload: string;
  receivedAt: number;
}

/**
 * The reads of the decisions slice on PostgreSQL (FOCAL_DATABASE_URL): models, snapshots, the reward log in seq
 * order and the statistics, the same queries as DecisionStore's in this dialect. The writes are pg-writer.ts's.
 */
export class PgDecisionStore {
  /** Every model's log counts as last read (refreshLogCounts, on the follower's tick): GET /models/{name} reads no table. */
  logCounts = new Map<string, LogCount>();

  constructor(private readonly pool: PgPool) {}

  async models(): Promise<ModelRow[]> {
    return (await this.pool.query<ModelRow>(`SELECT name, config, version, created_at, updated_at FROM models WHERE kind = 'bandit' ORDER BY name`)).rows;
  }

  async snapshot(model: string, version: number): Promise<SnapshotRow | undefined> {
    return (await this.pool.query<SnapshotRow>('SELECT version, reward_seq, state FROM snapshots WHERE model = $1 AND version = $2', [model, version])).rows[0];
  }

  async maxRewardSeq(): Promise<number> {
    return (await this.pool.query<{ seq: number }>('SELECT COALESCE(MAX(seq), 0)::bigint AS seq FROM rewards')).rows[0]!.seq;
  }

  /** Rows of the log after `afterSeq` (all models; of one model if given), up to `limit`, in seq order. */
  async log(afterSeq: number, limit: number, model?: string, upToSeq?: number): Promise<LogRow[]> {
    return (await this.pool.query<LogRow>(`SELECT r.seq, r.event_id AS "eventId", r.model, r.reward, r.source, r.learn, e.payload, r.received_at AS "receivedAt"
      FROM rewards r JOIN events e ON e.event_id = r.event_id
      WHERE r.seq > $1 AND ($3::text IS NULL OR r.model = $3) AND ($4::bigint IS NULL OR r.seq <= $4) ORDER BY r.seq LIMIT $2`,
    [afterSeq, limit, model ?? null, upToSeq ?? null])).rows;
  }

  /** The head of the log: its highest seq and when the oldest row after `afterSeq` was received (null if none). */
  async head(afterSeq: number): Promise<{ seq: number; oldestAfter: number | null }> {
    const r = (await this.pool.query<{ seq: number; oldest: number | null }>(`SELECT COALESCE(MAX(seq), 0)::bigint AS seq,
      (SELECT received_at FROM rewards WHERE seq > $1 ORDER BY seq LIMIT 1) AS oldest FROM rewards`, [afterSeq])).rows[0]!;
    return { seq: r.seq, oldestAfter: r.oldest };
  }

  /** The same figures as DecisionStore.stats, from the shared tables. */
  stats(model: string, since: number): Promise<ModelStats> {
    return pgModelStats(this.pool, model, since);
  }

  /** DecisionStore.exportPage on the shared log: decisions of every replica. */
  async exportPage(model: string, from: number, to: number, afterSeq: number, limit: number): Promise<ExportRow[]> {
    return (await this.pool.query<ExportRow>(`SELECT seq, event_id, created_at, payload, reward, closed, closed_reason, hold FROM events
      WHERE model = $1 AND kind = 'decision' AND created_at >= $2 AND created_at < $3 AND seq > $4 ORDER BY seq LIMIT $5`, [model, from, to, afterSeq, limit])).rows;
  }

  /**
   * Reads every model's log counts: the sums of log_stats's delta rows (migration 102: one row per statement that
   * inserted or deleted events, compacted by retention) and the oldest event by the (model, created_at) index.
   */
  async refreshLogCounts(): Promise<void> {
    const rows = (await this.pool.query<{ model: string; events: number; bytes: number; oldest: number | null }>(`SELECT s.model, s.events, s.bytes,
        (SELECT MIN(created_at) FROM events e WHERE e.model = s.model) AS oldest
      FROM (SELECT model, SUM(events)::bigint AS events, SUM(bytes)::bigint AS bytes FROM log_stats GROUP BY model) s`)).rows;
    this.logCounts = new Map(rows.map((r) => [r.model, { events: r.events, bytes: r.bytes, ...(r.oldest !== null ? { oldest: r.oldest } : {}) }]));
  }

  /** DecisionStore.rewardedBefore on the shared log (the rewards_model_seq index, walked backwards). */
  async rewardedBefore(model: string, beforeSeq: number, limit: number): Promise<RewardedRow[]> {
    return (await this.pool.query<RewardedRow>(`SELECT r.seq, r.event_id, e.payload, r.reward FROM rewards r JOIN events e ON e.event_id = r.event_id
      WHERE r.model = $1 AND r.learn = 1 AND r.seq < $2 AND e.kind = 'decision' ORDER BY r.seq DESC LIMIT $3`, [model, beforeSeq, limit])).rows;
  }

  /** DecisionStore.decisionsBefore on the shared log (the primary key, walked backwards, filtered by model). */
  async decisionsBefore(model: string, beforeSeq: number, limit: number): Promise<BrowsedRow[]> {
    return (await this.pool.query<BrowsedRow>(`SELECT ${BROWSED_COLUMNS} FROM events WHERE model = $1 AND kind = 'decision' AND seq < $2 ORDER BY seq DESC LIMIT $3`,
      [model, beforeSeq, limit])).rows;
  }

  async findLogged(eventId: string): Promise<BrowsedRow | undefined> {
    return (await this.pool.query<BrowsedRow>(`SELECT ${BROWSED_COLUMNS} FROM events WHERE event_id = $1`, [eventId])).rows[0];
  }
}

/** DecisionStore.stats's figures from the shared tables (`on`: the pool, or a transaction's connection). */
export async function pgModelStats(on: PgPool | PgClient, model: string, since: number): Promise<ModelStats> {
  const e = (await on.query<Omit<ModelStats, 'clientRewards' | 'defaultRewards'>>(`SELECT COUNT(*)::bigint AS decisions,
    COALESCE(SUM((closed = 0)::int), 0)::bigint AS pending,
    COALESCE(SUM((reward IS NOT NULL AND closed = 1)::int), 0)::bigint AS "rewardedEvents",
    COALESCE(SUM(CASE WHEN closed = 1 THEN reward END), 0)::float8 AS "rewardTotal"
    FROM events WHERE model = $1 AND kind = 'decision' AND created_at >= $2`, [model, since])).rows[0]!;
  const r = (await on.query<Pick<ModelStats, 'clientRewards' | 'defaultRewards'>>(`SELECT COALESCE(SUM((source = 'client')::int), 0)::bigint AS "clientRewards",
    COALESCE(SUM((source = 'default')::int), 0)::bigint AS "defaultRewards" FROM rewards WHERE model = $1 AND received_at >= $2`, [model, since])).rows[0]!;
  return { ...e, ...r };
}
