import type { Db } from '../store/database.js';

/**
 * SQL for the images slice over the foundation tables: classifications are
 * `events` of kind 'image', feedback goes to `rewards`, and every weights
 * snapshot written under the data directory gets a `snapshots` row. Events and
 * feedback are written through the ImageWriter (event-writer.ts), which
 * answers only once they are durable.
 */

export const IMAGE_EVENT_KIND = 'image';

/** What a classification event records: enough to answer feedback and to learn from it after a restart. */
export interface ImageEventPayload {
  /** Side of the preprocessed input. */
  imageSize: number;
  /** The preprocessed input, one byte per pixel (value × 255), base64. Lossless: preprocessing ends in 8-bit. */
  pixels: string;
  label: string;
  predicted: number;
  confidence: number;
  probabilities: Record<string, number>;
  glimpses: { step: number; x: number; y: number; sizes: number[] }[];
  /** shifts: the one-pixel shifts the reading averaged (the model's config.shifts), left out when it read the picture once. */
  options: { glimpses: number; samples: number; shifts?: number };
  input: { form: string; format: string; width: number; height: number; bytes: number; inverted: boolean };
  /** Online updates the model had taken when it classified. */
  modelUpdates: number;
}

export interface ImageEventRow {
  eventId: string;
  model: string;
  kind: string;
  rewardCount: number;
  reward: number | null;
  payload: ImageEventPayload;
}

export interface LabelledFeedback {
  seq: number;
  eventId: string;
  label: string;
  pixels: Float32Array;
}

export interface SnapshotRecord {
  version: number;
  rewardSeq: number;
  state: SnapshotState;
}

/** The `state` of a snapshots row: where the weights are and what they were trained from. */
export interface SnapshotState {
  dir: string;
  /** Fingerprint of the shipped model folder the snapshot descends from. */
  base: string;
  updates: number;
}

export function encodePixels(pixels: Float32Array): string {
  return Buffer.from(pixels.map((v) => Math.round(Math.min(1, Math.max(0, v)) * 255))).toString('base64');
}

export function decodePixels(encoded: string): Float32Array {
  const bytes = Buffer.from(encoded, 'base64');
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]! / 255;
  return out;
}

/** The snapshots table is shared with bandit models, whose names cannot contain ':'. */
export function snapshotKey(model: string): string {
  return `image:${model}`;
}

export type FeedbackOutcome =
  | { ok: true; seq: number }
  | { ok: false; reason: 'not-found' | 'duplicate'; reward?: number | null };

export class ImageStore {
  private readonly insertEventStmt;
  private readonly getEventStmt;
  private readonly hasEventStmt;
  private readonly closeEventStmt;
  private readonly insertRewardStmt;
  private readonly labelledAfterStmt;
  private readonly recentLabelledStmt;
  private readonly snapshotsStmt;
  private readonly insertSnapshotStmt;
  private readonly deleteSnapshotStmt;
  private readonly registerModelStmt;
  private readonly modelKindStmt;

  constructor(private readonly db: Db) {
    this.insertEventStmt = db.prepare(
      `INSERT INTO events (event_id, model, kind, created_at, deadline_at, payload) VALUES (?, ?, '${IMAGE_EVENT_KIND}', ?, NULL, ?)`);
    this.getEventStmt = db.prepare('SELECT event_id, model, kind, reward, reward_count, payload FROM events WHERE event_id = ?');
    this.hasEventStmt = db.prepare('SELECT 1 FROM events WHERE event_id = ?');
    this.closeEventStmt = db.prepare(
      'UPDATE events SET reward = ?, reward_count = reward_count + 1, closed = 1 WHERE event_id = ? AND reward_count = 0 AND closed = 0');
    this.insertRewardStmt = db.prepare(
      "INSERT INTO rewards (event_id, model, reward, label, source, received_at) VALUES (?, ?, ?, ?, 'client', ?)");
    const labelled = `SELECT r.seq, r.event_id, r.label, e.payload FROM rewards r JOIN events e ON e.event_id = r.event_id
      WHERE r.model = ? AND e.kind = '${IMAGE_EVENT_KIND}' AND r.label IS NOT NULL`;
    this.labelledAfterStmt = db.prepare(`${labelled} AND r.seq > ? ORDER BY r.seq`);
    this.recentLabelledStmt = db.prepare(`${labelled} AND r.seq <= ? ORDER BY r.seq DESC LIMIT ?`);
    this.snapshotsStmt = db.prepare('SELECT version, reward_seq, state FROM snapshots WHERE model = ? ORDER BY version DESC');
    this.insertSnapshotStmt = db.prepare('INSERT INTO snapshots (model, version, created_at, reward_seq, state) VALUES (?, ?, ?, ?, ?)');
    this.deleteSnapshotStmt = db.prepare('DELETE FROM snapshots WHERE model = ? AND version = ?');
    this.registerModelStmt = db.prepare(`INSERT INTO models (name, kind, config, created_at, updated_at) VALUES (?, 'image', ?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at WHERE models.kind = 'image'`);
    this.modelKindStmt = db.prepare('SELECT kind FROM models WHERE name = ?');
  }

  /** Records a served image model in the shared models table; returns the kind that owns the name. */
  registerModel(name: string, config: Record<string, unknown>, now = Date.now()): string {
    this.registerModelStmt.run(name, JSON.stringify(config), now, now);
    return (this.modelKindStmt.get(name) as { kind: string }).kind;
  }

  /** `payload`: an ImageEventPayload as JSON. */
  insertEvent(eventId: string, model: string, payload: string, createdAt = Date.now()): void {
    this.insertEventStmt.run(eventId, model, createdAt, payload);
  }

  hasEvent(eventId: string): boolean {
    return this.hasEventStmt.get(eventId) !== undefined;
  }

  getEvent(eventId: string): ImageEventRow | undefined {
    const row = this.getEventStmt.get(eventId) as
      { event_id: string; model: string; kind: string; reward: number | null; reward_count: number; payload: string } | undefined;
    if (!row) return undefined;
    return {
      eventId: row.event_id, model: row.model, kind: row.kind, reward: row.reward, rewardCount: row.reward_count,
      payload: JSON.parse(row.payload) as ImageEventPayload,
    };
  }

  /** Joins feedback to its event atomically: exactly one feedback per image event wins. */
  recordFeedback(eventId: string, model: string, reward: number, label: string | null, now = Date.now()): FeedbackOutcome {
    return this.db.transaction((): FeedbackOutcome => {
      const closed = this.closeEventStmt.run(reward, eventId);
      if (closed.changes === 0) {
        const row = this.getEventStmt.get(eventId) as { reward: number | null } | undefined;
        return row ? { ok: false, reason: 'duplicate', reward: row.reward } : { ok: false, reason: 'not-found' };
      }
      const inserted = this.insertRewardStmt.run(eventId, model, reward, label, now);
      return { ok: true, seq: Number(inserted.lastInsertRowid) };
    })();
  }

  private toFeedback(rows: unknown[]): LabelledFeedback[] {
    return (rows as { seq: number; event_id: string; label: string; payload: string }[]).map((r) => ({
      seq: r.seq, eventId: r.event_id, label: r.label,
      pixels: decodePixels((JSON.parse(r.payload) as ImageEventPayload).pixels),
    }));
  }

  /** Labelled feedback with seq > `seq`, oldest first: what a snapshot has not folded in yet. */
  labelledAfter(model: string, seq: number): LabelledFeedback[] {
    return this.toFeedback(this.labelledAfterStmt.all(model, seq));
  }

  /** The `limit` most recent labelled feedback with seq ≤ `seq`, oldest first (to refill a replay buffer). */
  recentLabelled(model: string, seq: number, limit: number): LabelledFeedback[] {
    return this.toFeedback(this.recentLabelledStmt.all(model, seq, limit)).reverse();
  }

  snapshots(model: string): SnapshotRecord[] {
    return (this.snapshotsStmt.all(snapshotKey(model)) as { version: number; reward_seq: number; state: Buffer }[])
      .map((r) => ({ version: r.version, rewardSeq: r.reward_seq, state: JSON.parse(r.state.toString('utf8')) as SnapshotState }));
  }

  recordSnapshot(model: string, version: number, rewardSeq: number, state: SnapshotState, now = Date.now()): void {
    this.insertSnapshotStmt.run(snapshotKey(model), version, now, rewardSeq, Buffer.from(JSON.stringify(state)));
  }

  deleteSnapshot(model: string, version: number): void {
    this.deleteSnapshotStmt.run(snapshotKey(model), version);
  }
}
