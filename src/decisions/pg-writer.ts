import type { BatchRunner } from '../store/group-commit.js';
import { LOCKS, LOG_CHANNEL, MODELS_CHANGED, type PgClient, type PgPool } from '../store/postgres.js';
import { HOLD_NONE, type EventRow } from './decision-store.js';
import type { ModelConfig } from './model-config.js';
import { problem, type Learn, type OpResult } from './op-result.js';
import { completeReward, judgeReward, PG_CLOSE_EXPIRED, type RewardOp } from './reward-rules.js';
import type { WriteOp } from './write-executor.js';
import { pgActivate, pgImport, pgSlots } from './pg-ops.js';
import { pgRetention } from './pg-retention.js';
import { pgModelStats } from './pg-store.js';

/** Longest wait for the follower before a committed group is answered anyway. */
const APPLY_WAIT_MS = 5000;

/** Resolves when `p` settles or after `ms`, whichever is first (the timer does not keep the process alive). */
function within(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    const done = () => { clearTimeout(timer); resolve(); };
    p.then(done, done);
  });
}

type Group = { ops: WriteOp[]; resolve: (r: OpResult[]) => void; reject: (e: unknown) => void };

/**
 * The decisions writer on PostgreSQL: WriteExecutor's ops in this dialect, group-committed. Every group that
 * queued while the previous transaction ran is committed in the next one (as the SQLite writer thread does), so
 * concurrent requests share a transaction and its commit (synchronous_commit: the server's, `on` by default: a
 * 2xx is answered after PostgreSQL's commit returned). Consecutive decisions are one multi-row INSERT.
 *
 * A transaction that appends to the reward log (rewards, sweeps, model changes) holds the LOG advisory lock until
 * it commits, so seqs become visible in increasing order across replicas; decisions alone take no lock. It
 * notifies LOG_CHANNEL on commit. The groups of a transaction are answered once `applied(maxSeq)` resolves: the
 * replica's log follower (log-follower.ts) has folded every row up to it, in log order; memory never learns a
 * row out of that order. A failing op fails alone, as on SQLite (`commit`).
 */
export class PgWriteRunner implements BatchRunner<WriteOp, OpResult> {
  private queue: Group[] = [];
  private pumping = false;
  private answered: Promise<void> = Promise.resolve();
  private idle: (() => void) | undefined;

  constructor(private readonly pool: PgPool, private readonly applied: (seq: number) => Promise<void>) {}

  run(ops: WriteOp[]): Promise<OpResult[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    while (this.queue.length > 0) {
      const groups = this.queue;
      this.queue = [];
      try {
        const { results, maxSeq } = await this.commit(groups.flatMap((g) => g.ops));
        // Committed either way: if following the log stalls (PostgreSQL unreachable for the follower), the answer
        // goes out after APPLY_WAIT_MS and this replica learns the rows when it catches up.
        const learned = maxSeq > 0 ? within(this.applied(maxSeq), APPLY_WAIT_MS) : undefined;
        let at = 0;
        const slices = groups.map((g) => results.slice(at, (at += g.ops.length)));
        // Answered in commit order, each once the follower has folded what its transaction appended.
        this.answered = this.answered.then(() => learned).then(() => groups.forEach((g, i) => g.resolve(slices[i]!)));
      } catch (err) {
        this.answered = this.answered.then(() => groups.forEach((g) => g.reject(err)));
      }
    }
    this.pumping = false;
    this.idle?.();
  }

  /**
   * Commits the ops in one transaction. An unexpected error in one op (a bug, a row it cannot read) fails that op
   * alone, as SQLite's savepoints do: the transaction is rolled back and run again without it (that op answers a
   * 500), and a run of decisions that failed as one INSERT is retried one decision at a time to find the culprit.
   * No savepoints: in PostgreSQL each would be a subtransaction, and more than 64 in one transaction slow every
   * snapshot of the server down; the retry costs nothing until an op fails. An error outside the ops (BEGIN, the
   * lock, COMMIT) or a connection that cannot even roll back fails the whole group.
   */
  private async commit(ops: WriteOp[]): Promise<{ results: OpResult[]; maxSeq: number }> {
    const failed = new Map<number, OpResult>();
    let split = false;
    for (;;) {
      const c = await this.pool.connect();
      const ctx = { maxSeq: 0, notify: false };
      let running: [number, number] | undefined;
      try {
        // One clock for every replica: the times this transaction writes and judges windows by are PostgreSQL's
        // now() (the transaction's start), not the replica's; read with BEGIN, in the same round trip.
        const [, clock] = (await c.query('BEGIN; SELECT (extract(epoch FROM now()) * 1000)::bigint AS now')) as unknown as [unknown, { rows: { now: number }[] }];
        const now = clock.rows[0]!.now;
        const timed = ops.map((o) => atTime(o, now));
        if (timed.some((o, k) => o.op !== 'decision' && o.op !== 'counters' && !failed.has(k))) await c.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.log]);
        const results: OpResult[] = [];
        for (let i = 0; i < timed.length;) {
          if (failed.has(i)) {
            results.push(failed.get(i)!);
            i++;
            continue;
          }
          let j = i;
          while (j < timed.length && timed[j]!.op === 'decision' && !failed.has(j) && (!split || j === i)) j++;
          running = [i, Math.max(j, i + 1)];
          if (j > i) results.push(...await decisions(c, timed.slice(i, j) as Extract<WriteOp, { op: 'decision' }>[]));
          else results.push(await one(c, timed[i]!, ctx));
          i = running[1];
          running = undefined;
        }
        if (ctx.notify || ctx.maxSeq > 0) await c.query('SELECT pg_notify($1, $2)', [LOG_CHANNEL, `${ctx.maxSeq}${ctx.notify ? MODELS_CHANGED : ''}`]);
        await c.query('COMMIT');
        c.release();
        return { results, maxSeq: ctx.maxSeq };
      } catch (err) {
        const usable = await c.query('ROLLBACK').then(() => true, () => false);
        c.release(!usable);
        if (!usable || !running) throw err;
        const [from, to] = running;
        if (to - from > 1) split = true;
        else failed.set(from, { problem: { status: 500, detail: err instanceof Error ? err.stack ?? err.message : String(err), internal: true } });
      }
    }
  }

  async close(): Promise<void> {
    if (this.pumping) await new Promise<void>((resolve) => { this.idle = resolve; });
    await this.answered;
  }
}

/**
 * An op at the database's clock: a decision is logged at `now` with its window's length kept; every op that carries
 * the current time gets `now` instead (a sweep given a fixed clock, and retention, keep theirs).
 */
function atTime(o: WriteOp, now: number): WriteOp {
  if (o.op === 'decision' || o.op === 'slots') return { ...o, createdAt: now, deadlineAt: now + (o.deadlineAt - o.createdAt) };
  if (o.op === 'retention' || (o.op === 'sweep' && o.fixedClock)) return o;
  return 'now' in o ? { ...o, now } : o;
}

/** Decisions as one INSERT; a model deleted meanwhile is a 404, a taken event id answers `inserted: false` (409). */
async function decisions(c: PgClient, ops: Extract<WriteOp, { op: 'decision' }>[]): Promise<OpResult[]> {
  const inserted = new Set((await c.query<{ event_id: string }>(`INSERT INTO events (event_id, model, kind, created_at, deadline_at, payload, hold, imitated)
    SELECT v.event_id, v.model, 'decision', v.created_at, v.deadline_at, v.payload, v.hold, v.imitated
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::smallint[], $7::smallint[])
      AS v (event_id, model, created_at, deadline_at, payload, hold, imitated)
    WHERE EXISTS (SELECT 1 FROM models m WHERE m.name = v.model AND m.kind = 'bandit')
    ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
  [ops.map((o) => o.eventId), ops.map((o) => o.model), ops.map((o) => o.createdAt), ops.map((o) => o.deadlineAt), ops.map((o) => o.payload),
    ops.map((o) => o.hold ?? HOLD_NONE), ops.map((o) => (o.imitated === undefined ? null : o.imitated ? 1 : 0))])).rows.map((r) => r.event_id));
  let missing: Set<string> | undefined;
  if (ops.some((o) => !inserted.has(o.eventId))) {
    const names = [...new Set(ops.map((o) => o.model))];
    const found = new Set((await c.query<{ name: string }>(`SELECT name FROM models WHERE kind = 'bandit' AND name = ANY($1::text[])`, [names])).rows.map((r) => r.name));
    missing = new Set(names.filter((n) => !found.has(n)));
  }
  const seen = new Set<string>();
  return ops.map((o) => {
    if (missing?.has(o.model)) return problem(404, `No bandit model named "${o.model}"`);
    // The same id twice in one statement: the first one is the decision logged.
    const first = !seen.has(o.eventId);
    seen.add(o.eventId);
    return { inserted: first && inserted.has(o.eventId) };
  });
}

async function one(c: PgClient, op: WriteOp, ctx: { maxSeq: number; notify: boolean }): Promise<OpResult> {
  switch (op.op) {
    case 'decision':
      return (await decisions(c, [op]))[0]!;
    case 'reward':
      return reward(c, op, ctx);
    case 'sweep': {
      const rows = (await c.query<Learn & { learn: number }>(PG_CLOSE_EXPIRED, [op.now, op.limit])).rows;
      for (const l of rows) ctx.maxSeq = Math.max(ctx.maxSeq, l.seq);
      return { learns: rows.map(({ learn, ...l }) => (learn ? l : { ...l, held: true as const })) };
    }
    case 'put': {
      const current = (await c.query<{ kind: string; version: number }>('SELECT kind, version FROM models WHERE name = $1 FOR UPDATE', [op.name])).rows[0];
      if (current && current.kind !== 'bandit') return problem(409, `"${op.name}" names a model of kind ${current.kind}`);
      const version = (current?.version ?? 0) + 1;
      if (current) await c.query(`UPDATE models SET config = $1, version = $2, updated_at = $3 WHERE name = $4`, [op.config, version, op.now, op.name]);
      else await c.query(`INSERT INTO models (name, kind, config, created_at, updated_at, version) VALUES ($1, 'bandit', $2, $3, $3, $4)`, [op.name, op.config, op.now, version]);
      // Fresh state starts after every reward logged so far; kept state after what it has folded.
      const seq = op.reset ? (await c.query<{ seq: number }>('SELECT COALESCE(MAX(seq), 0)::bigint AS seq FROM rewards')).rows[0]!.seq : op.lastSeq;
      await c.query('DELETE FROM snapshots WHERE model = $1', [op.name]);
      await c.query('INSERT INTO snapshots (model, version, created_at, reward_seq, state) VALUES ($1, $2, $3, $4, $5)', [op.name, version, op.now, seq, Buffer.from(op.state)]);
      ctx.notify = true;
      return { created: !current, version, seq, at: op.now };
    }
    case 'delete':
      await c.query(`DELETE FROM models WHERE name = $1 AND kind = 'bandit'`, [op.name]);
      await c.query('DELETE FROM snapshots WHERE model = $1', [op.name]);
      await c.query(`UPDATE events SET closed = 1, closed_reason = 'deleted' WHERE model = $1 AND closed = 0 AND kind = 'decision'`, [op.name]);
      ctx.notify = true;
      return {};
    case 'snapshot':
      // Any replica's snapshot of the current version is the log folded up to its seq; the furthest one is kept.
      for (const s of op.items) {
        await c.query(`INSERT INTO snapshots (model, version, created_at, reward_seq, state)
          SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM models WHERE name = $1 AND version = $2)
          ON CONFLICT (model, version) DO UPDATE SET created_at = excluded.created_at, reward_seq = excluded.reward_seq, state = excluded.state
          WHERE snapshots.reward_seq <= excluded.reward_seq`, [s.name, s.version, op.now, s.seq, Buffer.from(s.state)]);
      }
      return {};
    case 'import':
      return pgImport(c, op, ctx);
    case 'activate':
      return pgActivate(c, op, ctx);
    case 'slots':
      return pgSlots(c, op, decisions);
    case 'counters': {
      // Read in this transaction: every earlier commit of this replica is in, every later one out (the pump is
      // serial), and the answer is applied in that order, so the replica's own writes are never counted twice.
      const counters = [];
      for (const m of op.models) counters.push({ model: m.name, since: m.since, stats: await pgModelStats(c, m.name, m.since) });
      return { counters };
    }
    case 'retention':
      return { retention: await pgRetention(c, op) };
  }
}

/** A client's reward: the row locked, the rules' verdict (reward-rules.ts), its rows written in one statement. */
async function reward(c: PgClient, op: RewardOp, ctx: { maxSeq: number }): Promise<OpResult> {
  const row = (await c.query<EventRow & { config: string | null }>(`SELECT e.seq, e.event_id, e.model, e.kind, e.created_at, e.deadline_at, e.payload,
    e.reward, e.reward_count, e.closed, e.closed_reason, e.hold, m.config
    FROM events e LEFT JOIN models m ON m.name = e.model AND m.kind = 'bandit' WHERE e.event_id = $1 FOR UPDATE OF e`, [op.eventId])).rows[0];
  const verdict = judgeReward(row, () => (row?.config ? (JSON.parse(row.config) as ModelConfig).reward : null), op);
  const w = verdict.write;
  if (!w || !row) return verdict.result;
  const seq = (await c.query<{ seq: number }>(`WITH logged AS (
      INSERT INTO rewards (event_id, model, reward, label, source, received_at, learn) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq
    ), updated AS (
      UPDATE events SET reward = $8, reward_count = $9, closed = $10, closed_reason = $11 WHERE event_id = $1
    ) SELECT seq FROM logged`,
  [row.event_id, row.model, w.reward, w.label, w.source, op.now, w.learn ? 1 : 0, w.event.reward, w.event.count, w.event.closed ? 1 : 0, w.event.reason])).rows[0]!.seq;
  ctx.maxSeq = Math.max(ctx.maxSeq, seq);
  return completeReward(verdict, row, seq);
}

/**
 * Creates a model row with its first snapshot unless the name is taken (a replica starting beside others creates
 * `default` once), under the LOG lock: its snapshot starts after every reward logged so far.
 */
export async function ensureModel(pool: PgPool, name: string, config: string, state: Uint8Array, now: number): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.log]);
    const created = await c.query(`INSERT INTO models (name, kind, config, created_at, updated_at, version) VALUES ($1, 'bandit', $2, $3, $3, 1)
      ON CONFLICT (name) DO NOTHING`, [name, config, now]);
    if (created.rowCount === 1) {
      await c.query(`INSERT INTO snapshots (model, version, created_at, reward_seq, state)
        SELECT $1, 1, $2, COALESCE(MAX(seq), 0), $3 FROM rewards`, [name, now, Buffer.from(state)]);
      await c.query('SELECT pg_notify($1, $2)', [LOG_CHANNEL, `0${MODELS_CHANGED}`]);
    }
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
