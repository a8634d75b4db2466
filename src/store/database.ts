import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, type Migration } from './migrations.js';
import { addDictionarySource } from './payload-codec.js';

export type Db = Database.Database;

export interface OpenOptions {
  /** File path, or ':memory:'. */
  path: string;
  migrations?: readonly Migration[];
  /** Largest size of the database file (FOCAL_DATABASE_SIZE_LIMIT): beyond it writes fail as on a full disk. */
  maxBytes?: number;
}

export interface ConnectionOptions {
  maxBytes?: number;
}

/**
 * The options each database file was opened with in this process, so that the writer threads' connections
 * (src/store/group-commit.ts) get the same size cap as the main one.
 */
const optionsByPath = new Map<string, ConnectionOptions>();

export function connectionOptions(path: string): ConnectionOptions {
  return optionsByPath.get(path) ?? {};
}

/** The WAL file is truncated back to this after a checkpoint (it would otherwise keep its largest size). */
const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024;

/**
 * Opens the database in WAL mode and brings its schema up to date.
 *
 * synchronous=FULL: in WAL mode, NORMAL only syncs at checkpoints, so a
 * commit can be lost on power failure even though the client got a 2xx.
 * FULL fsyncs the WAL on every commit, which is what "an acknowledged
 * decision survives a crash" requires; group commits keep its cost small.
 */
export function openDatabase({ path, migrations = MIGRATIONS, maxBytes }: OpenOptions): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const options = maxBytes !== undefined ? { maxBytes } : {};
  const db = openConnection(path, options);
  optionsByPath.set(db.name, options);
  migrate(db, migrations);
  return db;
}

/**
 * One more connection with the same guarantees (writer threads open their own).
 *
 * auto_vacuum=INCREMENTAL takes effect on a new database only (an existing one needs a VACUUM: see
 * enableIncrementalVacuum); it lets log retention hand freed pages back to the file system in small steps.
 */
export function openConnection(path: string, options: ConnectionOptions = {}): Db {
  const db = new Database(path);
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`);
  if (options.maxBytes !== undefined) {
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxBytes / pageSize))}`);
  }
  addDictionarySource(db);
  return db;
}

/** Databases up to this size are converted to incremental auto-vacuum at start-up (VACUUM rewrites the whole file). */
export const VACUUM_ON_OPEN_LIMIT = 1024 ** 3;

/**
 * Makes a database created before auto_vacuum=INCREMENTAL was set use it: VACUUM rewrites the file (it needs
 * about as much free space as the file takes, and time in proportion). Done at start-up for files up to
 * VACUUM_ON_OPEN_LIMIT; a larger one is left as it is (retention still frees pages for reuse, the file just
 * does not shrink) until an operator runs `PRAGMA auto_vacuum = INCREMENTAL; VACUUM;` on it while Focal is stopped.
 */
export function enableIncrementalVacuum(db: Db, limitBytes = VACUUM_ON_OPEN_LIMIT): 'already' | 'enabled' | 'too-large' {
  if (db.pragma('auto_vacuum', { simple: true }) === 2) return 'already';
  const bytes = databaseBytes(db);
  if (bytes > limitBytes) return 'too-large';
  db.pragma('auto_vacuum = INCREMENTAL');
  db.exec('VACUUM');
  return db.pragma('auto_vacuum', { simple: true }) === 2 ? 'enabled' : 'too-large';
}

/** Bytes of the database's pages (the file's size after a checkpoint; the WAL is separate). */
export function databaseBytes(db: Db): number {
  return (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
}

export function schemaVersion(db: Db): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

/** Applies every migration not yet recorded, each atomically with its record. */
export function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  const versions = migrations.map((m) => m.version);
  if (new Set(versions).size !== versions.length) throw new Error('Duplicate migration versions');
  const ran: number[] = [];
  // SQLite's procedure for rebuilding a table (migration 191): foreign keys off around the migrations (the
  // pragma cannot change inside a transaction), and checked before each one commits.
  const foreignKeys = db.pragma('foreign_keys', { simple: true }) === 1;
  db.pragma('foreign_keys = OFF');
  try {
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      db.transaction(() => {
        if (m.up) m.up(db);
        else db.exec(m.sql);
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length > 0) throw new Error(`migration ${m.version} leaves ${broken.length} broken foreign key references`);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
      })();
      ran.push(m.version);
    }
  } finally {
    if (foreignKeys) db.pragma('foreign_keys = ON');
  }
  return ran;
}

/** Checkpoints the WAL into the main file and closes; safe to call twice. */
export function closeDatabase(db: Db): void {
  if (!db.open) return;
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}
