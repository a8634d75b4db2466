import { statSync } from 'node:fs';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { connectionOptions, databaseBytes, openConnection, type Db } from './database.js';

/**
 * Whether the store can write. A write that fails with SQLITE_FULL (the disk, or FOCAL_DATABASE_SIZE_LIMIT, is
 * full) starts the condition: requests answer 503 `/problems/storage-full` with Retry-After (src/http/problem.ts
 * maps the error), /readyz answers 503 so a load balancer stops sending traffic, one warning is logged and
 * `focal_storage_full` is 1. Writes are still attempted (each one either commits whole or not at all). A probe
 * then grows the database by 64 kB every `probeIntervalMs` in a transaction of its own; once that commits, the
 * condition ends with one log line. Only the probe ends it: a small write that happens to fit in a free page
 * must not flip readiness back and forth while the disk is still full.
 */

/** Seconds a client is told to wait (Retry-After), and the probe's default period. */
export const STORAGE_RETRY_AFTER_SECONDS = 5;
const PROBE_BYTES = 64 * 1024;

export function isStorageFull(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  return code === 'SQLITE_FULL' || (typeof message === 'string' && message.includes('database or disk is full'));
}

export interface StorageHealthOptions {
  logger: Logger;
  metrics: Metrics;
  probeIntervalMs?: number;
}

export class StorageHealth {
  private fullSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private probeDb: Db | undefined;
  private readonly probeIntervalMs: number;
  private readonly gauge;
  private readonly episodes;

  constructor(private readonly db: Db, private readonly options: StorageHealthOptions) {
    this.probeIntervalMs = options.probeIntervalMs ?? STORAGE_RETRY_AFTER_SECONDS * 1000;
    const { metrics } = options;
    this.gauge = metrics.gauge('focal_storage_full', '1 while the database cannot write (disk or FOCAL_DATABASE_SIZE_LIMIT full), else 0.');
    this.gauge.set(0);
    this.episodes = metrics.counter('focal_storage_full_episodes_total', 'Times the database became unable to write for lack of space.');
    metrics.gauge('focal_database_bytes', 'Size of the SQLite database: its pages plus its write-ahead log.', [], function collect() {
      this.set(db.open ? databaseBytes(db) + walBytes(db) : 0);
    });
    metrics.gauge('focal_database_free_bytes', 'Free pages inside the database file (reused by new rows; handed back to the file system by incremental vacuum).', [], function collect() {
      this.set(db.open ? (db.pragma('freelist_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number) : 0);
    });
  }

  get full(): boolean {
    return this.fullSince !== undefined;
  }

  /** Reports a failed write; true if it failed for lack of space (the caller need not log it). */
  failed(err: unknown): boolean {
    if (!isStorageFull(err)) return false;
    if (this.fullSince === undefined) {
      this.fullSince = Date.now();
      this.gauge.set(1);
      this.episodes.inc();
      this.options.logger.warn({ err: { message: (err as Error).message, code: 'SQLITE_FULL' } },
        'storage full: writes answer 503 and /readyz is not ready until space returns');
      this.timer = setInterval(() => this.probe(), this.probeIntervalMs);
      this.timer.unref();
    }
    return true;
  }

  /** One write of PROBE_BYTES, committed then removed; success ends the condition. */
  probe(): boolean {
    if (this.fullSince === undefined) return true;
    if (!this.db.open) {
      this.stop();
      return false;
    }
    try {
      // A connection of its own with no busy wait: the probe never holds the event loop behind the writer's lock.
      this.probeDb ??= this.db.memory ? this.db : openConnection(this.db.name, connectionOptions(this.db.name));
      if (this.probeDb !== this.db) this.probeDb.pragma('busy_timeout = 0');
      const db = this.probeDb;
      db.transaction(() => {
        db.prepare('INSERT INTO storage_probe (filler) VALUES (zeroblob(?))').run(PROBE_BYTES);
        db.prepare('DELETE FROM storage_probe').run();
      }).immediate();
    } catch {
      return false;
    }
    const seconds = (Date.now() - this.fullSince) / 1000;
    this.fullSince = undefined;
    this.gauge.set(0);
    this.stop();
    this.options.logger.info({ seconds }, 'storage writable again: writes and readiness resume');
    return true;
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.probeDb && this.probeDb !== this.db && this.probeDb.open) this.probeDb.close();
    this.probeDb = undefined;
  }

  close(): void {
    this.stop();
  }
}

function walBytes(db: Db): number {
  if (db.memory) return 0;
  try {
    return statSync(`${db.name}-wal`).size;
  } catch {
    return 0;
  }
}

const healthByDb = new WeakMap<Db, StorageHealth>();

/** Creates the one StorageHealth of `db` (createApp does, with the app's logger and metrics). */
export function attachStorageHealth(db: Db, options: StorageHealthOptions): StorageHealth {
  const health = new StorageHealth(db, options);
  healthByDb.set(db, health);
  return health;
}

/** The StorageHealth of `db`, for writers that report their failures to it; undefined outside an app. */
export function storageHealth(db: Db): StorageHealth | undefined {
  return healthByDb.get(db);
}
