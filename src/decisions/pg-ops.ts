import type { PgClient } from '../store/postgres.js';
import { HOLD_NEVER, HOLD_NONE, type EventRow } from './decision-store.js';
import type { ModelConfig, RewardPolicy } from './model-config.js';
import { problem, type Learn, type OpResult } from './op-result.js';
import { importConflict, importDone, importedEvent, judgeActivation, learnOf, slotEventIds, type ActivateOp, type LoggedReward } from './reward-rules.js';
import type { WriteOp } from './write-executor.js';

/**
 * The multi-slot, activation and import ops of the decisions writer on PostgreSQL (pg-writer.ts runs them in its
 * group's transaction, which holds the LOG advisory lock): the same rules as on SQLite, from reward-rules.ts's
 * verdicts (judgeActivation, importedEvent), written in this dialect. `ctx.maxSeq` rises to the highest reward
 * row appended, so the group is answered once this replica's follower has folded it.
 */

type Ctx = { maxSeq: number };
type DecisionOp = Extract<WriteOp, { op: 'decision' }>;
/** pg-writer.ts's multi-row INSERT of decisions (passed in: this module is imported by it). */
type InsertDecisions = (c: PgClient, ops: DecisionOp[]) => Promise<OpResult[]>;

async function bandit(c: PgClient, model: string): Promise<boolean> {
  return (await c.query('SELECT 1 FROM models WHERE name = $1 AND kind = $2', [model, 'bandit'])).rowCount === 1;
}

/** Runs `body` under a savepoint, rolled back when it answers `undo` (an op that writes all of its rows or none). */
async function atomically<T>(c: PgClient, body: () => Promise<{ value: T; undo: boolean }>): Promise<T> {
  await c.query('SAVEPOINT focal_op');
  const { value, undo } = await body();
  await c.query(undo ? 'ROLLBACK TO SAVEPOINT focal_op' : 'RELEASE SAVEPOINT focal_op');
  if (undo) await c.query('RELEASE SAVEPOINT focal_op');
  return value;
}

/** A multi-slot decision (slots.ts): its own row and one decision row per slot, all or none (a taken id: `inserted: false`, 409). */
export async function pgSlots(c: PgClient, op: Extract<WriteOp, { op: 'slots' }>, decisions: InsertDecisions): Promise<OpResult> {
  if (!await bandit(c, op.model)) return problem(404, `No bandit model named "${op.model}"`);
  return atomically(c, async () => {
    // As DecisionStore.insertSlots: closed from the start, never rewarded or swept; its payload lists the slots.
    const own = await c.query(`INSERT INTO events (event_id, model, kind, created_at, deadline_at, payload, closed, closed_reason)
      VALUES ($1, $2, 'slots', $3, NULL, $4, 1, 'slots') ON CONFLICT (event_id) DO NOTHING`, [op.eventId, op.model, op.createdAt, JSON.stringify({ slots: op.slots.map((s) => s.id) })]);
    const rows = await decisions(c, op.slots.map((s) => ({
      op: 'decision' as const, eventId: s.eventId, model: op.model, createdAt: op.createdAt, deadlineAt: op.deadlineAt, payload: s.payload,
      ...(op.hold !== undefined ? { hold: op.hold } : {}), ...(s.imitated !== undefined ? { imitated: s.imitated } : {}),
    })));
    const inserted = own.rowCount === 1 && rows.every((r) => r.inserted === true);
    return { value: { inserted }, undo: !inserted };
  });
}

/** Event rows with their model's reward policy, locked for this transaction (absent ids are missing from the map). */
async function lockEvents(c: PgClient, ids: readonly string[]): Promise<{ rows: Map<string, EventRow>; policies: Map<string, RewardPolicy> }> {
  const found = (await c.query<EventRow & { config: string | null }>(`SELECT e.seq, e.event_id, e.model, e.kind, e.created_at, e.deadline_at, e.payload,
    e.reward, e.reward_count, e.closed, e.closed_reason, e.hold, e.imitated, m.config
    FROM events e LEFT JOIN models m ON m.name = e.model AND m.kind = 'bandit' WHERE e.event_id = ANY($1::text[]) ORDER BY e.seq FOR UPDATE OF e`, [ids])).rows;
  const policies = new Map<string, RewardPolicy>();
  for (const { config, ...row } of found) if (config) policies.set(row.model, (JSON.parse(config) as ModelConfig).reward);
  return { rows: new Map(found.map(({ config: _, ...row }) => [row.event_id, row])), policies };
}

/** Appends one row to the reward log; its seq. */
async function appendReward(c: PgClient, row: Pick<EventRow, 'event_id' | 'model'>, w: LoggedReward, now: number, ctx: Ctx): Promise<number> {
  const seq = (await c.query<{ seq: number }>(`INSERT INTO rewards (event_id, model, reward, label, source, received_at, learn)
    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq`, [row.event_id, row.model, w.reward, w.label, w.source, now, w.learn ? 1 : 0])).rows[0]!.seq;
  ctx.maxSeq = Math.max(ctx.maxSeq, seq);
  return seq;
}

/** POST /events/{id}/activate, whatever replica logged the decision: the rows locked, judgeActivation's verdict written. */
export async function pgActivate(c: PgClient, op: ActivateOp, ctx: Ctx): Promise<OpResult> {
  const own = await lockEvents(c, [op.eventId]);
  const row = own.rows.get(op.eventId);
  let slots: (EventRow | undefined)[] | undefined;
  let policies = own.policies;
  if (row?.kind === 'slots') {
    const ids = slotEventIds(row);
    const locked = await lockEvents(c, ids);
    slots = ids.map((id) => locked.rows.get(id));
    policies = locked.policies;
  }
  const verdict = judgeActivation(row, slots, (model) => policies.get(model) ?? null, op);
  if (verdict.expire) {
    const { row: r, write: w } = verdict.expire;
    const seq = await appendReward(c, r, w, op.now, ctx);
    await c.query('UPDATE events SET reward = $1, reward_count = $2, closed = $3, closed_reason = $4 WHERE event_id = $5',
      [w.event.reward, w.event.count, w.event.closed ? 1 : 0, w.event.reason, r.event_id]);
    return { ...verdict.result, learns: [learnOf(r, w, seq)] };
  }
  if (!verdict.activate) return verdict.result;
  await c.query('UPDATE events SET hold = $1 WHERE event_id = ANY($2::text[])', [HOLD_NONE, verdict.activate.map((a) => a.row.event_id)]);
  const learns: Learn[] = [];
  for (const { row: r, learn } of verdict.activate) if (learn) learns.push(learnOf(r, learn, await appendReward(c, r, learn, op.now, ctx)));
  return { ...verdict.result, learns };
}

/**
 * Logged events from another system (DSJSON import): every event row with its final state (importedEvent) in one
 * INSERT, then its reward rows in line order in another; a taken id anywhere refuses the whole batch (409), nothing
 * written.
 */
export async function pgImport(c: PgClient, op: Extract<WriteOp, { op: 'import' }>, ctx: Ctx): Promise<OpResult> {
  if (!await bandit(c, op.model)) return problem(404, `No bandit model named "${op.model}"`);
  const closing = op.events.map((e) => importedEvent(e.reward, !e.skipLearn));
  return atomically(c, async () => {
    const inserted = new Set((await c.query<{ event_id: string }>(`INSERT INTO events (event_id, model, kind, created_at, deadline_at, payload, hold, reward, reward_count, closed, closed_reason)
      SELECT v.event_id, $1, 'decision', v.created_at, v.created_at, v.payload, v.hold, v.reward, v.reward_count, 1, v.reason
      FROM unnest($2::text[], $3::bigint[], $4::text[], $5::smallint[], $6::float8[], $7::int[], $8::text[]) WITH ORDINALITY
        AS v (event_id, created_at, payload, hold, reward, reward_count, reason, ord)
      ORDER BY v.ord ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
    [op.model, op.events.map((e) => e.eventId), op.events.map((e) => e.createdAt), op.events.map((e) => e.payload), op.events.map((e) => (e.skipLearn ? HOLD_NEVER : HOLD_NONE)),
      closing.map((w) => w.event.reward), closing.map((w) => w.event.count), closing.map((w) => w.event.reason)])).rows.map((r) => r.event_id));
    if (inserted.size < op.events.length) {
      return { value: importConflict(op.events.map((e, index) => ({ index, eventId: e.eventId })).filter(({ eventId }) => !inserted.has(eventId))), undo: true };
    }
    const logged = op.events.map((e, i) => ({ e, w: closing[i]!.log })).filter((x) => x.w !== undefined);
    // One INSERT … SELECT in line order: the seqs follow the lines, the order the models learn them in.
    const seqs = new Map((await c.query<{ seq: number; event_id: string }>(`INSERT INTO rewards (event_id, model, reward, label, source, received_at, learn)
      SELECT v.event_id, $1, v.reward, NULL, 'client', $2, v.learn FROM unnest($3::text[], $4::float8[], $5::smallint[]) WITH ORDINALITY AS v (event_id, reward, learn, ord)
      ORDER BY v.ord RETURNING seq, event_id`,
    [op.model, op.now, logged.map((x) => x.e.eventId), logged.map((x) => x.w!.reward), logged.map((x) => (x.w!.learn ? 1 : 0))])).rows.map((r) => [r.event_id, r.seq]));
    const learns = logged.map(({ e, w }) => learnOf({ event_id: e.eventId, model: op.model, payload: e.payload }, w!, seqs.get(e.eventId)!));
    for (const l of learns) ctx.maxSeq = Math.max(ctx.maxSeq, l.seq);
    return { value: importDone(op.events.length, learns), undo: false };
  });
}
