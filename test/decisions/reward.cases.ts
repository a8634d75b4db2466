import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe } from 'node:test';
import request from 'supertest';
import { it, startHarness, type Harness } from './harness.js';

const actions = ['a', 'b', 'c'];

async function decide(h: Harness, body: Record<string, unknown> = {}): Promise<string> {
  const res = await request(h.focal.app).post('/decide').send({ context: { u: 1 }, actions, ...body }).expect(200);
  return res.body.eventId as string;
}

async function stats(h: Harness, model = 'default') {
  return (await request(h.focal.app).get(`/models/${model}`).expect(200)).body;
}

describe('POST /reward', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ config: { limits: { rewardBatch: 5 } }, decisions: { sweepIntervalMs: 100 } }); });
  after(async () => { await h.close(); });

  it('joins a reward to its decision, learns, and answers 200', async () => {
    const before = await stats(h);
    const eventId = await decide(h);
    const res = await request(h.focal.app).post('/reward').send({ eventId, reward: 1 }).expect(200);
    assert.deepEqual(res.body, { eventId, reward: 1, applied: true });
    const afterStats = await stats(h);
    assert.equal(afterStats.stats.updates, before.stats.updates + 1);
    assert.notEqual(afterStats.stats.fingerprint, before.stats.fingerprint);
    assert.equal(afterStats.stats.clientRewards, before.stats.clientRewards + 1);
    assert.deepEqual(await h.sql('SELECT reward, source, learn FROM rewards WHERE event_id = ?', eventId), [{ reward: 1, source: 'client', learn: 1 }]);
  });

  it('404 for an unknown event, 409 for a second reward under first', async () => {
    await request(h.focal.app).post('/reward').send({ eventId: 'never-logged', reward: 1 }).expect(404);
    const eventId = await decide(h);
    await request(h.focal.app).post('/reward').send({ eventId, reward: 0.5 }).expect(200);
    const dup = await request(h.focal.app).post('/reward').send({ eventId, reward: 1 }).expect(409);
    assert.equal(dup.body.reward, 0.5);
  });

  it('parallel rewards for one event: exactly one wins under first', async () => {
    const eventId = await decide(h);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => request(h.focal.app).post('/reward').send({ eventId, reward: i })));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 409, 409, 409, 409, 409]);
  });

  it('a reward racing its own decision is joined', async () => {
    const [d, r] = await Promise.all([
      request(h.focal.app).post('/decide').send({ actions, eventId: 'racer' }),
      (async () => { await sleep(5); return request(h.focal.app).post('/reward').send({ eventId: 'racer', reward: 1 }); })(),
    ]);
    assert.equal(d.status, 200);
    assert.ok([200, 404].includes(r.status), String(r.status));
  });

  it('sum aggregation adds repeated rewards and learns the total when the window closes', async () => {
    await request(h.focal.app).put('/models/summed').send({ reward: { aggregation: 'sum', waitSeconds: 0.5, default: -1 } }).expect(200);
    const eventId = await decide(h, { model: 'summed' });
    const results = await Promise.all([1, 2, 3].map((reward) => request(h.focal.app).post('/reward').send({ eventId, reward })));
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200]);
    assert.equal((await stats(h, 'summed')).stats.updates, 0, 'nothing learned before the window closes');
    await sleep(800);
    const s = await stats(h, 'summed');
    assert.equal(s.stats.updates, 1);
    assert.equal(s.stats.pending, 0);
    assert.deepEqual(await h.sql('SELECT reward, closed, closed_reason FROM events WHERE event_id = ?', eventId), [{ reward: 6, closed: 1, closed_reason: 'window' }]);
    const late = await request(h.focal.app).post('/reward').send({ eventId, reward: 1 }).expect(410);
    assert.equal(late.body.reward, 6);
  });

  it('late rewards: the sweeper applies the default and a later reward gets 410', async () => {
    await request(h.focal.app).put('/models/late').send({ reward: { waitSeconds: 0.3, default: 0.25 } }).expect(200);
    const swept = await decide(h, { model: 'late' });
    await sleep(700);
    const s = await stats(h, 'late');
    assert.equal(s.stats.pending, 0);
    assert.equal(s.stats.defaultRewards, 1);
    assert.equal(s.stats.updates, 1);
    const res = await request(h.focal.app).post('/reward').send({ eventId: swept, reward: 1 }).expect(410);
    assert.equal(res.body.reward, 0.25);
    const metrics = await request(h.focal.app).get('/metrics');
    assert.match(metrics.text, /focal_bandit_default_rewards_total\{model="late"\} 1/);
  });

  it('a reward past the deadline applies the default at once, even before the sweeper runs', async () => {
    await request(h.focal.app).put('/models/instant').send({ reward: { waitSeconds: 0, default: 0 } }).expect(200);
    const eventId = await decide(h, { model: 'instant' });
    const res = await request(h.focal.app).post('/reward').send({ eventId, reward: 1 }).expect(410);
    assert.equal(res.body.reward, 0);
    const rows = await h.sql<{ source: string }>('SELECT source FROM rewards WHERE event_id = ?', eventId);
    assert.deepEqual(rows.map((r) => r.source), ['default']);
  });

  it('batches apply each item independently and report each status', async () => {
    const ok = await decide(h);
    const dup = await decide(h);
    await request(h.focal.app).post('/reward').send({ eventId: dup, reward: 1 }).expect(200);
    const res = await request(h.focal.app).post('/reward').send({ events: [
      { eventId: ok, reward: 1 }, { eventId: 'missing', reward: 1 }, { eventId: dup, reward: 0 }, { eventId: ok, reward: 1 },
    ] }).expect(200);
    assert.deepEqual(res.body.results.map((r: { status: number }) => r.status), [200, 404, 409, 409]);
    assert.deepEqual(res.body.results.map((r: { eventId: string }) => r.eventId), [ok, 'missing', dup, ok]);
    const tooMany = await request(h.focal.app).post('/reward').send({ events: Array.from({ length: 6 }, (_, i) => ({ eventId: `e${i}`, reward: 1 })) }).expect(413);
    assert.equal(tooMany.body.limit, 'FOCAL_MAX_REWARD_BATCH');
  });

  it('rejects malformed rewards', async () => {
    const eventId = await decide(h);
    await request(h.focal.app).post('/reward').send({ eventId, reward: '1' }).expect(400);
    await request(h.focal.app).post('/reward').send({ eventId }).expect(400);
    await request(h.focal.app).post('/reward').send({ reward: 1 }).expect(400);
    await request(h.focal.app).post('/reward').send({ eventId, reward: 1e300 }).expect(400);
    await request(h.focal.app).post('/reward').send({ eventId, label: '7' }).expect(400);
    await request(h.focal.app).post('/reward').send({ events: [{ eventId, reward: 1 }], eventId }).expect(400);
    await request(h.focal.app).post('/reward').set('Content-Type', 'application/json').send('{"eventId":').expect(400);
    await request(h.focal.app).post('/reward').send({ eventId, reward: 1 }).expect(200);
  });

  it('rewards for a deleted model\'s events get 410', async () => {
    await request(h.focal.app).put('/models/doomed').expect(200);
    const eventId = await decide(h, { model: 'doomed' });
    await request(h.focal.app).delete('/models/doomed').expect(204);
    await request(h.focal.app).post('/reward').send({ eventId, reward: 1 }).expect(410);
  });
});

describe('POST /reward for events of other kinds', () => {
  it('dispatches to the feedback handler registered for the kind, else 404', async () => {
    const seen: unknown[] = [];
    const h = await startHarness();
    try {
      // Image events (and other kinds) are logged in the process's own SQLite database, on PostgreSQL too.
      const insert = h.db.prepare("INSERT INTO events (event_id, model, kind, created_at, payload) VALUES (?, 'mnist', ?, 0, '{}')");
      insert.run('img-1', 'image');
      insert.run('vid-1', 'video');
      // The decisions capability looks handlers up per request, so one registered later still counts.
      h.feedback.set('image', (item) => { seen.push(item); return { status: 200, body: { eventId: item.eventId, label: item.label, reward: 1, applied: true } }; });
      const res = await request(h.focal.app).post('/reward').send({ eventId: 'img-1', label: '7' }).expect(200);
      assert.deepEqual(res.body, { eventId: 'img-1', label: '7', reward: 1, applied: true });
      assert.deepEqual(seen, [{ eventId: 'img-1', label: '7' }]);
      await request(h.focal.app).post('/reward').send({ eventId: 'vid-1', reward: 1 }).expect(404);
    } finally {
      await h.close();
    }
  });
});
