import type { Db } from '../store/database.js';
import type { StoredPayload } from '../store/payload-codec.js';
import { isStorageFull } from '../store/storage-health.js';
import { DecisionStore, type EventRow } from './decision-store.js';
import { RetentionStep, type RetentionOp, type RetentionResult } from './retention.js';
import type { ModelConfig, RewardPolicy } from './model-config.js';
import { WindowCloser } from './window-closer.js';

/**
 * Every write of the decisions capability as plain data, so a batch can be
 * executed in one transaction on whichever thread owns the writing
 * connection (a worker, or the main thread for in-memory databases).
 */
export type WriteOp =
  // The payload travels as its JSON text: stringifying once on the main thread costs less CPU in all than a
  // structured clone of the object plus a stringify on the writer thread (measured: ~20 µs vs ~28 + 20 µs for 10×20 features).
  | { op: 'decision'; eventId: string; model: string; createdAt: number; deadlineAt: number; payload: string }
  | { op: 'reward'; eventId: string; reward?: number; label?: string; now: number }
  // Closes up to `limit` expired windows of every bandit model (window-closer.ts).
  | { op: 'sweep'; now: number; limit: number }
  | { op: 'put'; name: string; config: string; state: Uint8Array; reset: boolean; lastSeq: number; now: number }
  | { op: 'delete'; name: string }
  | { op: 'snapshot'; items: { name: string; version: number; seq: number; state: Uint8Array }[]; now: number }
  // Logged events from another system (POST /models/{name}/log): all or none, learned in order.
  | { op: 'import'; model: string; events: ImportedEvent[]; now: number }
  | RetentionOp;

export interface ImportedEvent {
  eventId: string;
  createdAt: number;
  payload: string;
  /** Final reward (the event is closed and learned), or null (closed without one: neither learned nor evaluable). */
  reward: number | null;
}

/** A reward row folded into a model once the batch holding it is durable. */
export interface Learn {
  model: string;
  eventId: string;
  seq: number;
  payload: StoredPayload;
  reward: number;
  /** 'client' rewards count in the reward metrics, 'default' in the default-reward metric. */
  source: 'client' | 'default' | 'aggregate';
}

/** What one op did: a result for its caller, and what to fold into memory once the batch is durable. */
export interface OpResult {
  /** A 4xx (or, with `internal`, a 500) decided by the writer; rendered as a problem document by the caller. */
  problem?: { status: number; detail: string; extra?: Record<string, unknown>; internal?: boolean };
  inserted?: boolean;
  status?: number;
  body?: Record<string, unknown>;
  /** The event belongs to another capability: hand the item to the feedback handler of this kind. */
  dispatch?: string;
  learns?: Learn[];
  counted?: { model: string; reward: number };
  created?: boolean;
  version?: number;
  seq?: number;
  retention?: RetentionResult;
}

function problem(status: number, detail: string, extra?: Record<string, unknown>): OpResult {
  return { problem: { status, detail, ...(extra ? { extra } : {}) } };
}

/**
 * Executes batches of write ops against one connection. The reward logic
 * (join, duplicate, window, aggregation) lives here because it must read and
 * write in the same transaction as the decisions queued before it.
 */
export class WriteExecutor {
  readonly store: DecisionStore;
  /** Reward policies by model, kept coherent because put/delete run here too. */
  private readonly policies = new Map<string, RewardPolicy | null>();
  private readonly windows: WindowCloser;
  private retention: RetentionStep | undefined;

  constructor(private readonly db: Db) {
    this.store = new DecisionStore(db);
    this.windows = new WindowCloser(db);
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
        return { inserted: this.store.insertDecision(op.eventId, op.model, op.createdAt, op.deadlineAt, op.payload) };
      }
      case 'reward':
        return this.reward(op);
      case 'sweep':
        return { learns: this.windows.closeExpired(op.now, op.limit) };
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

  private reward(op: Extract<WriteOp, { op: 'reward' }>): OpResult {
    const row = this.store.findEvent(op.eventId);
    if (!row) return problem(404, `No logged event with eventId "${op.eventId}"`);
    if (row.kind !== 'decision') return { dispatch: row.kind };
    if (op.reward === undefined) return problem(400, 'reward is required for a decision event (label applies to image events)', { errors: [{ path: '/reward', message: 'is required' }] });
    if (row.closed) {
      if (row.closed_reason === 'reward') {
        return problem(409, `Event "${row.event_id}" was already rewarded (aggregation first)`, { eventId: row.event_id, reward: row.reward });
      }
      return gone(row, row.closed_reason === 'deleted' ? 'its model was deleted' : 'its reward window closed');
    }
    const policy = this.policy(row.model);
    if (!policy) return problem(404, `Model "${row.model}" of event "${row.event_id}" no longer exists`);
    if (row.deadline_at !== null && op.now >= row.deadline_at) {
      const learn = this.closeExpired(row, policy, op.now);
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
    const seq = this.store.insertReward(row.event_id, row.model, reward, op.label ?? null, 'client', op.now, true);
    this.store.updateEvent(row.event_id, reward, row.reward_count + 1, true, 'reward');
    return {
      status: 200, body: { eventId: row.event_id, reward, applied: true }, counted,
      learns: [{ model: row.model, eventId: row.event_id, seq, payload: row.payload, reward, source: 'client' }],
    };
  }

  /** Checked before anything is written, so a refused batch leaves nothing behind (the op's savepoint holds the rest). */
  private importEvents(op: Extract<WriteOp, { op: 'import' }>): OpResult {
    if (!this.policy(op.model)) return problem(404, `No bandit model named "${op.model}"`);
    const taken = op.events.map((e, i) => ({ i, e })).filter(({ e }) => this.store.findEvent(e.eventId) !== undefined);
    if (taken.length > 0) {
      return problem(409, `${taken.length} event id(s) are already logged, e.g. "${taken[0]!.e.eventId}"; nothing was imported`,
        { lines: taken.slice(0, 100).map(({ i, e }) => ({ index: i, eventId: e.eventId })) });
    }
    const learns: Learn[] = [];
    for (const e of op.events) {
      this.store.insertDecision(e.eventId, op.model, e.createdAt, e.createdAt, e.payload);
      if (e.reward === null) {
        this.store.updateEvent(e.eventId, null, 0, true, 'imported');
        continue;
      }
      const seq = this.store.insertReward(e.eventId, op.model, e.reward, null, 'client', op.now, true);
      this.store.updateEvent(e.eventId, e.reward, 1, true, 'reward');
      learns.push({ model: op.model, eventId: e.eventId, seq, payload: e.payload, reward: e.reward, source: 'client' });
    }
    return { status: 200, body: { imported: op.events.length, learned: learns.length }, learns };
  }

  /** Closes an event whose window passed: the sum so far (aggregation sum) or the default reward is learned. */
  private closeExpired(row: EventRow, policy: RewardPolicy, now: number): Learn {
    const aggregated = row.reward_count > 0;
    const reward = aggregated ? row.reward ?? 0 : policy.default;
    const source = aggregated ? 'aggregate' : 'default';
    const seq = this.store.insertReward(row.event_id, row.model, reward, null, source, now, true);
    this.store.updateEvent(row.event_id, reward, row.reward_count, true, 'window');
    return { model: row.model, eventId: row.event_id, seq, payload: row.payload, reward, source };
  }
}

function gone(row: Pick<EventRow, 'event_id' | 'reward'>, why: string): OpResult {
  return problem(410, `Event "${row.event_id}" no longer accepts rewards: ${why}`, { eventId: row.event_id, reward: row.reward, applied: false });
}

/** For the writer thread (src/store/commit-worker.ts): this module's URL and its executor factory. */
export const EXECUTOR_MODULE = import.meta.url;
export function createExecutor(db: Db): WriteExecutor {
  return new WriteExecutor(db);
}
