import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { startHarness, type Harness } from '../decisions/harness.js';
import { ACTIONS, logEvents } from './helpers.js';

type View = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function waitFor(h: Harness, path: string, until: (v: View) => boolean, timeoutMs = 120_000): Promise<View> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await request(h.focal.app).get(path);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    if (until(r.body as View)) return r.body as View;
    if (Date.now() > end) throw new Error(`timed out waiting on ${path}: ${JSON.stringify(r.body).slice(0, 300)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

const CANDIDATES = [
  { name: 'eps', config: { strategy: { name: 'epsilon-greedy', epsilon: 0.1 } } },
  { name: 'greedy', config: { strategy: { name: 'greedy', minProbability: 0.01 } } },
];

describe('offline evaluations (worker thread, file database)', { timeout: 300_000 }, () => {
  let h: Harness;
  let dir: string;
  before(async () => {
    h = await startHarness();
    dir = h.dir;
    const put = await request(h.focal.app).put('/models/ev').send({ strategy: { name: 'uniform' }, actions: ACTIONS });
    assert.equal(put.status, 200);
    await logEvents(h, 'ev', 600);
  });
  after(async () => { await h.close(true); });

  let completedId = '';
  let completed: View;

  it('POST answers 202 with a Location; the job completes with online, baseline, uniform and candidate rows', async () => {
    // The log was written by a uniform policy; the model now runs ε-greedy (feature importance replays this configuration).
    assert.equal((await request(h.focal.app).put('/models/ev').send({ strategy: { name: 'epsilon-greedy', epsilon: 0.05 }, actions: ACTIONS })).status, 200);
    const r = await request(h.focal.app).post('/models/ev/evaluations').send({ policies: CANDIDATES, featureImportance: true });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.headers.location, `/models/ev/evaluations/${r.body.id}`);
    assert.ok(['pending', 'running'].includes(r.body.status));
    completedId = r.body.id;
    completed = await waitFor(h, r.headers.location!, (v) => v.status === 'completed' || v.status === 'failed');
    assert.equal(completed.status, 'completed', completed.error);
    assert.equal(completed.progress, 1);
    assert.equal(completed.events, 600);
    if (process.platform === 'linux') assert.ok(completed.cpuSeconds >= 0 && completed.cpuSeconds < 600, `cpuSeconds ${completed.cpuSeconds}`);
    assert.deepEqual(completed.policies.map((p: View) => [p.name, p.source]), [['online', 'online'], ['baseline', 'baseline'], ['uniform', 'uniform'], ['eps', 'custom'], ['greedy', 'custom']]);
    for (const p of completed.policies) {
      for (const name of ['ips', 'snips', 'dr', 'dm']) {
        const e = p.estimates[name];
        assert.ok(Number.isFinite(e.value) && e.ci[0] <= e.ci[1], `${p.name}.${name}: ${JSON.stringify(e)}`);
      }
    }
    // The log is uniform: the online row is the mean reward (0.25 in expectation), and a learning candidate does far better.
    const online = completed.policies[0].estimates.ips.value;
    assert.ok(online > 0.15 && online < 0.35, `online ${online}`);
    assert.equal(completed.policies[0].effectiveSampleSize, 600);
    assert.ok(completed.policies[3].estimates.dr.value > online + 0.3, JSON.stringify(completed.policies[3].estimates));
    assert.ok(['eps', 'greedy'].includes(completed.best), completed.best);
    // Feature importance: the segment decides the reward, the nuisance namespace does not.
    const fi = Object.fromEntries(completed.featureImportance.map((f: View) => [f.feature, f.importance]));
    assert.deepEqual(Object.keys(fi).sort(), ['default', 'noise', 'user']);
    assert.ok(fi.user > 0.2 && Math.abs(fi.noise) < 0.1, JSON.stringify(fi));
  });

  it('the same request over the same events gives the same numbers, even with events logged since', async () => {
    await logEvents(h, 'ev', 40, 10_000);
    const r = await request(h.focal.app).post('/models/ev/evaluations').send({ policies: CANDIDATES, featureImportance: true });
    assert.equal(r.status, 202);
    const again = await waitFor(h, r.headers.location!, (v) => v.status === 'completed');
    assert.equal(again.events, 640);
    // Not the same events (40 more): compare a fresh request over a window that excludes them instead.
    const until = new Date(Date.parse(completed.createdAt) + 1).toISOString();
    const a = await request(h.focal.app).post('/models/ev/evaluations').send({ policies: CANDIDATES, to: until });
    const b = await request(h.focal.app).post('/models/ev/evaluations').send({ policies: CANDIDATES, to: until });
    const va = await waitFor(h, a.headers.location!, (v) => v.status === 'completed');
    const vb = await waitFor(h, b.headers.location!, (v) => v.status === 'completed');
    assert.equal(va.events, 600);
    assert.deepEqual(va.policies, vb.policies);
    assert.notEqual(va.id, vb.id);
  });

  it('lists evaluations newest first without their rows', async () => {
    const r = await request(h.focal.app).get('/models/ev/evaluations');
    assert.equal(r.status, 200);
    assert.ok(r.body.evaluations.length >= 4);
    assert.ok(r.body.evaluations.every((e: View) => e.policies === undefined && typeof e.status === 'string'));
    const times = r.body.evaluations.map((e: View) => Date.parse(e.createdAt));
    assert.deepEqual(times, [...times].sort((x: number, y: number) => y - x));
  });

  it('bad requests are precise 400/404s and create nothing', async () => {
    const count = async () => (await request(h.focal.app).get('/models/ev/evaluations')).body.evaluations.length as number;
    const before = await count();
    const cases: [unknown, number, string][] = [
      [{ policies: [{ name: 'online', config: {} }] }, 400, '/policies/0/name'],
      [{ policies: [{ name: 'x', config: {} }, { name: 'x', config: {} }] }, 400, '/policies/1/name'],
      [{ policies: [{ name: 'x', config: { strategy: { name: 'nope' } } }] }, 400, '/policies/0/config/strategy/name'],
      [{ policies: [{ name: 'x', config: { strategy: { name: 'linucb' }, learner: { name: 'linear' } } }] }, 400, '/policies/0/config/learner/name'],
      [{ from: '2026-12-02T00:00:00Z', to: '2026-12-01T00:00:00Z' }, 400, '/from'],
      [{ from: 'yesterday' }, 400, '/from'],
      [{ replicates: 3 }, 400, '/replicates'],
      [{ extra: 1 }, 400, ''],
    ];
    for (const [body, status, pointer] of cases) {
      const r = await request(h.focal.app).post('/models/ev/evaluations').send(body as object);
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
      assert.match(r.headers['content-type']!, /application\/problem\+json/);
      if (pointer) assert.ok(r.body.errors.some((e: View) => e.path === pointer), `${JSON.stringify(body)}: ${JSON.stringify(r.body.errors)}`);
    }
    assert.equal((await request(h.focal.app).post('/models/nope/evaluations').send({})).status, 404);
    assert.equal((await request(h.focal.app).get('/models/ev/evaluations/nope')).status, 404);
    assert.equal((await request(h.focal.app).delete('/models/ev/evaluations/nope')).status, 404);
    assert.equal(await count(), before);
  });

  it('apply reconfigures the model with a policy; baseline, unknown and unfinished ones are refused', async () => {
    const base = `/models/ev/evaluations/${completedId}/apply`;
    const bad = await request(h.focal.app).post(base).send({ policy: 'baseline' });
    assert.equal(bad.status, 400);
    assert.equal((await request(h.focal.app).post(base).send({ policy: 'nope' })).status, 400);
    const r = await request(h.focal.app).post(base).send({ policy: 'eps' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.config.strategy, { name: 'epsilon-greedy', epsilon: 0.1 });
    assert.deepEqual(r.body.config.actions, ACTIONS.map((id) => ({ id })));
    const p = await request(h.focal.app).post('/models/ev/evaluations').send({ policies: CANDIDATES, replicates: 2000, featureImportance: true });
    const pending = await request(h.focal.app).post(`/models/ev/evaluations/${p.body.id}/apply`).send({ policy: 'eps' });
    assert.equal(pending.status, 409);
    assert.equal((await request(h.focal.app).delete(`/models/ev/evaluations/${p.body.id}`)).status, 204);
  });

  it('a running evaluation reports progress and can be deleted; the next one still runs', async () => {
    const heavy = Array.from({ length: 12 }, (_, i) => ({ name: `bag${i}`, config: { strategy: { name: 'bagging', bags: 8 } } }));
    const r = await request(h.focal.app).post('/models/ev/evaluations').send({ policies: heavy, replicates: 2000, featureImportance: true });
    const path = r.headers.location!;
    const running = await waitFor(h, path, (v) => v.status !== 'pending');
    assert.equal(running.status, 'running', JSON.stringify(running).slice(0, 200));
    assert.ok(running.progress >= 0 && running.progress < 1);
    assert.equal((await request(h.focal.app).delete(path)).status, 204);
    assert.equal((await request(h.focal.app).get(path)).status, 404);
    const next = await request(h.focal.app).post('/models/ev/evaluations').send({});
    const done = await waitFor(h, next.headers.location!, (v) => v.status === 'completed');
    assert.equal(done.policies.length, 3);
  });

  it('results survive a restart, and a job the restart interrupted runs again to the same numbers', async () => {
    const slow = Array.from({ length: 6 }, (_, i) => ({ name: `b${i}`, config: { strategy: { name: 'bagging', bags: 6 } } }));
    const r = await request(h.focal.app).post('/models/ev/evaluations').send({ policies: slow, featureImportance: true });
    const path = r.headers.location!;
    await waitFor(h, path, (v) => v.status === 'running');
    await h.close(false);
    h = await startHarness({ dir });
    const kept = await request(h.focal.app).get(`/models/ev/evaluations/${completedId}`);
    assert.equal(kept.status, 200);
    assert.deepEqual(kept.body.policies, completed.policies);
    const resumed = await waitFor(h, path, (v) => v.status === 'completed');
    assert.equal(resumed.policies.length, 9);
  });
});
