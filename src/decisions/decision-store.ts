import type { Statement } from 'better-sqlite3';
import type { ActionInput, Features } from '../bandit/index.js';
import type { Db } from '../store/database.js';
import { PayloadCompressor, payloadText, type StoredPayload } from '../store/payload-codec.js';

/** What /decide logs for each decision: enough to learn from it, replay it and evaluate other policies on it. */
export interface DecisionPayload {
  context: Features;
  actions: ActionInput[];
  pmf: number[];
  scores: number[];
  chosen: number;
  probability: number;
  modelVersion: number;
  strategy: string;
  /** The baseline action's id (apprentice and logging modes answer it; evaluations replay it); absent: the first action. */
  baseline?: string;
  /** Indexes of the actions that could not be chosen (excludedActions, or a slot's actions taken by earlier slots). */
  excluded?: number[];
  /** Apprentice and logging modes: the mode, and the index the model itself drew (`chosen` is the baseline, p = 1). */
  mode?: 'apprentice' | 'logging';
  modelChoice?: number;
  /** One slot of a multi-slot decision (src/decisions/slots.ts): the slot's id and the decision's own eventId. */
  slot?: string;
  parent?: string;
}

/** An action as the engine takes it and the log reads it: a plain id becomes `{ id }`. */
export function normalizeAction(a: string | ActionInput): ActionInput {
  return typeof a === 'string' ? { id: a } : a;
}

/**
 * Encodes a decision for the log. With `requestJson` (the /decide body exactly as received, valid JSON) the
 * context and actions are kept as that text instead of being serialised again, which costs as much CPU as
 * parsing the body did; `actions` is then written only when the request had none (a model's fixed list).
 */
export function encodeDecisionPayload(p: DecisionPayload, requestJson?: string, requestHasActions = true): string {
  if (requestJson === undefined) return JSON.stringify(p);
  const decision = {
    ...(requestHasActions ? {} : { actions: p.actions }),
    pmf: p.pmf, scores: p.scores, chosen: p.chosen, probability: p.probability, modelVersion: p.modelVersion, strategy: p.strategy,
    ...(p.baseline !== undefined ? { baseline: p.baseline } : {}),
    ...(p.excluded !== undefined ? { excluded: p.excluded } : {}),
    ...(p.mode !== undefined ? { mode: p.mode, modelChoice: p.modelChoice } : {}),
  };
  return `{"request":${requestJson},"decision":${JSON.stringify(decision)}}`;
}

/** Reads a logged decision in either form `encodeDecisionPayload` writes, stored as text or compressed (src/store/payload-codec.ts). */
export function decodeDecisionPayload(stored: StoredPayload): DecisionPayload {
  const raw = JSON.parse(payloadText(stored)) as DecisionPayload | { request: { context?: Features; actions?: (string | ActionInput)[] }; decision: Omit<DecisionPayload, 'context' | 'actions'> & { actions?: ActionInput[] } };
  if (!('request' in raw)) return raw;
  const { request, decision } = raw;
  const actions = decision.actions ?? (request.actions ?? []).map(normalizeAction);
  return { ...decision, context: request.context ?? {}, actions };
}

export interface EventRow {
  seq: number;
  event_id: string;
  model: string;
  kind: string;
  created_at: number;
  deadline_at: number | null;
  payload: StoredPayload;
  reward: number | null;
  reward_count: number;
  closed: number;
  closed_reason: string | null;
  /** Whether rewards are learned: HOLD_NONE, HOLD_DEFERRED (until activation) or HOLD_NEVER (logging mode). */
  hold: number;
  imitated: number | null;
}

/** A logged decision as an export reads it (GET /models/{name}/log). */
export type ExportRow = Pick<EventRow, 'seq' | 'event_id' | 'created_at' | 'payload' | 'reward' | 'closed' | 'closed_reason' | 'hold'>;

/** A logged event as the decision browser reads it (GET /models/{name}/events, GET /events/{id}). */
export type BrowsedRow = Pick<EventRow, 'seq' | 'event_id' | 'model' | 'kind' | 'created_at' | 'payload' | 'reward' | 'reward_count' | 'closed' | 'closed_reason'>;
/** Its columns. */
export const BROWSED_COLUMNS = 'seq, event_id, model, kind, created_at, payload, reward, reward_count, closed, closed_reason';

/** A learned reward with its decision, as the off-policy estimates read them (off-policy-window.ts). */
export interface RewardedRow {
  seq: number;
  event_id: string;
  payload: StoredPayload;
  reward: number;
}

/** events.hold (migration 195): learned as usual, deferred until activation, never learned (logging mode). */
export const HOLD_NONE = 0;
export const HOLD_DEFERRED = 1;
export const HOLD_NEVER = 2;

export interface ModelRow {
  name: string;
  config: string;
  version: number;
  created_at: number;
  updated_at: number;
}

export interface SnapshotRow {
  version: number;
  reward_seq: number;
  state: Buffer;
}

/** `activated`: a deferred event's reward that arrived before its activation, learned when it was activated. */
export type RewardSource = 'client' | 'default' | 'aggregate' | 'activated';

export interface ModelStats {
  decisions: number;
  pending: number;
  rewardedEvents: number;
  rewardTotal: number;
  clientRewards: number;
  defaultRewards: number;
}

/**
 * Every SQL statement of the decisions capability, prepared once. The
 * bandit's rows live in the foundation's tables: models (kind 'bandit'),
 * events (kind 'decision'), the append-only rewards log and snapshots.
 */
export class DecisionStore {
  private readonly s: Record<string, Statement>;
  private readonly compressor: PayloadCompressor;

  constructor(private readonly db: Db) {
    this.compressor = new PayloadCompressor(db);
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      insertDecision: p(`INSERT INTO events (event_id, model, kind, created_at, deadline_at, payload, hold, imitated)
        VALUES (?, ?, 'decision', ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`),
      findEvent: p('SELECT * FROM events WHERE event_id = ?'),
      // A multi-slot decision's own row (src/decisions/slots.ts): closed from the start, never rewarded or swept.
      insertSlots: p(`INSERT INTO events (event_id, model, kind, created_at, deadline_at, payload, closed, closed_reason)
        VALUES (?, ?, 'slots', ?, NULL, ?, 1, 'slots') ON CONFLICT (event_id) DO NOTHING`),
      insertReward: p(`INSERT INTO rewards (event_id, model, reward, label, source, received_at, learn)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      updateEvent: p('UPDATE events SET reward = ?, reward_count = ?, closed = ?, closed_reason = ? WHERE event_id = ?'),
      setHold: p('UPDATE events SET hold = ? WHERE event_id = ?'),
      maxRewardSeq: p('SELECT COALESCE(MAX(seq), 0) AS seq FROM rewards'),
      models: p(`SELECT name, config, version, created_at, updated_at FROM models WHERE kind = 'bandit' ORDER BY name`),
      modelKind: p('SELECT kind FROM models WHERE name = ?'),
      insertModel: p(`INSERT INTO models (name, kind, config, created_at, updated_at, version) VALUES (?, 'bandit', ?, ?, ?, ?)`),
      updateModel: p(`UPDATE models SET config = ?, version = ?, updated_at = ? WHERE name = ? AND kind = 'bandit'`),
      deleteModel: p(`DELETE FROM models WHERE name = ? AND kind = 'bandit'`),
      deleteSnapshots: p('DELETE FROM snapshots WHERE model = ?'),
      deleteOtherSnapshots: p('DELETE FROM snapshots WHERE model = ? AND version <> ?'),
      closeOpen: p(`UPDATE events SET closed = 1, closed_reason = ? WHERE model = ? AND closed = 0 AND kind = 'decision'`),
      writeSnapshot: p(`INSERT INTO snapshots (model, version, created_at, reward_seq, state) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (model, version) DO UPDATE SET created_at = excluded.created_at, reward_seq = excluded.reward_seq, state = excluded.state`),
      snapshot: p('SELECT version, reward_seq, state FROM snapshots WHERE model = ? AND version = ?'),
      replay: p(`SELECT r.seq AS seq, r.event_id AS eventId, r.reward AS reward, e.payload AS payload FROM rewards r JOIN events e ON e.event_id = r.event_id
        WHERE r.model = ? AND e.kind = 'decision' AND r.seq > ? AND r.learn = 1 ORDER BY r.seq`),
      eventStats: p(`SELECT COUNT(*) AS decisions, COALESCE(SUM(closed = 0), 0) AS pending,
        COALESCE(SUM(reward IS NOT NULL AND closed = 1), 0) AS rewardedEvents,
        COALESCE(SUM(CASE WHEN closed = 1 THEN reward END), 0) AS rewardTotal
        FROM events WHERE model = ? AND kind = 'decision' AND created_at >= ?`),
      apprenticeStats: p(`SELECT COUNT(imitated) AS events, COALESCE(SUM(imitated), 0) AS imitated
        FROM events WHERE model = ? AND kind = 'decision' AND created_at >= ? AND imitated IS NOT NULL`),
      rewardStats: p(`SELECT COALESCE(SUM(source = 'client'), 0) AS clientRewards, COALESCE(SUM(source = 'default'), 0) AS defaultRewards
        FROM rewards WHERE model = ? AND received_at >= ?`),
      // The (model) index is ordered by seq: a page is one range read, newest first.
      browsePage: p(`SELECT ${BROWSED_COLUMNS} FROM events WHERE model = ? AND kind = 'decision' AND seq < ? ORDER BY seq DESC LIMIT ?`),
      browseOne: p(`SELECT ${BROWSED_COLUMNS} FROM events WHERE event_id = ?`),
      exportPage: p(`SELECT seq, event_id, created_at, payload, reward, closed, closed_reason, hold FROM events
        WHERE model = ? AND kind = 'decision' AND created_at >= ? AND created_at < ? AND seq > ? ORDER BY seq LIMIT ?`),
      // Walks the reward log backwards on rewards_model_seq: the model's learned (final) rewards before a position.
      rewardedBefore: p(`SELECT r.seq AS seq, r.event_id AS event_id, e.payload AS payload, r.reward AS reward FROM rewards r
        JOIN events e ON e.event_id = r.event_id
        WHERE r.model = ? AND r.learn = 1 AND r.seq < ? AND e.kind = 'decision' ORDER BY r.seq DESC LIMIT ?`),
    };
  }

  /** False when the event id is taken (the caller answers 409). The payload is stored compressed. */
  insertDecision(eventId: string, model: string, createdAt: number, deadlineAt: number, payload: string, hold = HOLD_NONE, imitated: boolean | null = null): boolean {
    const imitatedValue = imitated === null ? null : imitated ? 1 : 0;
    return this.s.insertDecision!.run(eventId, model, createdAt, deadlineAt, this.compressor.compress(model, payload), hold, imitatedValue).changes === 1;
  }

  /** Apprentice-mode decisions of the model since `since` and how many of them the model's own draw matched. */
  apprenticeStats(model: string, since: number): { events: number; imitated: number } {
    return this.s.apprenticeStats!.get(model, since) as { events: number; imitated: number };
  }

  /** The row of a multi-slot decision, listing its slots (each slot is a decision row of its own). */
  insertSlots(eventId: string, model: string, createdAt: number, slots: readonly string[]): boolean {
    return this.s.insertSlots!.run(eventId, model, createdAt, JSON.stringify({ slots })).changes === 1;
  }

  findEvent(eventId: string): EventRow | undefined {
    return this.s.findEvent!.get(eventId) as EventRow | undefined;
  }

  /** Appends to the reward log; returns its seq (the replay order). */
  insertReward(eventId: string, model: string, reward: number, label: string | null, source: RewardSource, at: number, learn: boolean): number {
    return Number(this.s.insertReward!.run(eventId, model, reward, label, source, at, learn ? 1 : 0).lastInsertRowid);
  }

  updateEvent(eventId: string, reward: number | null, rewardCount: number, closed: boolean, reason: string | null): void {
    this.s.updateEvent!.run(reward, rewardCount, closed ? 1 : 0, reason, eventId);
  }

  setHold(eventId: string, hold: number): void {
    this.s.setHold!.run(hold, eventId);
  }

  maxRewardSeq(): number {
    return (this.s.maxRewardSeq!.get() as { seq: number }).seq;
  }

  models(): ModelRow[] {
    return this.s.models!.all() as ModelRow[];
  }

  /** The kind of the model row under `name`, if any ('bandit', 'image', …). */
  modelKind(name: string): string | undefined {
    return (this.s.modelKind!.get(name) as { kind: string } | undefined)?.kind;
  }

  insertModel(name: string, config: string, version: number, at: number): void {
    this.s.insertModel!.run(name, config, at, at, version);
  }

  updateModel(name: string, config: string, version: number, at: number): void {
    this.s.updateModel!.run(config, version, at, name);
  }

  deleteModel(name: string): void {
    this.s.deleteModel!.run(name);
    this.s.deleteSnapshots!.run(name);
  }

  closeOpenEvents(model: string, reason: string): number {
    return this.s.closeOpen!.run(reason, model).changes;
  }

  writeSnapshot(model: string, version: number, rewardSeq: number, state: Uint8Array, at: number): void {
    this.s.writeSnapshot!.run(model, version, at, rewardSeq, Buffer.from(state.buffer, state.byteOffset, state.byteLength));
    this.s.deleteOtherSnapshots!.run(model, version);
  }

  snapshot(model: string, version: number): SnapshotRow | undefined {
    return this.s.snapshot!.get(model, version) as SnapshotRow | undefined;
  }

  /** Learned reward rows after `afterSeq`, in log order, with their decisions. */
  replay(model: string, afterSeq: number): IterableIterator<{ seq: number; eventId: string; reward: number; payload: StoredPayload }> {
    return this.s.replay!.iterate(model, afterSeq) as IterableIterator<{ seq: number; eventId: string; reward: number; payload: StoredPayload }>;
  }

  stats(model: string, since: number): ModelStats {
    const e = this.s.eventStats!.get(model, since) as { decisions: number; pending: number; rewardedEvents: number; rewardTotal: number };
    const r = this.s.rewardStats!.get(model, since) as { clientRewards: number; defaultRewards: number };
    return { ...e, ...r };
  }

  /** The model's decisions logged before `beforeSeq`, newest first (a page of the decision browser). */
  decisionsBefore(model: string, beforeSeq: number, limit: number): BrowsedRow[] {
    return this.s.browsePage!.all(model, beforeSeq, limit) as BrowsedRow[];
  }

  /** One logged event as the decision browser reads it. */
  findLogged(eventId: string): BrowsedRow | undefined {
    return this.s.browseOne!.get(eventId) as BrowsedRow | undefined;
  }

  /** The model's decisions made in [from, to) logged after `afterSeq`, in log order, up to `limit` (a page of an export). */
  exportPage(model: string, from: number, to: number, afterSeq: number, limit: number): ExportRow[] {
    return this.s.exportPage!.all(model, from, to, afterSeq, limit) as ExportRow[];
  }

  /** The model's learned rewards with seq < `beforeSeq`, newest first: one page of a walk back through the log. */
  rewardedBefore(model: string, beforeSeq: number, limit: number): RewardedRow[] {
    return this.s.rewardedBefore!.all(model, beforeSeq, limit) as RewardedRow[];
  }
}
