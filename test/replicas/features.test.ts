/**
 * The bandit features beyond decide/reward on PostgreSQL (FOCAL_DATABASE_URL), across replicas sharing one real
 * PostgreSQL database (test/pg-server.ts): multi-slot decisions and their per-slot rewards, activation of deferred
 * decisions, the decision browser, DSJSON import and export, stats.log and log retention, off-policy estimates. Where SQLite answers the
 * same request, the answer (and the model learned) is compared with SQLite's.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { startHarness, type Harness } from '../decisions/harness.js';
import { ACTIONS, logEvents } from '../evaluation/helpers.js';
import { startPgServer, type PgServer } from '../pg-server.js';
import { Metrics } from '../../src/platform/metrics.js';
import { converged, replica, rows, until, view } from './helpers.js';

const SIX = ['a', 'b', 'c', 'd', 'e', 'f'];
const SLOTS = [{ id: 'hero', features: { size: 'large' } }, { id: 'side', excludedActions: ['a'] }, { id: 'foot' }];

describe('bandit features on PostgreSQL replicas', { timeout: 300_000 }, () => {
  let server: PgServer;
  before(async () => { server = await startPgServer(); });
  after(async () => { await server?.stop(); });

  it('multi-slot decisions: decided on one replica, rewarded per slot on another; a taken id (of the decision or a slot) is a 409 that logs nothing', async () => {
    const url = await server.createDatabase();
    const a = await replica(url);
    const b = await replica(url);
    try {
      await request(a.focal.app).put('/models/ms').send({ actions: SIX }).expect(200);
      await until(() => b.service.names().includes('ms'), 5000, 'the model did not reach B');
      const d = (await request(a.focal.app).post('/decide').send({ model: 'ms', context: { u: { i: 1 } }, excludedActions: ['f'], slots: SLOTS }).expect(200)).body;
      assert.deepEqual(d.slots.map((s: { id: string }) => s.id), ['hero', 'side', 'foot']);
      assert.equal(new Set(d.slots.map((s: { action: string }) => s.action)).size, 3);
      assert.ok(d.slots.every((s: { action: string }) => s.action !== 'f'));
      const one = await request(b.focal.app).post('/reward').send({ eventId: d.eventId, slot: 'hero', reward: 1 }).expect(200);
      assert.deepEqual(one.body, { eventId: d.eventId, slot: 'hero', reward: 1, applied: true });
      const many = await request(b.focal.app).post('/reward').send({ eventId: d.eventId, rewards: { side: 0, foot: 0.5, hero: 1, nope: 1 } }).expect(200);
      assert.deepEqual(many.body.results.map((r: { slot: string; status: number }) => [r.slot, r.status]), [['side', 200], ['foot', 200], ['hero', 409], ['nope', 404]]);
      // The decision browser reads the shared log: B finds A's slot decisions, with the rewards B took.
      const hero = (await request(b.focal.app).get(`/events/${encodeURIComponent(`${d.eventId}#hero`)}`).expect(200)).body;
      assert.deepEqual([hero.slot, hero.parent, hero.action, hero.reward, hero.closedReason], ['hero', d.eventId, d.slots[0].action, 1, 'reward']);
      const page = (await request(b.focal.app).get('/models/ms/events?limit=2').expect(200)).body;
      assert.deepEqual(page.events.map((e: { slot: string }) => e.slot), ['foot', 'side']);
      assert.equal(page.next, `${d.eventId}#side`);
      const rest = (await request(a.focal.app).get(`/models/ms/events?before=${encodeURIComponent(page.next)}`).expect(200)).body;
      assert.deepEqual(rest.events.map((e: { slot: string }) => e.slot), ['hero']);
      const parent = await request(a.focal.app).post('/reward').send({ eventId: d.eventId, reward: 1 }).expect(400);
      assert.equal(parent.body.errors[0].path, '/slot');
      // The same id decided on the other replica; a plain decision holding a slot's id.
      await request(b.focal.app).post('/decide').send({ model: 'ms', eventId: d.eventId, slots: SLOTS }).expect(409);
      await request(a.focal.app).post('/decide').send({ model: 'ms', eventId: 'taken#side', context: {} }).expect(200);
      await request(b.focal.app).post('/decide').send({ model: 'ms', eventId: 'taken', slots: SLOTS }).expect(409);
      assert.deepEqual((await rows<{ event_id: string }>(url, `SELECT event_id FROM events WHERE event_id LIKE 'taken%' ORDER BY event_id`)).map((r) => r.event_id), ['taken#side']);
      const { updates } = await converged([a, b], 'ms');
      assert.equal(updates, 3);
      // The slot rows are ordinary decisions of the shared log: every replica counts them.
      await until(async () => (await view(b, 'ms')).stats.decisions === 4, 5000, 'B did not count the slots');
      // Concurrent multi-slot decisions on both replicas, rewarded crosswise.
      const ids = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await request((i % 2 ? a : b).focal.app).post('/decide').send({ model: 'ms', context: { u: { i } }, slots: SLOTS }).expect(200)).body.eventId as string));
      await Promise.all(ids.map((eventId, i) => request((i % 2 ? b : a).focal.app).post('/reward').send({ eventId, rewards: { hero: i % 3 === 0 ? 1 : 0, side: 0.5 } }).expect(200)));
      assert.equal((await converged([a, b], 'ms')).updates, 3 + 40);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a deferred decision (single or multi-slot) is activated on a replica other than the one that decided; a reward that arrived first is learned then', async () => {
    const url = await server.createDatabase();
    const a = await replica(url);
    const b = await replica(url);
    try {
      await request(a.focal.app).put('/models/ms').send({ actions: SIX }).expect(200);
      await request(a.focal.app).put('/models/short').send({ actions: SIX, reward: { waitSeconds: 0.3, default: 0.25 } }).expect(200);
      await until(() => b.service.names().includes('short'), 5000, 'the models did not reach B');
      const single = (await request(a.focal.app).post('/decide').send({ model: 'ms', context: { k: 1 }, defer: true }).expect(200)).body;
      assert.equal(single.deferred, true);
      await request(b.focal.app).post('/reward').send({ eventId: single.eventId, reward: 1 }).expect(200);
      const multi = (await request(b.focal.app).post('/decide').send({ model: 'ms', context: { k: 2 }, slots: SLOTS, defer: true }).expect(200)).body;
      await request(a.focal.app).post('/reward').send({ eventId: multi.eventId, rewards: { hero: 1 } }).expect(200);
      // Nothing is learned before activation.
      assert.equal((await converged([a, b], 'ms')).updates, 0);
      await request(b.focal.app).post(`/events/${single.eventId}/activate`).expect(204);
      await request(a.focal.app).post(`/events/${multi.eventId}/activate`).expect(204);
      assert.equal((await converged([a, b], 'ms')).updates, 2);
      // Rules as on SQLite: already active 409, a plain decision 409, unknown 404, past its deadline 410.
      await request(a.focal.app).post(`/events/${single.eventId}/activate`).expect(409);
      await request(b.focal.app).post(`/events/${multi.eventId}/activate`).expect(409);
      const plain = (await request(a.focal.app).post('/decide').send({ model: 'ms', context: {} }).expect(200)).body;
      await request(b.focal.app).post(`/events/${plain.eventId}/activate`).expect(409);
      await request(b.focal.app).post('/events/never-logged/activate').expect(404);
      const late = (await request(a.focal.app).post('/decide').send({ model: 'short', context: {}, defer: true }).expect(200)).body;
      await sleep(400);
      const gone = await request(b.focal.app).post(`/events/${late.eventId}/activate`).expect(410);
      assert.equal(gone.body.reward, 0.25);
      // Closed as never activated: the default reward is logged, not learned.
      const [closed] = await rows<{ closed_reason: string; hold: number }>(url, 'SELECT closed_reason, hold FROM events WHERE event_id = $1', [late.eventId]);
      assert.deepEqual(closed, { closed_reason: 'inactive', hold: 1 });
      assert.equal((await converged([a, b], 'short')).updates, 0);
      const sources = await rows<{ source: string; learn: number }>(url, `SELECT source, learn FROM rewards WHERE event_id = $1 OR event_id LIKE $2 ORDER BY seq`, [single.eventId, `${multi.eventId}#%`]);
      assert.deepEqual(sources, [{ source: 'client', learn: 0 }, { source: 'client', learn: 0 }, { source: 'activated', learn: 1 }, { source: 'activated', learn: 1 }]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('an offline evaluation on a replica is a 501 problem that names the way out (export, import, evaluate), and queues nothing', async () => {
    const url = await server.createDatabase();
    const a = await replica(url);
    try {
      await request(a.focal.app).put('/models/ev').send({}).expect(200);
      const res = await request(a.focal.app).post('/models/ev/evaluations').send({}).expect(501);
      assert.equal(res.body.type, '/problems/not-on-postgresql');
      assert.match(res.body.detail, /GET \/models\/ev\/log/);
      assert.deepEqual((await request(a.focal.app).get('/models/ev/evaluations').expect(200)).body.evaluations, []);
      await request(a.focal.app).post('/models/nope/evaluations').send({}).expect(404);
    } finally {
      await a.close();
    }
  });

  it('DSJSON import on one replica, export on another: the same lines, the same learned model and off-policy estimates as on SQLite', async () => {
    const url = await server.createDatabase();
    const config = { strategy: { name: 'epsilon-greedy', epsilon: 0.1 }, learner: { name: 'linear', bits: 14 }, actions: ACTIONS };
    const local = await startHarness();
    const a = await replica(url);
    const b = await replica(url);
    try {
      // A log decided and rewarded on SQLite, exported as DSJSON.
      await request(local.focal.app).put('/models/src').send(config).expect(200);
      await logEvents(local, 'src', 200);
      await local.service.decide({ model: 'src', context: { user: { seg: 's1' } }, eventId: 'src-pending' });
      const lines = (await request(local.focal.app).get('/models/src/log').buffer(true).expect(200)).text.split('\n').filter((l) => l.length > 0);
      assert.equal(lines.length, 201);
      const withSkip = lines.map((l, i) => (i === 5 ? JSON.stringify({ ...JSON.parse(l), _skipLearn: true }) : l));
      const post = (h: Harness, model: string, body: string[]) => request(h.focal.app).post(`/models/${model}/log`).set('content-type', 'application/x-ndjson').send(body.join('\n') + '\n');
      for (const h of [local, a]) await request(h.focal.app).put('/models/dst').send(config).expect(200);
      await until(() => b.service.names().includes('dst'), 5000, 'dst did not reach B');
      const onSqlite = await post(local, 'dst', withSkip.map((l) => l.replace('"EventId":"src-', '"EventId":"dst-'))).expect(200);
      const onPg = await post(a, 'dst', withSkip).expect(200);
      assert.deepEqual(onPg.body, onSqlite.body);
      assert.deepEqual(onPg.body, { imported: 201, learned: 199 });
      // Every id is taken now: a second import (on the other replica) is a 409 naming them, nothing written.
      const again = await post(b, 'dst', [withSkip[0]!, JSON.stringify({ ...JSON.parse(withSkip[1]!), EventId: 'fresh' })]).expect(409);
      assert.deepEqual(again.body.lines, [{ index: 0, eventId: 'src-0' }]);
      assert.equal((await rows(url, `SELECT 1 FROM events WHERE event_id = 'fresh'`)).length, 0);
      const fp = await converged([a, b], 'dst');
      assert.equal(fp.updates, 199);
      assert.equal(fp.fingerprint, (await view(local, 'dst')).stats.fingerprint, 'the model learned from the import differs from SQLite\'s');
      // Off-policy estimates over the shared log (read in the background): the same as SQLite's over the same events.
      const estimate = async (h: Harness) => {
        let v: unknown = null;
        await until(async () => (v = (await view(h, 'dst')).offPolicy) !== null, 10_000, 'no off-policy estimate');
        return v as { n: number };
      };
      const expected = await estimate(local);
      assert.equal(expected.n, 199);
      assert.deepEqual(await estimate(a), expected);
      assert.deepEqual(await estimate(b), expected);
      // Exported on B: the lines SQLite exports for the same import (ids aside).
      const exported = async (h: Harness, format: string) => (await request(h.focal.app).get(`/models/dst/log?format=${format}`).buffer(true).expect(200)).text;
      assert.equal(await exported(b, 'dsjson'), (await exported(local, 'dsjson')).replaceAll('"EventId":"dst-', '"EventId":"src-'));
      assert.equal(await exported(b, 'jsonl'), (await exported(local, 'jsonl')).replaceAll('"eventId":"dst-', '"eventId":"src-'));
      // A range, and decisions of both replicas in one export.
      await request(b.focal.app).post('/decide').send({ model: 'dst', eventId: 'on-b', context: { user: { seg: 's2' } } }).expect(200);
      const tail = (await exported(a, 'jsonl')).split('\n').filter((l) => l.length > 0);
      assert.equal(tail.length, 202);
      assert.equal(JSON.parse(tail.at(-1)!).eventId, 'on-b');
      await request(a.focal.app).post('/models/nope/log').set('content-type', 'application/x-ndjson').send(lines[0]).expect(404);
    } finally {
      await local.close();
      await a.close();
      await b.close();
    }
  });

  it('stats.log is the shared log\'s on every replica; retention runs on the sweep-lock holder only, keeps open windows and what no snapshot holds', async () => {
    const url = await server.createDatabase();
    const metrics = [new Metrics({ defaultMetrics: false }), new Metrics({ defaultMetrics: false })];
    const retention = { intervalMs: 200, batch: 7, replicaMarginMs: 300 };
    const a = await replica(url, { metrics: metrics[0], decisions: { retention } });
    const b = await replica(url, { metrics: metrics[1], decisions: { retention } });
    try {
      // Counted first under a retention of an hour, then deleted under one of a few seconds.
      await request(a.focal.app).put('/models/short').send({ actions: SIX, reward: { waitSeconds: 1 }, log: { retention: '1h' } }).expect(200);
      await request(a.focal.app).put('/models/open').send({ actions: SIX, reward: { waitSeconds: 600 }, log: { retention: '1h' } }).expect(200);
      await until(() => b.service.names().includes('open'), 5000, 'the models did not reach B');
      const shortIds: string[] = [];
      const openIds: string[] = [];
      for (let i = 0; i < 30; i++) {
        const [x, y] = i % 2 ? [a, b] : [b, a];
        const d = (await request(x.focal.app).post('/decide').send({ model: 'short', context: { u: { i } } }).expect(200)).body;
        shortIds.push(d.eventId);
        if (i % 2 === 0) await request(y.focal.app).post('/reward').send({ eventId: d.eventId, reward: (i % 4) / 3 }).expect(200);
        openIds.push((await request(y.focal.app).post('/decide').send({ model: 'open', context: { u: { i } } }).expect(200)).body.eventId);
      }
      // Both replicas show the shared log (refreshed every second), the same figures.
      const logOf = async (h: Harness, model: string) => (await view(h, model)).stats.log;
      await until(async () => (await logOf(a, 'short')).events === 30 && (await logOf(b, 'short')).events === 30, 5000, 'stats.log did not count the shared log');
      const [la, lb] = [await logOf(a, 'short'), await logOf(b, 'short')];
      assert.deepEqual(la, lb);
      assert.equal(la.retention, '1h');
      assert.ok(la.bytes > 30 * 100, `bytes ${la.bytes}`);
      const bytes = (await rows<{ bytes: number }>(url, `SELECT SUM(octet_length(payload) + octet_length(event_id))::int AS bytes FROM events WHERE model = 'short'`))[0]!.bytes;
      assert.equal(la.bytes, bytes);
      assert.equal(la.oldest, new Date(Number((await rows<{ t: string }>(url, `SELECT MIN(created_at) AS t FROM events WHERE model = 'short'`))[0]!.t)).toISOString());

      await until(async () => (await view(b, 'short')).stats.pending === 0, 5000, 'the short windows did not close');
      for (const model of ['short', 'open']) await request(b.focal.app).put(`/models/${model}`).send({ log: { retention: '3s' } }).expect(200);
      const count = async (sql: string) => Number((await rows<{ n: string }>(url, sql))[0]!.n);
      await until(async () => await count(`SELECT COUNT(*) AS n FROM events WHERE model = 'short'`) === 0, 30_000, 'old short events were not deleted');
      assert.equal(await count(`SELECT COUNT(*) AS n FROM rewards WHERE model = 'short'`), 0, 'their rewards go with them');
      // Older than the retention too, but their windows are open: kept, and a reward still lands (on either replica).
      assert.equal(await count(`SELECT COUNT(*) AS n FROM events WHERE model = 'open'`), 30);
      // The log gauges of either replica read the shared counts.
      await until(async () => /focal_log_events\{model="open"\} 30\n/.test(await metrics[1]!.text()), 5000, 'B\'s focal_log_events did not show the shared log');
      // (A rewarded event is closed: retention may delete it from now on.)
      await request(b.focal.app).post('/reward').send({ eventId: openIds[0], reward: 1 }).expect(200);
      await request(a.focal.app).post('/reward').send({ eventId: shortIds[1], reward: 1 }).expect(404);
      // Only the replica holding the lock (A, started first) deleted.
      assert.match(await metrics[0]!.text(), /focal_log_events_deleted_total\{model="short"\} 30/);
      assert.doesNotMatch(await metrics[1]!.text(), /focal_log_events_deleted_total\{model=/);
      for (const h of [a, b]) {
        await until(async () => (await logOf(h, 'short')).events === 0, 5000, 'stats.log did not follow the deletion');
        const v = await view(h, 'short');
        assert.equal(v.stats.log.oldest, null);
        assert.equal(v.stats.updates, 30, 'the deleted events were learned before they went');
      }
      // The delta rows of the log counts were compacted by the passes.
      assert.ok(await count('SELECT COUNT(*) AS n FROM log_stats') <= 4, 'log_stats was not compacted');
      // A replica started now rebuilds the same models from the snapshots (the deleted rewards are in them).
      const fp = await converged([a, b], 'short');
      const c = await replica(url);
      try {
        assert.equal((await view(c, 'short')).stats.fingerprint, fp.fingerprint);
      } finally { await c.close(); }
    } finally {
      await a.close();
      await b.close();
    }
  });
});
