import type { Db } from '../store/database.js';
import { isStorageFull } from '../store/storage-health.js';
import { DecisionStore, HOLD_NEVER, HOLD_NONE } from './decision-store.js';
import type { ModelConfig, RewardPolicy } from './model-config.js';
import { problem, type Learn, type OpResult } from './op-result.js';
import { RetentionStep, type RetentionOp } from './retention.js';
import { importConflict, importDone, RewardRules, type ActivateOp, type RewardOp } from './reward-rules.js';

/**
 * Every write of the decisions capability as plain data, so a batch can be
 * executed in one transaction on whichever thread owns the writing
 * connection (a worker, or the main thread for in-memory databases).
 */
export type WriteOp =
  // The payload travels as its JSON text: stringifying once on the main thread costs less CPU in all than a
  // structured clone of the object plus a stringify on the writer thread (measured: ~20 µs vs ~28 + 20 µs for 10×20 features).
  // hold: events.hold (deferred, logging mode; absent: learned as usual); imitated: apprentice mode's match.
  | { op: 'decision'; eventId: string; model: string; createdAt: number; deadlineAt: number; payload: string; hold?: number; imitated?: boolean }
  | RewardOp
  | ActivateOp
  // A multi-slot decision (slots.ts): its own row and one decision row per slot, all or none.
  | { op: 'slots'; eventId: string; model: string; createdAt: number; deadlineAt: number; hold?: number; slots: { id: string; eventId: string; payload: string; imitated?: boolean }[] }
  // Closes up to `limit` expired windows of every bandit model (reward-rules.ts).
  // fixedClock: `now` is a given clock (tests), not the current time (PostgreSQL judges windows by its own clock).
  | { op: 'sweep'; now: number; limit: number; fixedClock?: boolean }
  | { op: 'put'; name: string; config: string; state: Uint8Array; reset: boolean; lastSeq: number; now: number }
  | { op: 'delete'; name: string }
  | { op: 'snapshot'; items: { name: string; version: number; seq: number; state: Uint8Array }[]; now: number }
  // Logged events from another system (POST /models/{name}/log): all or none, learned in order.
  | { op: 'import'; model: string; events: ImportedEvent[]; now: number }
  // Reads the models' figures from the tables at this point of the commit order (replicas refresh their counters so).
  | CountersOp
  | RetentionOp;

export type CountersOp = { op: 'counters'; models: { name: string; since: number }[] };

export interface ImportedEvent {
  eventId: string;
  createdAt: number;
  payload: string;
  /** Final reward (the event is closed and learned), or null (closed without one: neither learned nor evaluable). */
  reward: number | null;
  /** DSJSON `_skipLearn`: logged and evaluable, never learned (events.hold = HOLD_NEVER). */
  skipLearn?: boolean;
}

/**
 * Executes batches of write ops against one connection, each op in the group's transaction: the op's own
 * writes here (decisions, models, snapshots, imports), the reward log's rules in reward-rules.ts, log
 * retention in retention.ts.
 */
export class WriteExecutor {
  readonly store: DecisionStore;
  /** Reward policies by model, kept coherent because put/delete run here too. */
  private readonly policies = new Map<string, RewardPolicy | null>();
  private readonly rewards: RewardRules;
  private retention: RetentionStep | undefined;

  constructor(private readonly db: Db) {
    this.store = new DecisionStore(db);
    this.rewards = new RewardRules(db, (model) => this.policy(model));
  }

  /**
   * Runs the ops in one transaction; a failing op fails alone, a failing commit throws. IMMEDIATE: the write
   * lock is taken (waiting out busy_timeout) before the first read, so another connection's commit cannot make
   * a later write in the group fail with "database is locked" (a deferred read-then-write transaction in WAL).
   */
  run(ops: readonly WriteOp[]): OpResult[] {
    const results: OpResult[] = [];
    this.db.transaction(() => {
      for (const op of ops) {
        try {
          // A decision is one INSERT, atomic by itself; the rest read and write several rows, so each gets a savepoint.
          results.push(op.op === 'decision' ? this.one(op) : this.db.transaction(() => this.one(op))());
        } catch (err) {
          // No space (or a transaction SQLite rolled back itself): the whole group fails, so nothing is half-written.
          if (isStorageFull(err) || !this.db.inTransaction) throw err;
          results.push({ problem: { status: 500, detail: err instanceof Error ? err.stack ?? err.message : String(err), internal: true } });
        }
      }
    }).immediate();
    return results;
  }

  private one(op: WriteOp): OpResult {
    switch (op.op) {
      case 'decision': {
        // A model deleted by an op queued ahead of this one: logging would orphan the event.
        if (!this.policy(op.model)) return problem(404, `No bandit model named "${op.model}"`);
        return { inserted: this.store.insertDecision(op.eventId, op.model, op.createdAt, op.deadlineAt, op.payload, op.hold, op.imitated ?? null) };
      }
      case 'slots': {
        if (!this.policy(op.model)) return problem(404, `No bandit model named "${op.model}"`);
        if ([op.eventId, ...op.slots.map((s) => s.eventId)].some((id) => this.store.findEvent(id) !== undefined)) return { inserted: false };
        this.store.insertSlots(op.eventId, op.model, op.createdAt, op.slots.map((s) => s.id));
        for (const s of op.slots) this.store.insertDecision(s.eventId, op.model, op.createdAt, op.deadlineAt, s.payload, op.hold, s.imitated ?? null);
        return { inserted: true };
      }
      case 'reward':
        return this.rewards.receive(op);
      case 'activate':
        return this.rewards.activate(op);
      case 'sweep':
        return { learns: this.rewards.closeExpired(op.now, op.limit) };
      case 'put': {
        const kind = this.store.modelKind(op.name);
        if (kind !== undefined && kind !== 'bandit') return problem(409, `"${op.name}" names a model of kind ${kind}`);
        const current = this.store.models().find((m) => m.name === op.name);
        const version = (current?.version ?? 0) + 1;
        if (current) this.store.updateModel(op.name, op.config, version, op.now);
        else this.store.insertModel(op.name, op.config, version, op.now);
        // Fresh state starts after every reward logged so far; kept state after what it has folded.
        const seq = op.reset ? this.store.maxRewardSeq() : op.lastSeq;
        this.store.writeSnapshot(op.name, version, seq, op.state, op.now);
        this.policies.delete(op.name);
        return { created: !current, version, seq };
      }
      case 'delete':
        this.store.deleteModel(op.name);
        this.store.closeOpenEvents(op.name, 'deleted');
        this.policies.delete(op.name);
        return {};
      case 'snapshot':
        for (const s of op.items) this.store.writeSnapshot(s.name, s.version, s.seq, s.state, op.now);
        return {};
      case 'import':
        return this.importEvents(op);
      case 'retention':
        return { retention: (this.retention ??= new RetentionStep(this.db)).run(op) };
      case 'counters':
        return { counters: op.models.map((m) => ({ model: m.name, since: m.since, stats: this.store.stats(m.name, m.since) })) };
    }
  }

  private policy(model: string): RewardPolicy | null {
    let p = this.policies.get(model);
    if (p === undefined) {
      const row = this.store.models().find((m) => m.name === model);
      p = row ? (JSON.parse(row.config) as ModelConfig).reward : null;
      this.policies.set(model, p);
    }
    return p;
  }

  /** Checked before anything is written, so a refused batch leaves nothing behind (the op's savepoint holds the rest). */
  private importEvents(op: Extract<WriteOp, { op: 'import' }>): OpResult {
    if (!this.policy(op.model)) return problem(404, `No bandit model named "${op.model}"`);
    const taken = op.events.map((e, index) => ({ index, eventId: e.eventId })).filter(({ eventId }) => this.store.findEvent(eventId) !== undefined);
    if (taken.length > 0) return importConflict(taken);
    const learns: Learn[] = [];
    for (const e of op.events) {
      this.store.insertDecision(e.eventId, op.model, e.createdAt, e.createdAt, e.payload, e.skipLearn ? HOLD_NEVER : HOLD_NONE);
      const learn = this.rewards.closeImported(e.eventId, op.model, e.payload, e.reward, op.now, !e.skipLearn);
      if (learn) learns.push(learn);
    }
    return importDone(op.events.length, learns);
  }
}

/** For the writer thread (src/store/commit-worker.ts): this module's URL and its executor factory. */
export const EXECUTOR_MODULE = import.meta.url;
export function createExecutor(db: Db): WriteExecutor {
  return new WriteExecutor(db);
}
