import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/database.js';
import { payloadText } from '../store/payload-codec.js';
import { DecisionStore, HOLD_DEFERRED, HOLD_NONE, type EventRow } from './decision-store.js';
import type { RewardPolicy } from './model-config.js';
import { problem, type Learn, type OpResult } from './op-result.js';

/** A client's reward for one logged event, as the writer receives it. */
export interface RewardOp {
  op: 'reward';
  eventId: string;
  reward?: number;
  label?: string;
  now: number;
}

/** POST /events/{eventId}/activate: a deferred decision starts to count. */
export interface ActivateOp {
  op: 'activate';
  eventId: string;
  now: number;
}

/**
 * The rules of the reward log, all of them here. They run on the decisions writer's connection, inside the
 * transaction of the group they belong to (write-executor.ts), because each reads and writes in the same
 * transaction as the decisions and rewards queued before it:
 *
 * - **Join**: a reward names a logged event; an unknown id is a 404, an event of another kind (an image) is
 *   handed back for its own capability's feedback handler, a decision event needs a `reward` (400).
 * - **Window**: rewards are accepted until the event's deadline (`reward.waitSeconds` after the decision). A
 *   closed event answers 410 (window closed, or its model deleted) with the reward it ended with.
 * - **Aggregation** (`reward.aggregation`): `first` logs and learns the first reward and closes the event, a
 *   later one is a 409 naming the reward that counted; `sum` logs each reward unlearned, adds it to the
 *   event's total and keeps the window open.
 * - **Default on expiry**: a window that closes without a reward learns the model's `reward.default`; under
 *   `sum` with rewards received, their total (source `aggregate`). Closed in bulk by the sweep
 *   (`closeExpired`), or at once when a reward arrives past the deadline (then 410, the closing learned).
 * - **Imported** events (DSJSON) arrive closed: their reward, if any, is logged and learned as a client's.
 * - **Held** events (`events.hold`): a decision made in logging mode is never learned; a deferred one
 *   (`defer: true`) is not learned until it is activated. Their rewards follow every rule above, but the rows
 *   are logged with `learn = 0` (the event stays evaluable). Activation (`activate`) before the deadline makes
 *   the event an ordinary one; a reward that closed it before (`first`) is then learned (source `activated`),
 *   a `sum` window goes on and is learned when it closes. A deferred event never activated closes at its
 *   deadline like any other (reason `inactive`, the default or the total logged, not learned).
 *
 * Every learned reward is one row of the `rewards` table with `learn = 1`; its `seq` orders all learning,
 * live and on replay. Rules return their 4xx as data (op-result.ts) before writing anything.
 */
export class RewardRules {
  private readonly store: DecisionStore;
  private readonly expiredLog: Statement;
  private readonly expiredClose: Statement;
  private readonly expiredRead: Statement;

  /** `policyOf`: a bandit model's reward policy as committed so far in this transaction stream, null if none. */
  constructor(db: Db, private readonly policyOf: (model: string) => RewardPolicy | null) {
    this.store = new DecisionStore(db);
    // Set-based statements over the partial index of open decisions by deadline (migration 110), for every
    // bandit model at once, oldest deadline first. The default reward is read from the model's stored config in
    // the same statement: put/delete run in the same transaction stream, so it is the policy in force when the
    // window closed.
    this.expiredLog = db.prepare(`INSERT INTO rewards (event_id, model, reward, label, source, received_at, learn)
      SELECT e.event_id, e.model,
        CASE WHEN e.reward_count > 0 THEN COALESCE(e.reward, 0) ELSE COALESCE(json_extract(m.config, '$.reward.default'), 0) END,
        NULL, CASE WHEN e.reward_count > 0 THEN 'aggregate' ELSE 'default' END, ?, e.hold = ${HOLD_NONE}
      FROM events e JOIN models m ON m.name = e.model AND m.kind = 'bandit'
      WHERE e.closed = 0 AND e.kind = 'decision' AND e.deadline_at <= ?
      ORDER BY e.deadline_at, e.seq LIMIT ?
      RETURNING seq`);
    this.expiredClose = db.prepare(`UPDATE events SET reward = r.reward, closed = 1,
        closed_reason = CASE WHEN events.hold = ${HOLD_DEFERRED} THEN 'inactive' ELSE 'window' END
      FROM rewards r WHERE r.seq BETWEEN ? AND ? AND events.event_id = r.event_id`);
    this.expiredRead = db.prepare(`SELECT r.seq AS seq, r.event_id AS eventId, r.model AS model, r.reward AS reward, r.source AS source, e.payload AS payload,
        r.learn AS learn
      FROM rewards r JOIN events e ON e.event_id = r.event_id WHERE r.seq BETWEEN ? AND ? ORDER BY r.seq`);
  }

  /** A client's reward: join, window, aggregation. */
  receive(op: RewardOp): OpResult {
    const row = this.store.findEvent(op.eventId);
    if (!row) return problem(404, `No logged event with eventId "${op.eventId}"`);
    if (row.kind === 'slots') {
      return problem(400, `Event "${row.event_id}" is a multi-slot decision: reward one of its slots ({eventId, slot, reward}) or several ({eventId, rewards: {slot: reward}})`,
        { errors: [{ path: '/slot', message: 'is required for a multi-slot decision' }] });
    }
    if (row.kind !== 'decision') return { dispatch: row.kind };
    if (op.reward === undefined) return problem(400, 'reward is required for a decision event (label applies to image events)', { errors: [{ path: '/reward', message: 'is required' }] });
    if (row.closed) {
      if (row.closed_reason === 'reward') {
        return problem(409, `Event "${row.event_id}" was already rewarded (aggregation first)`, { eventId: row.event_id, reward: row.reward });
      }
      return gone(row, row.closed_reason === 'deleted' ? 'its model was deleted' : 'its reward window closed');
    }
    const policy = this.policyOf(row.model);
    if (!policy) return problem(404, `Model "${row.model}" of event "${row.event_id}" no longer exists`);
    if (row.deadline_at !== null && op.now >= row.deadline_at) {
      const learn = this.closeOnExpiry(row, policy, op.now);
      return { ...gone({ event_id: row.event_id, reward: learn.reward }, 'its reward window closed'), learns: [learn] };
    }
    const reward = op.reward;
    const counted = { model: row.model, reward };
    if (policy.aggregation === 'sum') {
      const total = (row.reward ?? 0) + reward;
      this.store.insertReward(row.event_id, row.model, reward, op.label ?? null, 'client', op.now, false);
      this.store.updateEvent(row.event_id, total, row.reward_count + 1, false, null);
      return { status: 200, body: { eventId: row.event_id, reward, applied: true, total, learnedAt: new Date(row.deadline_at ?? op.now).toISOString() }, counted };
    }
    const learned = row.hold === HOLD_NONE;
    const seq = this.store.insertReward(row.event_id, row.model, reward, op.label ?? null, 'client', op.now, learned);
    this.store.updateEvent(row.event_id, reward, row.reward_count + 1, true, 'reward');
    return {
      status: 200, body: { eventId: row.event_id, reward, applied: true }, counted,
      learns: [{ model: row.model, eventId: row.event_id, seq, payload: row.payload, reward, source: 'client', ...(learned ? {} : { held: true as const }) }],
    };
  }

  /**
   * Activates a deferred decision: 404 unknown, 409 not deferred (already active, or decided in logging mode),
   * 410 past its deadline (closed as never activated). A reward that closed it before is learned now. A
   * multi-slot decision's id activates all its slots, or none when one of them cannot be.
   */
  activate(op: ActivateOp): OpResult {
    const row = this.store.findEvent(op.eventId);
    if (row?.kind === 'slots') {
      const slots = (JSON.parse(payloadText(row.payload)) as { slots: string[] }).slots.map((s) => this.store.findEvent(`${row.event_id}#${s}`));
      for (const slot of slots) {
        const refused = slot ? this.activationProblem(slot, op.now) : problem(404, `A slot of "${row.event_id}" is no longer logged`);
        if (refused) return refused;
      }
      return { status: 204, body: { model: row.model, activated: slots.length }, learns: slots.flatMap((slot) => this.activateOne(slot!, op.now)) };
    }
    if (!row || row.kind !== 'decision') return problem(404, `No logged decision with eventId "${op.eventId}"`);
    const refused = this.activationProblem(row, op.now);
    if (refused) {
      // Past its deadline and still open: closed here as the sweep would (never activated, unlearned).
      if (refused.problem?.status === 410 && !row.closed) return { ...refused, learns: [this.closeOnExpiry(row, this.policyOf(row.model)!, op.now)] };
      return refused;
    }
    return { status: 204, body: { model: row.model, activated: 1 }, learns: this.activateOne(row, op.now) };
  }

  private activationProblem(row: EventRow, now: number): OpResult | undefined {
    if (row.hold !== HOLD_DEFERRED) {
      return problem(409, row.hold === HOLD_NONE
        ? `Event "${row.event_id}" is already active`
        : `Event "${row.event_id}" was decided in logging mode: it is never learned`, { eventId: row.event_id });
    }
    if (row.closed && row.closed_reason !== 'reward') {
      return gone(row, row.closed_reason === 'deleted' ? 'its model was deleted' : 'its reward window closed before it was activated', 'cannot be activated');
    }
    if (!this.policyOf(row.model)) return problem(404, `Model "${row.model}" of event "${row.event_id}" no longer exists`);
    if (row.deadline_at !== null && now >= row.deadline_at) return gone(row, 'its reward window closed before it was activated', 'cannot be activated');
    return undefined;
  }

  /** The event counts from now on; a reward that closed it while deferred (`first`) is learned now. */
  private activateOne(row: EventRow, now: number): Learn[] {
    this.store.setHold(row.event_id, HOLD_NONE);
    if (!row.closed) return [];
    const reward = row.reward ?? 0;
    const seq = this.store.insertReward(row.event_id, row.model, reward, null, 'activated', now, true);
    return [{ model: row.model, eventId: row.event_id, seq, payload: row.payload, reward, source: 'activated' }];
  }

  /**
   * Closes up to `limit` windows whose deadline is at or before `now`, oldest deadline first, each with one
   * learned row (default reward, or the total under `sum`); the rows come back in log order, the order in which
   * the main thread learns them and replay relearns them. Fewer than `limit` means none is left.
   */
  closeExpired(now: number, limit: number): Learn[] {
    const seqs = this.expiredLog.all(now, now, limit) as { seq: number }[];
    if (seqs.length === 0) return [];
    let lo = Infinity;
    let hi = -Infinity;
    for (const { seq } of seqs) {
      if (seq < lo) lo = seq;
      if (seq > hi) hi = seq;
    }
    // One statement inserted them with nothing else writing in between: the range holds exactly these rows.
    this.expiredClose.run(lo, hi);
    return (this.expiredRead.all(lo, hi) as (Learn & { learn: number })[]).map(({ learn, ...l }) => (learn ? l : { ...l, held: true as const }));
  }

  /** An imported event (already logged by the caller) closes with its final reward, learned (unless `learn` is false: DSJSON `_skipLearn`), or with none. */
  closeImported(eventId: string, model: string, payload: Learn['payload'], reward: number | null, now: number, learn = true): Learn | undefined {
    if (reward === null) {
      this.store.updateEvent(eventId, null, 0, true, 'imported');
      return undefined;
    }
    const seq = this.store.insertReward(eventId, model, reward, null, 'client', now, learn);
    this.store.updateEvent(eventId, reward, 1, true, 'reward');
    return { model, eventId, seq, payload, reward, source: 'client', ...(learn ? {} : { held: true as const }) };
  }

  /** Closes one event whose window passed, as the bulk close would: the sum so far or the default reward is learned (unless held). */
  private closeOnExpiry(row: EventRow, policy: RewardPolicy, now: number): Learn {
    const aggregated = row.reward_count > 0;
    const reward = aggregated ? row.reward ?? 0 : policy.default;
    const source = aggregated ? 'aggregate' : 'default';
    const learned = row.hold === HOLD_NONE;
    const seq = this.store.insertReward(row.event_id, row.model, reward, null, source, now, learned);
    this.store.updateEvent(row.event_id, reward, row.reward_count, true, row.hold === HOLD_DEFERRED ? 'inactive' : 'window');
    return { model: row.model, eventId: row.event_id, seq, payload: row.payload, reward, source, ...(learned ? {} : { held: true as const }) };
  }
}

function gone(row: Pick<EventRow, 'event_id' | 'reward'>, why: string, what = 'no longer accepts rewards'): OpResult {
  return problem(410, `Event "${row.event_id}" ${what}: ${why}`, { eventId: row.event_id, reward: row.reward, applied: false });
}
