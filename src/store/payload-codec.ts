import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';

/** A connection (src/store/database.ts's Db; named here so that module can import this one without a cycle). */
type Db = Database.Database;

/**
 * Compact event payloads: a logged payload (JSON text) is stored as a BLOB, deflated (node:zlib, raw deflate)
 * against a dictionary shared by the events of one model. The dictionary is a recent payload of that model, so
 * whatever repeats from one decision to the next (keys, the action catalogue and its features, most of the
 * context) costs a few bytes; what changes (the PMF and scores, a few context values) is all that is stored.
 * Measured on the benchmark's 10 actions × 10 features body: about 0.25 kB per payload instead of 2.1 kB
 * (`npm run bench:storage`). Decompression gives back the exact text that was logged.
 *
 * Stored form: byte 0 = FORMAT (1), bytes 1..8 = the dictionary's id (the first 8 bytes of its sha256), then
 * the raw deflate stream. Dictionaries are immutable rows of `payload_dictionaries`, never deleted, so any row
 * can be read back by any connection to the database: the reader looks a dictionary up by id in the databases
 * opened in this thread (openConnection registers each one) and caches it. A TEXT payload (rows logged before
 * migration 191, image events) is returned as it is.
 */

export type StoredPayload = string | Uint8Array;

const FORMAT = 1;
const ID_BYTES = 8;
/** A 16 kB window: the dictionary plus the payload fit it for payloads of a few kB; 2^14 windows keep zlib's state small (allocated per call). */
const WINDOW_BITS = 14;
const MEM_LEVEL = 5;
/**
 * zlib level 2 rather than the default 6: on a 4.8 kB /decide payload against its dictionary, 32 µs instead of
 * 56 µs of the writer thread's CPU for 299 instead of 249 bytes (measured in one run). On a 2-core machine that
 * CPU is what the decisions' HTTP rate is bounded by; 50 bytes a row is cheap beside it.
 */
const LEVEL = 2;
/** zlib uses at most the window's size of a dictionary; the tail of a long payload is the part nearest to the data. */
const MAX_DICTIONARY = 8 * 1024;
/** A new dictionary once the current one compresses worse than this (the model's traffic changed shape) ... */
const RETRAIN_RATIO = 0.4;
/** ... and at least this many payloads were written with it, so a table of dictionaries grows slowly. */
const RETRAIN_MIN_USES = 1000;

// ---- reading ----

const sources = new Set<Db>();
const dictionaries = new Map<string, Buffer>();
const lookups = new WeakMap<Db, Statement>();

/** Called for every connection opened (src/store/database.ts): dictionaries are looked up in these. */
export function addDictionarySource(db: Db): void {
  for (const d of sources) if (!d.open) sources.delete(d);
  sources.add(db);
}

function lookup(id: Buffer): Buffer {
  const key = id.toString('hex');
  const cached = dictionaries.get(key);
  if (cached) return cached;
  for (const db of sources) {
    if (!db.open) {
      sources.delete(db);
      continue;
    }
    let stmt = lookups.get(db);
    if (!stmt) {
      try {
        stmt = db.prepare('SELECT dictionary FROM payload_dictionaries WHERE id = ?');
      } catch {
        continue; // a database without the table (an older schema, or another file)
      }
      lookups.set(db, stmt);
    }
    const row = stmt.get(id) as { dictionary: Buffer } | undefined;
    if (row) {
      dictionaries.set(key, row.dictionary);
      return row.dictionary;
    }
  }
  throw new Error(`payload dictionary ${key} not found in any open database`);
}

/** The text a payload was logged as, whichever form it is stored in. */
export function payloadText(stored: StoredPayload): string {
  if (typeof stored === 'string') return stored;
  const bytes = Buffer.isBuffer(stored) ? stored : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (bytes[0] !== FORMAT) throw new Error(`unknown payload format ${bytes[0]}`);
  const id = bytes.subarray(1, 1 + ID_BYTES);
  return inflateRawSync(bytes.subarray(1 + ID_BYTES), { dictionary: lookup(id), windowBits: WINDOW_BITS }).toString('utf8');
}

// ---- writing ----

interface Current {
  id: Buffer;
  dictionary: Buffer;
  uses: number;
}

/**
 * Compresses payloads for one connection (the writer's). Keeps each model's current dictionary and makes a new
 * one, from the payload at hand, when the model has none or the current one stopped fitting; the new
 * dictionary is written in the caller's transaction, so it is durable exactly when the first row using it is.
 */
export class PayloadCompressor {
  private readonly current = new Map<string, Current>();
  private readonly latest: Statement;
  private readonly insert: Statement;
  private readonly exists: Statement;

  constructor(db: Db) {
    this.exists = db.prepare('SELECT 1 FROM payload_dictionaries WHERE id = ?');
    this.latest = db.prepare('SELECT id, dictionary FROM payload_dictionaries WHERE model = ? ORDER BY created_at DESC, rowid DESC LIMIT 1');
    this.insert = db.prepare('INSERT INTO payload_dictionaries (id, model, created_at, dictionary) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING');
  }

  compress(model: string, text: string): Buffer {
    let cur = this.current.get(model);
    if (!cur) {
      const row = this.latest.get(model) as { id: Buffer; dictionary: Buffer } | undefined;
      cur = row ? { id: row.id, dictionary: row.dictionary, uses: 0 } : this.train(model, text);
      this.current.set(model, cur);
    }
    // A dictionary written by a transaction that was rolled back (a full disk) is written again with this row:
    // a lookup by primary key in a small table, so that no row ever names a dictionary that is not stored.
    else if (this.exists.get(cur.id) === undefined) this.insert.run(cur.id, model, Date.now(), cur.dictionary);
    let out = this.deflate(cur, text);
    if (out.length > RETRAIN_RATIO * Buffer.byteLength(text) && cur.uses >= RETRAIN_MIN_USES) {
      cur = this.train(model, text);
      this.current.set(model, cur);
      out = this.deflate(cur, text);
    }
    cur.uses++;
    return out;
  }

  private deflate(cur: Current, text: string): Buffer {
    const z = deflateRawSync(text, { dictionary: cur.dictionary, windowBits: WINDOW_BITS, memLevel: MEM_LEVEL, level: LEVEL });
    const out = Buffer.allocUnsafe(1 + ID_BYTES + z.length);
    out[0] = FORMAT;
    cur.id.copy(out, 1);
    z.copy(out, 1 + ID_BYTES);
    return out;
  }

  private train(model: string, text: string): Current {
    const whole = Buffer.from(text, 'utf8');
    const dictionary = whole.length > MAX_DICTIONARY ? whole.subarray(whole.length - MAX_DICTIONARY) : whole;
    const id = createHash('sha256').update(dictionary).digest().subarray(0, ID_BYTES);
    this.insert.run(id, model, Date.now(), dictionary);
    dictionaries.set(id.toString('hex'), dictionary);
    return { id, dictionary, uses: 0 };
  }
}
