import type { StoredPayload } from '../store/payload-codec.js';
import type { ModelStats, RewardSource } from './decision-store.js';
import type { RetentionResult } from './retention.js';

/**
 * What a write op answers, as plain data: it crosses from the writer thread (write-executor.ts) back to the
 * main thread, which folds it into memory (model-learning.ts) and renders its problem (decisions-writer.ts).
 */

/** A reward row folded into a model once the batch holding it is durable. */
export interface Learn {
  model: string;
  eventId: string;
  seq: number;
  payload: StoredPayload;
  reward: number;
  /** 'client' rewards count in the reward metrics, 'default' in the default-reward metric. */
  source: RewardSource;
  /** The row closes a held event (deferred, logging mode) without being learned: counters move, the model does not. */
  held?: true;
}

/** A 4xx (or, with `internal`, a 500) decided by the writer; rendered as a problem document by the caller. */
export interface WriterProblem {
  status: number;
  detail: string;
  extra?: Record<string, unknown>;
  internal?: boolean;
}

/** What one op did: a result for its caller, and what to fold into memory once the batch is durable. */
export interface OpResult {
  problem?: WriterProblem;
  inserted?: boolean;
  status?: number;
  body?: Record<string, unknown>;
  /** The event belongs to another capability: hand the item to the feedback handler of this kind. */
  dispatch?: string;
  learns?: Learn[];
  /** A client reward was recorded (reward metrics and counters move once it is durable). */
  counted?: { model: string; reward: number };
  created?: boolean;
  version?: number;
  seq?: number;
  /** The time the write was made at, when the store's clock decides it (PostgreSQL: the transaction's `now()`). */
  at?: number;
  retention?: RetentionResult;
  /** A `counters` op: each model's figures as the tables hold them, seen from this point of the commit order. */
  counters?: { model: string; since: number; stats: ModelStats }[];
}

export function problem(status: number, detail: string, extra?: Record<string, unknown>): OpResult {
  return { problem: { status, detail, ...(extra ? { extra } : {}) } };
}
