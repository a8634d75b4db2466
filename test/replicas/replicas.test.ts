/**
 * Replicas on PostgreSQL (FOCAL_DATABASE_URL): several Focal apps in this process share one real PostgreSQL
 * database (test/pg-server.ts starts it; the test fails, never skips, when it cannot).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { type Harness } from '../decisions/harness.js';
import { startPgServer, type PgServer } from '../pg-server.js';
import { converged, replica, until, view } from './helpers.js';

const actions = ['a', 'b', 'c'];

async function decide(h: Harness, i: number, model?: string): Promise<string> {
  const res = await request(h.focal.app).post('/decide').send({ ...(model ? { model } : {}), context: { user: { n: i % 7, even: i % 2 === 0 } }, actions }).expect(200);
  return res.body.eventId as string;
}

describe('replicas on PostgreSQL', { timeout: 300_000 }, () => {
  let server: PgServer;
  before(async () => { server = await startPgServer(); });
  after(async () => { await server?.stop(); });

  it('a decision made on one replica is rewarded on another; both learn every reward in log order and converge to the model the log rebuilds', async () => {
    const url = await server.createDatabase();
    const a = await replica(url);
    const b = await replica(url);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push(await decide(i % 2 === 0 ? a : b, i));
      // Concurrent rewards on both replicas, crossing over: each answer means committed in PostgreSQL.
      await Promise.all(ids.map((eventId, i) => request((i % 3 === 0 ? a : b).focal.app).post('/reward').send({ eventId, reward: i % 5 === 0 ? 1 : 0.25 }).expect(200)));
      const { fingerprint: fp } = await converged([a, b]);
      for (const h of [a, b]) {
        const v = await view(h);
        assert.equal(v.stats.updates, 40);
        assert.equal(v.stats.rewardSeq, 40);
        assert.deepEqual(v.stats.replica, { behindEvents: 0, behindMs: 0 });
        // The counts are the shared database's (refreshed in the background), on every replica.
        await until(async () => (await view(h)).stats.clientRewards === 40 && (await view(h)).stats.decisions === 40, 5000, 'counts did not reach the shared figures');
      }
      // A replica started now rebuilds the same model from snapshot + log.
      const c = await replica(url);
      try {
        assert.equal((await view(c)).stats.fingerprint, fp);
        assert.equal((await view(c)).stats.decisions, 40);
      } finally { await c.close(); }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('join, 409 and 410 hold across replicas', async () => {
    const url = await server.createDatabase();
    const a = await replica(url);
    const b = await replica(url);
    try {
      await request(a.focal.app).put('/models/short').send({ reward: { waitSeconds: 0.3, default: 0 } }).expect(200);
      await until(() => b.service.names().includes('short'), 5000, 'the model created on A did not reach B');
      const id = await decide(a, 1);
      await request(b.focal.app).post('/reward').send({ eventId: id, reward: 1 }).expect(200);
      const dup = await request(a.focal.app).post('/reward').send({ eventId: id, reward: 0 }).expect(409);
      assert.equal(dup.body.reward, 1);
      const late = await decide(b, 2, 'short');
      await sleep(400);
      const gone = await request(a.focal.app).post('/reward').send({ eventId: late, reward: 1 }).expect(410);
      assert.equal(gone.body.applied, false);
      await request(b.focal.app).post('/reward').send({ eventId: 'never-logged', reward: 1 }).expect(404);
      // The same event id decided on both replicas: the second is a 409.
      await request(a.focal.app).post('/decide').send({ eventId: 'shared-id', context: {}, actions }).expect(200);
      await request(b.focal.app).post('/decide').send({ eventId: 'shared-id', context: {}, actions }).expect(409);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('PUT on one replica takes effect on all; DELETE too', async () => {
    const url = await server.createDatabase();
    const a = await replica(url);
    const b = await replica(url);
    try {
      await request(a.focal.app).put('/models/news').send({ actions: ['x', 'y'], strategy: { name: 'softmax' } }).expect(200);
      await until(async () => (await request(b.focal.app).get('/models/news')).status === 200, 5000, 'PUT did not reach B');
      const res = await request(b.focal.app).post('/decide').send({ model: 'news', context: { k: 1 } }).expect(200);
      assert.equal(res.body.strategy, 'softmax');
      await request(b.focal.app).post('/reward').send({ eventId: res.body.eventId, reward: 1 }).expect(200);
      await request(b.focal.app).put('/models/news').send({ actions: ['x', 'y', 'z'], strategy: { name: 'softmax' } }).expect(200);
      await until(async () => (await view(a, 'news')).version === 2, 5000, 'the reconfiguration did not reach A');
      assert.deepEqual((await view(a, 'news')).config.actions.map((x: { id: string }) => x.id), ['x', 'y', 'z']);
      await converged([a, b], 'news');
      await request(a.focal.app).delete('/models/news').expect(204);
      await until(async () => (await request(b.focal.app).get('/models/news')).status === 404, 5000, 'DELETE did not reach B');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('an unexpected error in one write fails that write alone, not the others committed with it', async () => {
    const url = await server.createDatabase();
    const a = await replica(url);
    try {
      await request(a.focal.app).put('/models/broken').send({ actions }).expect(200);
      const ok = await decide(a, 1);
      const bad = await decide(a, 2, 'broken');
      // A stored configuration this version cannot read: judging a reward of that model throws (a bug's stand-in).
      await a.sql(`UPDATE models SET config = '{' WHERE name = 'broken'`);
      const none = () => { throw new Error('not a decision'); };
      // Submitted in the same tick: one group, one transaction.
      const [good, failed] = await Promise.allSettled([a.service.reward([{ eventId: ok, reward: 1 }], none), a.service.reward([{ eventId: bad, reward: 1 }], none)]);
      assert.equal(good.status, 'fulfilled');
      assert.deepEqual((good as PromiseFulfilledResult<{ status: number }[]>).value.map((r) => r.status), [200]);
      assert.equal(failed.status, 'rejected');
      assert.deepEqual(await a.sql('SELECT event_id, source FROM rewards ORDER BY seq'), [{ event_id: ok, source: 'client' }]);
      assert.equal((await view(a)).stats.updates, 1);
      // The writer goes on.
      await request(a.focal.app).post('/reward').send({ eventId: await decide(a, 3), reward: 0 }).expect(200);
    } finally {
      await a.close();
    }
  });

  it('the default-reward sweep runs on one replica and moves when its holder goes', async () => {
    const url = await server.createDatabase();
    const a = await replica(url);
    await request(a.focal.app).put('/models/fast').send({ actions, reward: { waitSeconds: 0.2, default: 0.5 } }).expect(200);
    const b = await replica(url);
    let aOpen = true;
    try {
      await until(() => b.service.names().includes('fast'), 5000, 'model did not reach B');
      // A started first and holds the lock; B does not sweep.
      assert.equal(await b.service.sweep(Date.now() + 10_000), 0);
      await a.close();
      aOpen = false;
      const id = await decide(b, 3, 'fast');
      await until(async () => (await view(b, 'fast')).stats.defaultRewards === 1, 10_000, 'B did not take over the sweep');
      const gone = await request(b.focal.app).post('/reward').send({ eventId: id, reward: 1 }).expect(410);
      assert.equal(gone.body.reward, 0.5);
    } finally {
      if (aOpen) await a.close();
      await b.close();
    }
  });
});
