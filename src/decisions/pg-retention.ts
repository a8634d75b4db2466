import { performance } from 'node:perf_hooks';
import type { PgClient } from '../store/postgres.js';
import {
  countRemoved, judgeRetention, noneRemoved, recordDeleted, retentionTargets, SCAN_FACTOR,
  type RetentionModel, type RetentionOp, type RetentionResult, type RetentionReward, type RetentionRow,
} from './retention.js';

/**
 * How long a reward row stays after it was received even once a snapshot holds it (RetentionOp.replicaMarginMs's
 * default): a replica whose follower is behind the shared log has not read it yet, and a row deleted before it is
 * read would never be learned there.
 */
export const REPLICA_MARGIN_MS = 60_000;

/**
 * One batch of log retention on PostgreSQL (retention.ts's rules: retentionTargets, judgeRetention, countRemoved),
 * in the writer's transaction, which holds the LOG advisory lock: no reward or activation of any replica writes
 * meanwhile. Run by the replica holding the sweep lock (and by a purge on the replica that received it). Also
 * compacts the log counts' and the time series' delta rows (migrations 102, 103). PostgreSQL's autovacuum hands space back: nothing to vacuum.
 */
export async function pgRetention(c: PgClient, op: RetentionOp): Promise<RetentionResult> {
  const began = performance.now();
  const result: RetentionResult = { deleted: {}, removed: {}, needsSnapshot: false, more: false, vacuumedPages: 0, ms: 0 };
  await c.query(`WITH gone AS (DELETE FROM log_stats RETURNING model, events, bytes)
    INSERT INTO log_stats (model, events, bytes) SELECT model, SUM(events), SUM(bytes) FROM gone GROUP BY model HAVING SUM(events) <> 0 OR SUM(bytes) <> 0`);
  // The time series' delta rows (migration 103): one row per model and minute again.
  await c.query(`WITH gone AS (DELETE FROM timeseries WHERE (model, minute) IN (SELECT model, minute FROM timeseries GROUP BY 1, 2 HAVING COUNT(*) > 1)
      RETURNING model, minute, decisions, rewards, reward_sum, client_rewards, default_rewards)
    INSERT INTO timeseries (model, minute, decisions, rewards, reward_sum, client_rewards, default_rewards)
    SELECT model, minute, SUM(decisions), SUM(rewards), SUM(reward_sum), SUM(client_rewards), SUM(default_rewards) FROM gone GROUP BY 1, 2`);
  const models = (await c.query<RetentionModel>(`SELECT m.name, m.config, m.created_at AS "createdAt", s.reward_seq AS "snapshotSeq" FROM models m
    LEFT JOIN snapshots s ON s.model = m.name AND s.version = m.version WHERE m.kind = 'bandit'`)).rows;
  const orphans = op.only ? [] : (await c.query<{ model: string }>(`SELECT model FROM log_stats GROUP BY model
    HAVING SUM(events) > 0 AND model NOT IN (SELECT name FROM models)`)).rows.map((r) => r.model);
  // The last reward received before the margin: rows after it stay, whatever snapshot holds them.
  const settled = (await c.query<{ seq: number }>('SELECT seq FROM rewards WHERE received_at < $1 ORDER BY seq DESC LIMIT 1', [op.now - (op.replicaMarginMs ?? REPLICA_MARGIN_MS)])).rows[0]?.seq ?? 0;
  let budget = op.batch;
  const targets = retentionTargets(models, orphans, op);
  // The time series is kept as long as the events (as on SQLite): a range delete by minute.
  for (const t of targets) await c.query('DELETE FROM timeseries WHERE model = $1 AND minute < $2', [t.model, Math.floor(t.cutoff / 60_000) * 60_000]);
  for (const target of targets) {
    if (budget <= 0) break;
    const t = { ...target, snapshotSeq: Math.min(target.snapshotSeq, settled) };
    // The (model, created_at) index: the oldest events first, only those past the cutoff.
    const head = (await c.query<RetentionRow>(`SELECT seq, event_id, created_at, closed, reward, imitated FROM events
      WHERE model = $1 AND kind = 'decision' AND created_at < $2 ORDER BY created_at, seq LIMIT $3`, [t.model, t.cutoff, budget * SCAN_FACTOR])).rows;
    const rewards = new Map<string, RetentionReward[]>();
    for (const r of (await c.query<RetentionReward & { event_id: string }>('SELECT event_id, seq, learn, source, received_at FROM rewards WHERE event_id = ANY($1::text[])',
      [head.filter((row) => row.closed === 1).map((row) => row.event_id)])).rows) {
      const list = rewards.get(r.event_id) ?? [];
      list.push(r);
      rewards.set(r.event_id, list);
    }
    const removed = noneRemoved();
    const doomed: string[] = [];
    for (const row of head) {
      if (doomed.length >= budget) break;
      const verdict = judgeRetention(row, rewards.get(row.event_id) ?? [], t);
      if (verdict === 'snapshot') result.needsSnapshot = true;
      if (verdict !== 'delete') continue;
      doomed.push(row.event_id);
      countRemoved(removed, row, rewards.get(row.event_id) ?? [], t);
    }
    if (doomed.length > 0) {
      await c.query('DELETE FROM rewards WHERE event_id = ANY($1::text[])', [doomed]);
      await c.query('DELETE FROM events WHERE event_id = ANY($1::text[])', [doomed]);
    }
    recordDeleted(result, t, doomed.length, removed);
    budget -= doomed.length;
  }
  if (budget <= 0) result.more = true;
  result.ms = performance.now() - began;
  return result;
}
