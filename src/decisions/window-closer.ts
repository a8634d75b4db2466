import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/database.js';
import type { StoredPayload } from '../store/payload-codec.js';

/** One closed window, as the main thread folds it in (reward-log order). */
export interface ClosedWindow {
  seq: number;
  eventId: string;
  model: string;
  reward: number;
  source: 'default' | 'aggregate';
  payload: StoredPayload;
}

/**
 * Closes expired reward windows in bulk, on the writer's connection and inside its transaction: set-based
 * statements over the partial index of open decisions by deadline (migration 110), for every bandit model at
 * once, oldest deadline first. Each closed event gets one learned row in the reward log (its default reward,
 * or under aggregation `sum` the total received), and the rows come back in log order, the order in which the
 * main thread learns them and replay relearns them.
 */
export class WindowCloser {
  private readonly log: Statement;
  private readonly close: Statement;
  private readonly read: Statement;

  constructor(db: Db) {
    // The default reward is read from the model's stored config in the same statement: put/delete run in the
    // same transaction stream, so it is the policy in force when the window closed.
    this.log = db.prepare(`INSERT INTO rewards (event_id, model, reward, label, source, received_at, learn)
      SELECT e.event_id, e.model,
        CASE WHEN e.reward_count > 0 THEN COALESCE(e.reward, 0) ELSE COALESCE(json_extract(m.config, '$.reward.default'), 0) END,
        NULL, CASE WHEN e.reward_count > 0 THEN 'aggregate' ELSE 'default' END, ?, 1
      FROM events e JOIN models m ON m.name = e.model AND m.kind = 'bandit'
      WHERE e.closed = 0 AND e.kind = 'decision' AND e.deadline_at <= ?
      ORDER BY e.deadline_at, e.seq LIMIT ?
      RETURNING seq`);
    this.close = db.prepare(`UPDATE events SET reward = r.reward, closed = 1, closed_reason = 'window'
      FROM rewards r WHERE r.seq BETWEEN ? AND ? AND events.event_id = r.event_id`);
    this.read = db.prepare(`SELECT r.seq AS seq, r.event_id AS eventId, r.model AS model, r.reward AS reward, r.source AS source, e.payload AS payload
      FROM rewards r JOIN events e ON e.event_id = r.event_id WHERE r.seq BETWEEN ? AND ? ORDER BY r.seq`);
  }

  /** Closes up to `limit` windows whose deadline is at or before `now`; fewer than `limit` means none is left. */
  closeExpired(now: number, limit: number): ClosedWindow[] {
    const seqs = this.log.all(now, now, limit) as { seq: number }[];
    if (seqs.length === 0) return [];
    let lo = Infinity;
    let hi = -Infinity;
    for (const { seq } of seqs) {
      if (seq < lo) lo = seq;
      if (seq > hi) hi = seq;
    }
    // One statement inserted them with nothing else writing in between: the range holds exactly these rows.
    this.close.run(lo, hi);
    return this.read.all(lo, hi) as ClosedWindow[];
  }
}
