import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { closeDatabase, migrate, openDatabase, schemaVersion } from '../../src/store/database.js';
import { MIGRATIONS, type Migration } from '../../src/store/migrations.js';

const dir = mkdtempSync(join(tmpdir(), 'focal-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('store', () => {
  it('opens in WAL mode with synchronous=FULL and the latest schema', () => {
    const db = openDatabase({ path: join(dir, 'a', 'nested', 'focal.db') });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('synchronous', { simple: true }), 2); // 2 = FULL
    assert.equal(schemaVersion(db), Math.max(...MIGRATIONS.map((m) => m.version)));
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    for (const t of ['models', 'events', 'rewards', 'snapshots', 'schema_migrations']) assert.ok(tables.includes(t), t);
    closeDatabase(db);
    closeDatabase(db); // idempotent
  });

  it('migrates an existing database forward, keeping its data, and is idempotent', () => {
    const path = join(dir, 'existing.db');
    const first = MIGRATIONS.filter((m) => m.version === 1);
    const db = openDatabase({ path, migrations: first });
    db.prepare("INSERT INTO events (event_id, model, kind, created_at, payload) VALUES ('e1', 'default', 'decision', 1, '{}')").run();
    closeDatabase(db);

    const extra: Migration = { version: 99, name: 'test: add a column', sql: 'ALTER TABLE events ADD COLUMN note TEXT' };
    const again = openDatabase({ path, migrations: [...first, extra] });
    assert.equal(schemaVersion(again), 99);
    const row = again.prepare("SELECT event_id, note FROM events WHERE event_id = 'e1'").get() as { event_id: string; note: string | null };
    assert.deepEqual({ ...row }, { event_id: 'e1', note: null });
    assert.deepEqual(migrate(again, [...first, extra]), []);
    closeDatabase(again);
  });

  it('rolls back a failing migration and records nothing', () => {
    const path = join(dir, 'failing.db');
    const db = openDatabase({ path, migrations: MIGRATIONS.filter((m) => m.version === 1) });
    const broken: Migration = { version: 50, name: 'broken', sql: 'CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);' };
    assert.throws(() => migrate(db, [broken]), /no such table: nowhere/);
    assert.equal(schemaVersion(db), 1);
    const half = db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'half'").get() as { n: number };
    assert.equal(half.n, 0);
    closeDatabase(db);
  });

  it('refuses duplicate migration versions', () => {
    const db = openDatabase({ path: ':memory:', migrations: [] });
    assert.throws(() => migrate(db, [{ version: 7, name: 'a', sql: '' }, { version: 7, name: 'b', sql: '' }]), /Duplicate/);
    db.close();
  });
});
