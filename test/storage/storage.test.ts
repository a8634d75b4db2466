/**
 * Storage (issue 18): compact payloads read back exactly in both forms, an old database migrated, retention
 * that keeps open windows and what replay needs, and a full disk as a 503 that heals by itself.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import request from 'supertest';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';
import { createLogger } from '../../src/platform/logger.js';
import { Metrics } from '../../src/platform/metrics.js';
import { closeDatabase, openConnection, openDatabase } from '../../src/store/database.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { payloadText } from '../../src/store/payload-codec.js';
import { startHarness, type Harness } from '../decisions/harness.js';

/** The benchmark's shape: 10 actions × 10 features, 10 context features (bench/storage.ts). */
function body(seed: number, eventId?: string): Record<string, unknown> {
  const actions = Array.from({ length: 10 }, (_, a) => ({
    id: `article-${a}`,
    features: Object.fromEntries(Array.from({ length: 10 }, (_, f) => [`f${f}`, f % 3 === 0 ? `cat-${(a + f) % 7}` : ((a + 1) * (f + 1)) % 13 / 4])),
  }));
  return {
    context: { user: { age: 20 + (seed % 50), country: ['DE', 'FR', 'US'][seed % 3], premium: seed % 2 === 0, tenure: seed % 400 }, device: seed % 2 ? 'mobile' : 'desktop', hour: seed % 24, weekday: seed % 7, referrer: 'search', region: 'eu', session: seed },
    actions, ...(eventId ? { eventId } : {}),
  };
}

const tmp = mkdtempSync(join(tmpdir(), 'focal-storage-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const count = (h: Harness, sql: string, ...args: unknown[]) => (h.db.prepare(sql).get(...args) as { n: number }).n;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('compact payloads', () => {
  it('stores a decision compressed, under 0.5 kB a row, and reads back exactly what was logged', async () => {
    const h = await startHarness({ dir: mkdtempSync(join(tmp, 'c-')) });
    try {
      const sent: { body: Record<string, unknown>; res: { eventId: string; action: string; probability: number } }[] = [];
      for (let i = 0; i < 40; i++) {
        const b = body(i);
        sent.push({ body: b, res: (await request(h.focal.app).post('/decide').send(b).expect(200)).body });
      }
      let bytes = 0;
      let text = 0;
      for (const { body: b, res } of sent) {
        const row = h.db.prepare('SELECT payload, typeof(payload) AS t FROM events WHERE event_id = ?').get(res.eventId) as { payload: Buffer; t: string };
        assert.equal(row.t, 'blob');
        bytes += row.payload.length;
        text += Buffer.byteLength(payloadText(row.payload));
        const p = decodeDecisionPayload(row.payload);
        assert.deepEqual(p.context, b.context);
        assert.deepEqual(p.actions, b.actions);
        assert.equal(p.actions[p.chosen]!.id, res.action);
        assert.equal(p.probability, res.probability);
        assert.equal(p.pmf.length, 10);
        // The text inside is the form logged before compression, byte for byte.
        assert.ok(payloadText(row.payload).startsWith(`{"request":${JSON.stringify(b)},"decision":`));
      }
      const perRow = bytes / sent.length;
      assert.ok(perRow < 0.25 * (text / sent.length), `${perRow} bytes stored for ${text / sent.length} bytes of text`);
      assert.ok(perRow < 400, `${perRow} bytes per payload`);
      // The whole log's size, as GET /models/default shows it.
      const view = (await request(h.focal.app).get('/models/default').expect(200)).body;
      assert.equal(view.stats.log.events, 40);
      assert.equal(view.stats.log.bytes, count(h, "SELECT SUM(octet_length(payload) + octet_length(event_id)) AS n FROM events WHERE model = 'default'"));
      assert.equal(view.stats.log.retention, '30d');
      assert.ok(Date.parse(view.stats.log.oldest) <= Date.now());
    } finally {
      await h.close();
    }
  });

  it('migrates a database of the earlier schema: text payloads read as they are, replay gives the same fingerprint', async () => {
    // A log made by this version, then rewritten into a database of the schema before 191, with text payloads (the earlier form).
    const first = await startHarness({ dir: mkdtempSync(join(tmp, 'm-')) });
    await request(first.focal.app).put('/models/m').send({ reward: { waitSeconds: 600 } }).expect(200);
    for (let i = 0; i < 30; i++) {
      const d = (await request(first.focal.app).post('/decide').send({ ...body(i), model: 'm' }).expect(200)).body;
      if (i % 3 !== 0) await request(first.focal.app).post('/reward').send({ eventId: d.eventId, reward: i % 2 }).expect(200);
    }
    const fingerprint = (await request(first.focal.app).get('/models/m').expect(200)).body.stats.fingerprint;
    const models = first.db.prepare('SELECT * FROM models').all() as Record<string, unknown>[];
    // Columns of later migrations (195: hold, imitated; at their defaults here) do not exist in the schema before 191.
    const events = (first.db.prepare('SELECT * FROM events ORDER BY seq').all() as Record<string, unknown>[])
      .map(({ hold: _hold, imitated: _imitated, ...e }) => ({ ...e, payload: payloadText(e.payload as Buffer) }));
    const rewards = first.db.prepare('SELECT * FROM rewards ORDER BY seq').all() as Record<string, unknown>[];
    await first.close();

    const dir = mkdtempSync(join(tmp, 'old-'));
    const old = openDatabase({ path: join(dir, 'focal.db'), migrations: MIGRATIONS.filter((m) => m.version < 191) });
    const insert = (table: string, row: Record<string, unknown>) => {
      const cols = Object.keys(row);
      old.prepare(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`).run(...cols.map((c) => row[c]));
    };
    old.transaction(() => {
      for (const m of models) insert('models', m);
      for (const e of events) insert('events', e);
      for (const r of rewards) insert('rewards', r);
    })();
    closeDatabase(old);

    // No snapshot: the model is rebuilt by replaying every reward over the text payloads.
    const h = await startHarness({ dir });
    try {
      assert.equal(count(h, "SELECT COUNT(*) AS n FROM events WHERE typeof(payload) = 'text'"), 30);
      const view = (await request(h.focal.app).get('/models/m').expect(200)).body;
      assert.equal(view.stats.fingerprint, fingerprint);
      assert.equal(view.stats.log.events, 30);
      // New decisions go in compressed, beside the old rows.
      await request(h.focal.app).post('/decide').send({ ...body(99), model: 'm' }).expect(200);
      assert.equal(count(h, "SELECT COUNT(*) AS n FROM events WHERE typeof(payload) = 'blob'"), 1);
      assert.equal((await request(h.focal.app).get('/models/m').expect(200)).body.stats.log.events, 31);
    } finally {
      await h.close();
    }
  });
});

describe('retention', () => {
  it('deletes old closed events in the background, keeps open windows, and a restart gives the same fingerprint', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const h = await startHarness({
      dir: mkdtempSync(join(tmp, 'r-')), metrics,
      config: { logRetentionMs: 60_000 },
      decisions: { sweepIntervalMs: 100, retention: { intervalMs: 200, batch: 7 } },
    });
    try {
      const app = h.focal.app;
      // `short`: 2-second retention, 1-second windows; `open`: the same retention but windows of 10 minutes.
      const put = await request(app).put('/models/short').send({ reward: { waitSeconds: 1 }, log: { retention: '2s' } }).expect(200);
      assert.deepEqual(put.body.config.log, { retention: '2s' });
      // What GET shows goes back through PUT unchanged (the full config's round trip is the decisions slice's).
      const got = (await request(app).get('/models/short').expect(200)).body.config;
      const again = await request(app).put('/models/short').send({ reward: got.reward, log: got.log }).expect(200);
      assert.deepEqual(again.body.config.log, { retention: '2s' });
      await request(app).put('/models/open').send({ reward: { waitSeconds: 600 }, log: { retention: '2s' } }).expect(200);
      await request(app).put('/models/bad').send({ log: { retention: '2 weeks' } }).expect(400);

      const shortIds: string[] = [];
      const openIds: string[] = [];
      for (let i = 0; i < 40; i++) {
        const s = (await request(app).post('/decide').send({ ...body(i), model: 'short' }).expect(200)).body;
        shortIds.push(s.eventId);
        if (i % 2 === 0) await request(app).post('/reward').send({ eventId: s.eventId, reward: (i % 4) / 3 }).expect(200);
        openIds.push((await request(app).post('/decide').send({ ...body(i), model: 'open' }).expect(200)).body.eventId);
      }
      // Apprentice-mode decisions deleted leave stats.apprentice, as the tables count it.
      await request(app).put('/models/appr').send({ mode: 'apprentice', actions: ['a', 'b'], reward: { waitSeconds: 1 }, log: { retention: '2s' } }).expect(200);
      for (let i = 0; i < 6; i++) await request(app).post('/decide').send({ ...body(i), actions: undefined, model: 'appr' }).expect(200);
      assert.equal((await request(app).get('/models/appr').expect(200)).body.stats.apprentice.events, 6);
      await until('old short events deleted', () => count(h, "SELECT COUNT(*) AS n FROM events WHERE model = 'short'") === 0);
      await until('old apprentice events deleted', () => count(h, "SELECT COUNT(*) AS n FROM events WHERE model = 'appr'") === 0);
      assert.deepEqual((await request(app).get('/models/appr').expect(200)).body.stats.apprentice, { events: 0, imitated: 0, imitationRate: null });
      assert.equal(count(h, "SELECT COUNT(*) AS n FROM rewards WHERE model = 'short'"), 0, 'their rewards go with them');
      // Older than the retention too, but their reward window is open: kept, and a reward still lands.
      assert.equal(count(h, "SELECT COUNT(*) AS n FROM events WHERE model = 'open'"), 40);
      // The gauges, read before the reward below closes openIds[0]'s window: a retention pass (every 200 ms) may
      // then delete that event, and a slow run read 39.
      const metricsText = await metrics.text();
      assert.match(metricsText, /focal_log_events_deleted_total\{model="short"\} 40/);
      assert.match(metricsText, /focal_log_events\{model="open"\} 40/);
      assert.match(metricsText, /focal_database_bytes \d+/);
      assert.match(metricsText, /focal_log_oldest_event_age_seconds\{model="open"\} \d/);
      await request(app).post('/reward').send({ eventId: openIds[0], reward: 1 }).expect(200);
      await request(app).post('/reward').send({ eventId: shortIds[1], reward: 1 }).expect(404);

      const view = (await request(app).get('/models/short').expect(200)).body;
      assert.equal(view.stats.log.events, 0);
      assert.equal(view.stats.log.oldest, null);
      assert.equal(view.stats.updates, 40, 'the deleted events were learned before they went');
      // The counts cover the events kept, in memory as in the tables (a restart loads them from the tables).
      assert.equal(view.stats.decisions, 0);
      for (const name of ['short', 'open']) {
        const v = (await request(app).get(`/models/${name}`).expect(200)).body;
        const tables = h.service.store.stats(name, Date.parse(v.createdAt));
        for (const [k, x] of Object.entries(tables)) assert.ok(Math.abs(v.stats[k] - x) < 1e-9, `${name} ${k}: ${v.stats[k]} vs ${x}`);
      }

      // A crash now (a copy of what is committed, no shutdown snapshot) comes back with the same learned state.
      const copy = join(mkdtempSync(join(tmp, 'copy-')), 'focal.db');
      await h.db.backup(copy);
      const restarted = await startHarness({ dir: join(copy, '..') });
      try {
        for (const name of ['short', 'open']) {
          const before = (await request(app).get(`/models/${name}`).expect(200)).body.stats;
          const afterRestart = (await request(restarted.focal.app).get(`/models/${name}`).expect(200)).body.stats;
          assert.equal(afterRestart.fingerprint, before.fingerprint, name);
        }
      } finally {
        await restarted.close();
      }
    } finally {
      await h.close();
    }
  });
});

describe('a full disk', () => {
  it('answers 503 storage-full with Retry-After, is not ready, logs once each way, heals by itself and loses nothing acknowledged', async () => {
    const lines: { msg: string; level: number }[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString('utf8')) as { msg: string; level: number }); done(); } });
    const metrics = new Metrics({ defaultMetrics: false });
    const dir = mkdtempSync(join(tmp, 'full-'));
    const h = await startHarness({ dir, logger: createLogger('info', sink), metrics, config: { maxDatabaseBytes: 4 * 1024 * 1024 } });
    // Another connection without the cap takes the space up to it (as another program filling the disk would).
    const other = openConnection(join(dir, 'focal.db'));
    try {
      const app = h.focal.app;
      other.exec('CREATE TABLE filler (b BLOB)');
      const pageSize = other.pragma('page_size', { simple: true }) as number;
      while ((other.pragma('page_count', { simple: true }) as number) * pageSize < 4 * 1024 * 1024) other.prepare('INSERT INTO filler VALUES (zeroblob(65536))').run();

      const acked: string[] = [];
      const refused: string[] = [];
      let i = 0;
      for (; refused.length < 5 && i < 2000; i++) {
        const eventId = `full-${i}`;
        const res = await request(app).post('/decide').send(body(i, eventId));
        if (res.status === 200) acked.push(eventId);
        else {
          assert.equal(res.status, 503, JSON.stringify(res.body));
          assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
          assert.equal(res.body.type, '/problems/storage-full');
          assert.equal(res.headers['retry-after'], '5');
          refused.push(eventId);
        }
      }
      assert.equal(refused.length, 5, 'the cap was reached');
      await request(app).get('/readyz').expect(503);
      assert.match(await metrics.text(), /focal_storage_full 1/);
      // Rewards need space too.
      if (acked.length > 0) {
        const r = await request(app).post('/reward').send({ eventId: acked[0], reward: 1 });
        assert.ok(r.status === 503 || r.status === 200, String(r.status));
      }
      const started = lines.filter((l) => l.msg.startsWith('storage full')).length;
      assert.equal(started, 1, 'one log line when the condition starts, not one per request');
      assert.equal(lines.filter((l) => l.level >= 50).length, 0, 'no error lines per failed request');

      // Space returns: the probe notices within Retry-After, without any request.
      other.exec('DELETE FROM filler');
      await until('ready again', async () => (await request(app).get('/readyz')).status === 200, 15_000);
      assert.equal(lines.filter((l) => l.msg.startsWith('storage writable again')).length, 1);
      assert.match(await metrics.text(), /focal_storage_full 0/);
      const resumed = `full-${i}`;
      await request(app).post('/decide').send(body(i, resumed)).expect(200);
      acked.push(resumed);

      // Every acknowledged decision is there, whole; nothing refused was written.
      for (const id of acked) {
        const row = h.db.prepare('SELECT payload FROM events WHERE event_id = ?').get(id) as { payload: Buffer } | undefined;
        assert.ok(row, `acknowledged ${id} is in the log`);
        assert.ok(decodeDecisionPayload(row.payload).pmf.length === 10);
      }
      for (const id of refused) assert.equal(count(h, 'SELECT COUNT(*) AS n FROM events WHERE event_id = ?', id), 0, `refused ${id} was not written`);
      // A refused id can be sent again.
      await request(app).post('/decide').send(body(0, refused[0]!)).expect(200);
    } finally {
      other.close();
      await h.close();
    }
  });
});

describe('incremental vacuum', () => {
  it('converts a database made without it, once, and reports a file too large to convert at start-up', async () => {
    const { default: Database } = await import('better-sqlite3');
    const { enableIncrementalVacuum } = await import('../../src/store/database.js');
    const path = join(mkdtempSync(join(tmp, 'v-')), 'focal.db');
    const raw = new Database(path);
    raw.pragma('journal_mode = WAL');
    raw.exec('CREATE TABLE t (x BLOB)');
    raw.close();
    const db = openDatabase({ path });
    try {
      assert.equal(db.pragma('auto_vacuum', { simple: true }), 0);
      assert.equal(enableIncrementalVacuum(db, 0), 'too-large');
      assert.equal(db.pragma('auto_vacuum', { simple: true }), 0);
      assert.equal(enableIncrementalVacuum(db), 'enabled');
      assert.equal(db.pragma('auto_vacuum', { simple: true }), 2);
      assert.equal(enableIncrementalVacuum(db), 'already');
      // A new database has it from the start.
      const fresh = openDatabase({ path: join(mkdtempSync(join(tmp, 'v-')), 'focal.db') });
      assert.equal(fresh.pragma('auto_vacuum', { simple: true }), 2);
      closeDatabase(fresh);
    } finally {
      closeDatabase(db);
    }
  });
});

describe('a full disk (a real one: a small tmpfs, when this process may mount one)', () => {
  it('starts its writer on a full disk, answers 503 and heals when files are removed', async (t) => {
    const { spawnSync } = await import('node:child_process');
    const { writeFileSync } = await import('node:fs');
    const mnt = mkdtempSync(join(tmp, 'tmpfs-'));
    if (process.platform !== 'linux' || spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', mnt]).status !== 0) {
      t.skip('mounting a tmpfs needs Linux and root');
      return;
    }
    let h: Harness | undefined;
    try {
      h = await startHarness({ dir: join(mnt, 'data') });
      const app = h.focal.app;
      // The disk fills up before the writer thread has written anything (it opens its connection on the first group).
      const fillers: string[] = [];
      for (const size of [256 * 1024, 4096]) {
        try {
          for (;;) {
            const f = join(mnt, `filler-${fillers.length}`);
            fillers.push(f);
            writeFileSync(f, Buffer.alloc(size));
          }
        } catch { /* full at this size: go on with smaller files */ }
      }
      const refused = await request(app).post('/decide').send(body(1, 'tmpfs-1'));
      assert.equal(refused.status, 503);
      assert.equal(refused.body.type, '/problems/storage-full');
      await request(app).get('/readyz').expect(503);
      for (const f of fillers) rmSync(f, { force: true });
      await until('ready again', async () => (await request(app).get('/readyz')).status === 200, 15_000);
      await request(app).post('/decide').send(body(2, 'tmpfs-2')).expect(200);
      assert.equal(count(h, "SELECT COUNT(*) AS n FROM events WHERE event_id = 'tmpfs-1'"), 0);
      assert.equal(count(h, "SELECT COUNT(*) AS n FROM events WHERE event_id = 'tmpfs-2'"), 1);
    } finally {
      await h?.close(false);
      spawnSync('umount', [mnt]);
    }
  });
});

describe('migration 191', () => {
  it('keeps indexes and triggers that earlier migrations put on events', () => {
    const path = join(mkdtempSync(join(tmp, 'mig-')), 'focal.db');
    const extra = { version: 150, name: 'test: another slice\'s index and trigger on events', sql: `
      CREATE INDEX events_by_kind ON events (kind, created_at);
      CREATE TABLE event_audit (event_id TEXT);
      CREATE TRIGGER events_audit AFTER INSERT ON events BEGIN INSERT INTO event_audit VALUES (NEW.event_id); END;` };
    const old = openDatabase({ path, migrations: [...MIGRATIONS.filter((m) => m.version < 191), extra] });
    old.prepare("INSERT INTO events (event_id, model, kind, created_at, payload) VALUES ('e1', 'm', 'decision', 1, '{}')").run();
    closeDatabase(old);
    const db = openDatabase({ path, migrations: [...MIGRATIONS, extra] });
    try {
      const names = (db.prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'events'").all() as { name: string }[]).map((r) => r.name);
      for (const n of ['events_by_kind', 'events_audit', 'events_open', 'events_model', 'log_stats_insert', 'log_stats_delete']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
      assert.ok(!names.includes('events_model_open'), 'the replaced index is gone');
      db.prepare("INSERT INTO events (event_id, model, kind, created_at, payload) VALUES ('e2', 'm', 'decision', 2, x'01')").run();
      assert.equal((db.prepare('SELECT COUNT(*) AS n FROM event_audit').get() as { n: number }).n, 2);
      assert.deepEqual({ ...(db.prepare("SELECT events, bytes FROM log_stats WHERE model = 'm'").get() as object) }, { events: 2, bytes: 2 + 1 + 2 + 2 });
    } finally {
      closeDatabase(db);
    }
  });
});
