import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/database.js';
import { payloadText } from '../store/payload-codec.js';
import { DecisionStore, HOLD_DEFERRED, HOLD_NONE, type EventRow, type RewardSource } from './decision-store.js';
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

  /** A client's reward: join, window, aggregation, holds (judgeReward), written here on SQLite. */
  receive(op: RewardOp): OpResult {
    const row = this.store.findEvent(op.eventId);
    const verdict = judgeReward(row, this.policyOf, op);
    const w = verdict.write;
    if (!w || !row) return verdict.result;
    const seq = this.store.insertReward(row.event_id, row.model, w.reward, w.label, w.source, op.now, w.learn);
    this.store.updateEvent(row.event_id, w.event.reward, w.event.count, w.event.closed, w.event.reason);
    return completeReward(verdict, row, seq);
  }

  /**
   * Activates a deferred decision (judgeActivation's verdict, written here on SQLite). A multi-slot decision's id
   * activates all its slots, or none when one of them cannot be.
   */
  activate(op: ActivateOp): OpResult {
    const row = this.store.findEvent(op.eventId);
    const slots = row?.kind === 'slots' ? slotEventIds(row).map((id) => this.store.findEvent(id)) : undefined;
    const verdict = judgeActivation(row, slots, this.policyOf, op);
    if (verdict.expire) {
      const { row: r, write: w } = verdict.expire;
      const seq = this.store.insertReward(r.event_id, r.model, w.reward, w.label, w.source, op.now, w.learn);
      this.store.updateEvent(r.event_id, w.event.reward, w.event.count, w.event.closed, w.event.reason);
      return { ...verdict.result, learns: [learnOf(r, w, seq)] };
    }
    const learns: Learn[] = [];
    for (const { row: r, learn } of verdict.activate ?? []) {
      this.store.setHold(r.event_id, HOLD_NONE);
      if (learn) learns.push(learnOf(r, learn, this.store.insertReward(r.event_id, r.model, learn.reward, learn.label, learn.source, op.now, learn.learn)));
    }
    return verdict.activate ? { ...verdict.result, learns } : verdict.result;
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

  /** An imported event (already logged by the caller) closes as importedEvent says: with its final reward, learned unless `learn` is false (DSJSON `_skipLearn`), or with none. */
  closeImported(eventId: string, model: string, payload: Learn['payload'], reward: number | null, now: number, learn = true): Learn | undefined {
    const w = importedEvent(reward, learn);
    this.store.updateEvent(eventId, w.event.reward, w.event.count, w.event.closed, w.event.reason);
    if (!w.log) return undefined;
    const seq = this.store.insertReward(eventId, model, w.log.reward, w.log.label, w.log.source, now, w.log.learn);
    return learnOf({ model, event_id: eventId, payload }, w.log, seq);
  }
}

/**
 * The bulk close (RewardRules.closeExpired) in PostgreSQL's dialect, the same rule: up to $2 windows whose deadline
 * is at or before $1, oldest first, each closed with one row (the sum so far under `sum` with rewards received, else
 * the model's `reward.default` read from its stored config), learned unless the event is held; the rows come back in
 * log order. SKIP LOCKED: a window a concurrent reward is closing is left to it.
 */
export const PG_CLOSE_EXPIRED = `
  WITH due AS (
    SELECT e.event_id, e.model, e.payload, e.deadline_at, e.seq, e.hold,
      CASE WHEN e.reward_count > 0 THEN COALESCE(e.reward, 0) ELSE COALESCE((m.config::jsonb #>> '{reward,default}')::double precision, 0) END AS value,
      CASE WHEN e.reward_count > 0 THEN 'aggregate' ELSE 'default' END AS source
    FROM events e JOIN models m ON m.name = e.model AND m.kind = 'bandit'
    WHERE e.closed = 0 AND e.kind = 'decision' AND e.deadline_at <= $1
    ORDER BY e.deadline_at, e.seq LIMIT $2 FOR UPDATE OF e SKIP LOCKED
  ), logged AS (
    INSERT INTO rewards (event_id, model, reward, label, source, received_at, learn)
    SELECT event_id, model, value, NULL, source, $1, (hold = ${HOLD_NONE})::int FROM due ORDER BY deadline_at, seq
    RETURNING seq, event_id, model, reward, source, learn
  ), closing AS (
    UPDATE events SET reward = l.reward, closed = 1, closed_reason = CASE WHEN events.hold = ${HOLD_DEFERRED} THEN 'inactive' ELSE 'window' END
    FROM logged l WHERE events.event_id = l.event_id
  )
  SELECT l.seq, l.event_id AS "eventId", l.model, l.reward, l.source, l.learn, d.payload FROM logged l JOIN due d ON d.event_id = l.event_id ORDER BY l.seq`;

/** The rows a verdict writes: one reward row appended to the log, and the event's new state. */
export interface RewardWrite {
  reward: number;
  label: string | null;
  source: RewardSource;
  /** Folded into the model (1) or only recorded (0: a `sum` reward learned later as one aggregate row, or a held event's). */
  learn: boolean;
  event: { reward: number | null; count: number; closed: boolean; reason: string | null };
}

/** What the rules decided for one client reward: the answer, and what to write (nothing for a refusal). */
export interface RewardVerdict {
  result: OpResult;
  write?: RewardWrite;
}

/**
 * The rules for one client reward, as a pure function of the event's row (read in the writing transaction, the
 * row locked on PostgreSQL) and the model's policy: each dialect reads the row, writes what the verdict says and
 * completes the answer with the appended row's seq (completeReward). SQLite: RewardRules.receive; PostgreSQL:
 * pg-writer.ts.
 */
export function judgeReward(row: EventRow | undefined, policyOf: (model: string) => RewardPolicy | null, op: RewardOp): RewardVerdict {
  if (!row) return { result: problem(404, `No logged event with eventId "${op.eventId}"`) };
  if (row.kind === 'slots') {
    return { result: problem(400, `Event "${row.event_id}" is a multi-slot decision: reward one of its slots ({eventId, slot, reward}) or several ({eventId, rewards: {slot: reward}})`,
      { errors: [{ path: '/slot', message: 'is required for a multi-slot decision' }] }) };
  }
  if (row.kind !== 'decision') return { result: { dispatch: row.kind } };
  if (op.reward === undefined) return { result: problem(400, 'reward is required for a decision event (label applies to image events)', { errors: [{ path: '/reward', message: 'is required' }] }) };
  if (row.closed) {
    if (row.closed_reason === 'reward') {
      return { result: problem(409, `Event "${row.event_id}" was already rewarded (aggregation first)`, { eventId: row.event_id, reward: row.reward }) };
    }
    return { result: gone(row, row.closed_reason === 'deleted' ? 'its model was deleted' : 'its reward window closed') };
  }
  const policy = policyOf(row.model);
  if (!policy) return { result: problem(404, `Model "${row.model}" of event "${row.event_id}" no longer exists`) };
  const learned = row.hold === HOLD_NONE;
  if (row.deadline_at !== null && op.now >= row.deadline_at) {
    // Closed as the bulk close would, the reward refused.
    const write = expiryWrite(row, policy);
    return { result: gone({ event_id: row.event_id, reward: write.reward }, 'its reward window closed'), write };
  }
  const reward = op.reward;
  const counted = { model: row.model, reward };
  const label = op.label ?? null;
  if (policy.aggregation === 'sum') {
    const total = (row.reward ?? 0) + reward;
    return {
      result: { status: 200, body: { eventId: row.event_id, reward, applied: true, total, learnedAt: new Date(row.deadline_at ?? op.now).toISOString() }, counted },
      write: { reward, label, source: 'client', learn: false, event: { reward: total, count: row.reward_count + 1, closed: false, reason: null } },
    };
  }
  return {
    result: { status: 200, body: { eventId: row.event_id, reward, applied: true }, counted },
    write: { reward, label, source: 'client', learn: learned, event: { reward, count: row.reward_count + 1, closed: true, reason: 'reward' } },
  };
}

/** An open window found past its deadline closes as the bulk close would: the sum so far or the default reward is logged (learned unless held). */
function expiryWrite(row: EventRow, policy: RewardPolicy): RewardWrite {
  const aggregated = row.reward_count > 0;
  const reward = aggregated ? row.reward ?? 0 : policy.default;
  return { reward, label: null, source: aggregated ? 'aggregate' : 'default', learn: row.hold === HOLD_NONE,
    event: { reward, count: row.reward_count, closed: true, reason: row.hold === HOLD_DEFERRED ? 'inactive' : 'window' } };
}

/** One row appended to the reward log (a RewardWrite without the event's new state). */
export type LoggedReward = Omit<RewardWrite, 'event'>;

/** The Learn of a reward row appended at `seq` (held: it closes its event without being learned). */
export function learnOf(row: Pick<EventRow, 'event_id' | 'model' | 'payload'>, w: LoggedReward, seq: number): Learn {
  return { model: row.model, eventId: row.event_id, seq, payload: row.payload, reward: w.reward, source: w.source, ...(w.learn ? {} : { held: true as const }) };
}

/** The decision rows a multi-slot decision's own row (kind `slots`) lists, in slot order (src/decisions/slots.ts). */
export function slotEventIds(row: Pick<EventRow, 'event_id' | 'payload'>): string[] {
  return (JSON.parse(payloadText(row.payload)) as { slots: string[] }).slots.map((s) => `${row.event_id}#${s}`);
}

/** What the rules decided for an activation: the answer, and what to write (nothing for a refusal). */
export interface ActivationVerdict {
  result: OpResult;
  /** Events that count from now on (hold becomes HOLD_NONE); `learn`: the reward that closed one while deferred, logged and learned now. */
  activate?: { row: EventRow; learn?: LoggedReward }[];
  /** A deferred window found open past its deadline: closed here as the sweep would (never activated, unlearned); the answer is a 410. */
  expire?: { row: EventRow; write: RewardWrite };
}

/**
 * The rules of POST /events/{id}/activate, as a pure function of the event's row and, for a multi-slot decision,
 * its slots' rows (read in the writing transaction, locked on PostgreSQL): 404 unknown, 409 not deferred (already
 * active, or decided in logging mode), 410 past its deadline. A reward that closed it while deferred (`first`) is
 * learned now (source `activated`). A multi-slot decision's id activates all its slots, or none when one of them
 * cannot be. SQLite: RewardRules.activate; PostgreSQL: pg-ops.ts.
 */
export function judgeActivation(row: EventRow | undefined, slots: (EventRow | undefined)[] | undefined, policyOf: (model: string) => RewardPolicy | null, op: ActivateOp): ActivationVerdict {
  const activating = (r: EventRow) => ({ row: r, ...(r.closed ? { learn: { reward: r.reward ?? 0, label: null, source: 'activated' as const, learn: true } } : {}) });
  if (row?.kind === 'slots' && slots) {
    for (const slot of slots) {
      const refused = slot ? activationProblem(slot, policyOf, op.now) : problem(404, `A slot of "${row.event_id}" is no longer logged`);
      if (refused) return { result: refused };
    }
    return { result: { status: 204, body: { model: row.model, activated: slots.length } }, activate: slots.map((s) => activating(s!)) };
  }
  if (!row || row.kind !== 'decision') return { result: problem(404, `No logged decision with eventId "${op.eventId}"`) };
  const refused = activationProblem(row, policyOf, op.now);
  if (refused) {
    // Past its deadline and still open: closed here as the sweep would (never activated, unlearned).
    if (refused.problem?.status === 410 && !row.closed) return { result: refused, expire: { row, write: expiryWrite(row, policyOf(row.model)!) } };
    return { result: refused };
  }
  return { result: { status: 204, body: { model: row.model, activated: 1 } }, activate: [activating(row)] };
}

function activationProblem(row: EventRow, policyOf: (model: string) => RewardPolicy | null, now: number): OpResult | undefined {
  if (row.hold !== HOLD_DEFERRED) {
    return problem(409, row.hold === HOLD_NONE
      ? `Event "${row.event_id}" is already active`
      : `Event "${row.event_id}" was decided in logging mode: it is never learned`, { eventId: row.event_id });
  }
  if (row.closed && row.closed_reason !== 'reward') {
    return gone(row, row.closed_reason === 'deleted' ? 'its model was deleted' : 'its reward window closed before it was activated', 'cannot be activated');
  }
  if (!policyOf(row.model)) return problem(404, `Model "${row.model}" of event "${row.event_id}" no longer exists`);
  if (row.deadline_at !== null && now >= row.deadline_at) return gone(row, 'its reward window closed before it was activated', 'cannot be activated');
  return undefined;
}

/**
 * An imported event (DSJSON) arrives closed: with its final reward, logged as a client's and learned unless
 * `learn` is false (`_skipLearn`), or without one (closed `imported`: neither learned nor evaluable).
 */
export function importedEvent(reward: number | null, learn: boolean): { event: RewardWrite['event']; log?: LoggedReward } {
  if (reward === null) return { event: { reward: null, count: 0, closed: true, reason: 'imported' } };
  return { event: { reward, count: 1, closed: true, reason: 'reward' }, log: { reward, label: null, source: 'client', learn } };
}

/** An import refused because some of its event ids are logged already (`taken`: their indexes in the batch). */
export function importConflict(taken: readonly { index: number; eventId: string }[]): OpResult {
  return problem(409, `${taken.length} event id(s) are already logged, e.g. "${taken[0]!.eventId}"; nothing was imported`, { lines: taken.slice(0, 100) });
}

/** An import's answer once its rows are written: how many events were logged and how many rewards learned, the rows in log order. */
export function importDone(imported: number, learns: Learn[]): OpResult {
  learns.sort((a, b) => a.seq - b.seq);
  return { status: 200, body: { imported, learned: learns.filter((l) => !l.held).length }, learns };
}

/** The verdict's answer once its reward row is appended at `seq`: a row that closes the event is folded in log order (unless held). */
export function completeReward(verdict: RewardVerdict, row: Pick<EventRow, 'event_id' | 'model' | 'payload'>, seq: number): OpResult {
  const w = verdict.write;
  if (!w?.event.closed) return verdict.result;
  return { ...verdict.result, learns: [learnOf(row, w, seq)] };
}

function gone(row: Pick<EventRow, 'event_id' | 'reward'>, why: string, what = 'no longer accepts rewards'): OpResult {
  return problem(410, `Event "${row.event_id}" ${what}: ${why}`, { eventId: row.event_id, reward: row.reward, applied: false });
}
