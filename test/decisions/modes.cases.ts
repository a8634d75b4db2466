import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';
import { startHarness, type Harness } from './harness.js';

/** Learning modes, baselines, excluded actions and deferred activation (API.md "Learning modes, …"). */

const ACTIONS = ['a', 'b', 'c', 'd'];
type Ranked = { id: string; probability: number };

async function stats(h: Harness, model: string) {
  const res = await request(h.focal.app).get(`/models/${model}`).expect(200);
  return res.body as { config: Record<string, unknown>; version: number; stats: { updates: number; fingerprint: string; pending: number; rewardedEvents: number; clientRewards: number; defaultRewards: number; apprentice?: { events: number; imitated: number; imitationRate: number | null } } };
}

function row(h: Harness, eventId: string) {
  return h.db.prepare('SELECT hold, imitated, closed, closed_reason, reward, payload FROM events WHERE event_id = ?').get(eventId) as
    { hold: number; imitated: number | null; closed: number; closed_reason: string | null; reward: number | null; payload: string };
}

function sum(ranking: Ranked[]): number {
  return ranking.reduce((s, r) => s + r.probability, 0);
}

describe('learning modes', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ memory: true }); });
  after(async () => { await h.close(); });

  it('apprentice answers the baseline every time, logs the model\'s PMF, learns, and reports its imitation rate', async () => {
    // ε = 1: the model's own draw is uniform, so it both matches and misses the baseline.
    const put = await request(h.focal.app).put('/models/app').send({ mode: 'apprentice', actions: ACTIONS, strategy: { name: 'epsilon-greedy', epsilon: 1 } }).expect(200);
    assert.equal(put.body.config.mode, 'apprentice');
    let imitated = 0;
    const n = 40;
    for (let i = 0; i < n; i++) {
      const baseline = ACTIONS[i % 3]!;
      const d = (await request(h.focal.app).post('/decide').send({ model: 'app', context: { u: { i: i % 5 } }, baseline }).expect(200)).body;
      assert.equal(d.action, baseline);
      assert.equal(d.probability, 1);
      assert.equal(d.mode, 'apprentice');
      assert.equal(d.ranking[0].id, baseline);
      assert.ok(Math.abs(sum(d.ranking) - 1) < 1e-12);
      assert.ok(Math.abs(sum(d.modelChoice.ranking) - 1) < 1e-9);
      if (d.modelChoice.action === baseline) imitated++;
      const logged = decodeDecisionPayload(row(h, d.eventId).payload);
      assert.equal(logged.actions[logged.chosen]!.id, baseline);
      assert.equal(logged.probability, 1);
      assert.equal(logged.baseline, baseline);
      assert.equal(logged.actions[logged.modelChoice!]!.id, d.modelChoice.action);
      // The PMF logged is the model's, not the answer's point mass.
      for (const r of d.modelChoice.ranking as Ranked[]) assert.equal(logged.pmf[logged.actions.findIndex((a) => a.id === r.id)], r.probability);
      await request(h.focal.app).post('/reward').send({ eventId: d.eventId, reward: baseline === 'b' ? 1 : 0 }).expect(200);
    }
    assert.ok(imitated > 0 && imitated < n, `imitated ${imitated} of ${n}`);
    const s = await stats(h, 'app');
    assert.deepEqual(s.stats.apprentice, { events: n, imitated, imitationRate: imitated / n });
    assert.equal(s.stats.updates, n, 'apprentice learns from every reward');
    // Back to online: the learned state is kept, decisions are the model's own again.
    const before = s.stats.fingerprint;
    const online = await request(h.focal.app).put('/models/app').send({ ...s.config, mode: 'online' }).expect(200);
    assert.equal(online.body.stats.fingerprint, before);
    assert.equal(online.body.stats.apprentice, undefined);
    const d = (await request(h.focal.app).post('/decide').send({ model: 'app', context: { u: { i: 1 } }, baseline: 'a' }).expect(200)).body;
    assert.equal(d.mode, undefined);
    assert.equal(d.ranking.find((r: Ranked) => r.id === d.action).probability, d.probability);
  });

  it('logging answers the baseline (default: the first action), logs, and never learns, not even the default reward', async () => {
    await request(h.focal.app).put('/models/log').send({ mode: 'logging', actions: ACTIONS, reward: { waitSeconds: 1 } }).expect(200);
    const s0 = await stats(h, 'log');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const d = (await request(h.focal.app).post('/decide').send({ model: 'log', context: { u: { i } } }).expect(200)).body;
      assert.equal(d.action, 'a');
      assert.equal(d.mode, 'logging');
      ids.push(d.eventId);
      assert.equal(row(h, d.eventId).hold, 2);
    }
    for (const eventId of ids.slice(0, 5)) await request(h.focal.app).post('/reward').send({ eventId, reward: 1 }).expect(200);
    assert.equal(await h.service.sweep(Date.now() + 5_000), 5);
    const s1 = await stats(h, 'log');
    assert.equal(s1.stats.updates, s0.stats.updates);
    assert.equal(s1.stats.fingerprint, s0.stats.fingerprint);
    assert.equal(s1.stats.rewardedEvents, 10);
    assert.equal(s1.stats.pending, 0);
    assert.equal(row(h, ids[9]!).closed_reason, 'window');
    // A logging-mode event is not deferred: activating it is a conflict.
    const a = await request(h.focal.app).post(`/events/${ids[0]}/activate`).expect(409);
    assert.match(a.body.detail, /logging mode/);
  });

  it('refuses an unknown mode and keeps the model', async () => {
    const bad = await request(h.focal.app).put('/models/app').send({ mode: 'shadow' }).expect(400);
    assert.equal(bad.body.errors[0].path, '/mode');
  });
});

describe('excluded actions and baselines', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ memory: true }); });
  after(async () => { await h.close(); });

  it('never chooses an excluded action; it is ranked last with probability 0 and the rest sums to 1', async () => {
    await request(h.focal.app).put('/models/x').send({ actions: ACTIONS, strategy: { name: 'epsilon-greedy', epsilon: 0.5 } }).expect(200);
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const d = (await request(h.focal.app).post('/decide').send({ model: 'x', context: { u: { i } }, excludedActions: ['b', 'd'] }).expect(200)).body;
      seen.add(d.action);
      assert.ok(!['b', 'd'].includes(d.action));
      assert.deepEqual(d.ranking.slice(2).map((r: Ranked) => r.probability), [0, 0]);
      assert.deepEqual(d.ranking.slice(2).map((r: Ranked) => r.id).sort(), ['b', 'd']);
      // Exactly the PMF of a decision offered only the allowed actions.
      const only = (await request(h.focal.app).post('/decide').send({ model: 'x', context: { u: { i } }, actions: ['a', 'c'] }).expect(200)).body;
      assert.deepEqual(d.ranking.slice(0, 2), only.ranking);
      if (i % 2 === 0) await request(h.focal.app).post('/reward').send({ eventId: d.eventId, reward: d.action === 'c' ? 1 : 0 }).expect(200);
      assert.equal(sum(d.ranking), 1);
      const logged = decodeDecisionPayload(row(h, d.eventId).payload);
      assert.deepEqual(logged.excluded, [1, 3]);
      assert.equal(logged.baseline, 'a');
    }
    assert.deepEqual([...seen].sort(), ['a', 'c']);
    // Learned towards c: ε = 0.5 over the two allowed actions gives 0.75 / 0.25.
    const d = (await request(h.focal.app).post('/decide').send({ model: 'x', context: { u: { i: 0 } }, excludedActions: ['b', 'd'] }).expect(200)).body;
    assert.deepEqual(d.ranking.map((r: Ranked) => r.probability), [0.75, 0.25, 0, 0]);
    assert.equal(d.ranking[0].id, 'c');
  });

  it('the default baseline is the first action not excluded', async () => {
    await request(h.focal.app).put('/models/xl').send({ mode: 'logging', actions: ACTIONS }).expect(200);
    const d = (await request(h.focal.app).post('/decide').send({ model: 'xl', excludedActions: ['a', 'b'] }).expect(200)).body;
    assert.equal(d.action, 'c');
    const given = (await request(h.focal.app).post('/decide').send({ model: 'xl', baseline: 'd' }).expect(200)).body;
    assert.equal(given.action, 'd');
  });

  it('refuses unknown, repeated or total exclusions and an unknown or excluded baseline, and logs nothing', async () => {
    const count = () => (h.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    const n0 = count();
    const cases: [Record<string, unknown>, string][] = [
      [{ excludedActions: ['zz'] }, '/excludedActions/0'],
      [{ excludedActions: ['a', 'a'] }, '/excludedActions/1'],
      [{ excludedActions: ACTIONS }, '/excludedActions'],
      [{ baseline: 'zz' }, '/baseline'],
      [{ baseline: 'b', excludedActions: ['b'] }, '/baseline'],
      [{ excludedActions: 'a' }, '/excludedActions'],
      [{ defer: 'yes' }, '/defer'],
    ];
    for (const [body, path] of cases) {
      const res = await request(h.focal.app).post('/decide').send({ model: 'x', ...body }).expect(400);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(res.body.errors[0].path, path, JSON.stringify(res.body));
    }
    assert.equal(count(), n0);
  });
});

describe('deferred activation', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ memory: true }); });
  after(async () => { await h.close(); });

  const decide = async (model: string, body: Record<string, unknown> = {}) =>
    (await request(h.focal.app).post('/decide').send({ model, context: { u: { x: 1 } }, defer: true, ...body }).expect(200)).body as { eventId: string; deferred?: boolean };

  it('learns nothing and applies no default before activation; a reward before activation counts once it happens', async () => {
    await request(h.focal.app).put('/models/first').send({ actions: ACTIONS, reward: { waitSeconds: 60 } }).expect(200);
    const s0 = await stats(h, 'first');
    const d = await decide('first');
    assert.equal(d.deferred, true);
    assert.equal(row(h, d.eventId).hold, 1);
    await request(h.focal.app).post('/reward').send({ eventId: d.eventId, reward: 1 }).expect(200);
    await request(h.focal.app).post('/reward').send({ eventId: d.eventId, reward: 1 }).expect(409);
    const s1 = await stats(h, 'first');
    assert.equal(s1.stats.updates, s0.stats.updates, 'not learned before activation');
    assert.equal(s1.stats.fingerprint, s0.stats.fingerprint);
    await request(h.focal.app).post(`/events/${d.eventId}/activate`).expect(204);
    const s2 = await stats(h, 'first');
    assert.equal(s2.stats.updates, s0.stats.updates + 1, 'the early reward is learned on activation');
    assert.equal(s2.stats.rewardedEvents, 1, 'and counted once');
    assert.equal(s2.stats.clientRewards, 1);
    const again = await request(h.focal.app).post(`/events/${d.eventId}/activate`).expect(409);
    assert.match(again.body.detail, /already active/);

    // Activated with no reward yet: an ordinary decision from then on.
    const e = await decide('first');
    await request(h.focal.app).post(`/events/${e.eventId}/activate`).expect(204);
    await request(h.focal.app).post('/reward').send({ eventId: e.eventId, reward: 0.5 }).expect(200);
    assert.equal((await stats(h, 'first')).stats.updates, s0.stats.updates + 2);

    // A decision that was not deferred is already active.
    const plain = (await request(h.focal.app).post('/decide').send({ model: 'first' }).expect(200)).body;
    await request(h.focal.app).post(`/events/${plain.eventId}/activate`).expect(409);
    await request(h.focal.app).post('/events/nope/activate').expect(404);
  });

  it('a deferred event never activated closes unlearned at its deadline (evaluable), and cannot be activated after', async () => {
    await request(h.focal.app).put('/models/short').send({ actions: ACTIONS, reward: { waitSeconds: 1, default: -1 } }).expect(200);
    const s0 = await stats(h, 'short');
    const d = await decide('short');
    const r = await decide('short');
    await request(h.focal.app).post('/reward').send({ eventId: r.eventId, reward: 1 }).expect(200);
    assert.equal(await h.service.sweep(Date.now() + 5_000), 1);
    const s1 = await stats(h, 'short');
    assert.equal(s1.stats.updates, s0.stats.updates);
    assert.equal(s1.stats.pending, 0);
    assert.deepEqual({ ...row(h, d.eventId), payload: undefined }, { hold: 1, imitated: null, closed: 1, closed_reason: 'inactive', reward: -1, payload: undefined });
    const late = await request(h.focal.app).post(`/events/${d.eventId}/activate`).expect(410);
    assert.match(late.body.detail, /before it was activated/);
    // The one rewarded early but never activated, past its deadline: 410, never learned.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await request(h.focal.app).post(`/events/${r.eventId}/activate`).expect(410);
    assert.equal((await stats(h, 'short')).stats.updates, s0.stats.updates);
  });

  it('under aggregation sum, rewards before activation add up and the total is learned when the window closes', async () => {
    await request(h.focal.app).put('/models/sum').send({ actions: ACTIONS, reward: { waitSeconds: 1, aggregation: 'sum' } }).expect(200);
    const s0 = await stats(h, 'sum');
    const d = await decide('sum');
    await request(h.focal.app).post('/reward').send({ eventId: d.eventId, reward: 1 }).expect(200);
    await request(h.focal.app).post(`/events/${d.eventId}/activate`).expect(204);
    await request(h.focal.app).post('/reward').send({ eventId: d.eventId, reward: 2 }).expect(200);
    assert.equal(await h.service.sweep(Date.now() + 5_000), 1);
    const s1 = await stats(h, 'sum');
    assert.equal(s1.stats.updates, s0.stats.updates + 1);
    assert.equal(row(h, d.eventId).reward, 3);
  });
});
