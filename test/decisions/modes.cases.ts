import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import request from 'supertest';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';
import { it, startHarness, type Harness } from './harness.js';

/** Learning modes, baselines, excluded actions and deferred activation (../shared/API.md "Learning modes, …"). The background sweep is
 * off in these harnesses: a test's sweep at a fixed clock would return 0 while a background one is running. */

const ACTIONS = ['a', 'b', 'c', 'd'];
type Ranked = { id: string; probability: number };

async function stats(h: Harness, model: string) {
  const res = await request(h.focal.app).get(`/models/${model}`).expect(200);
  return res.body as { config: Record<string, unknown>; version: number; stats: { decisions: number; updates: number; fingerprint: string; pending: number; rewardedEvents: number; clientRewards: number; defaultRewards: number; apprentice?: { events: number; imitated: number; imitationRate: number | null } } };
}

async function row(h: Harness, eventId: string) {
  const [r] = await h.sql<{ hold: number; imitated: number | null; closed: number; closed_reason: string | null; reward: number | null; payload: string }>(
    'SELECT hold, imitated, closed, closed_reason, reward, payload FROM events WHERE event_id = ?', eventId);
  return r!;
}

function sum(ranking: Ranked[]): number {
  return ranking.reduce((s, r) => s + r.probability, 0);
}

describe('learning modes', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ memory: true, decisions: { sweepIntervalMs: 3_600_000 } }); });
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
      const logged = decodeDecisionPayload((await row(h, d.eventId)).payload);
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
    const metrics = (await request(h.focal.app).get('/metrics').expect(200)).text;
    assert.match(metrics, new RegExp(`focal_bandit_apprentice_decisions_total\\{model="app",imitated="true"\\} ${imitated}\\b`));
    assert.match(metrics, new RegExp(`focal_bandit_apprentice_decisions_total\\{model="app",imitated="false"\\} ${n - imitated}\\b`));
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
    await request(h.focal.app).put('/models/log').send({ mode: 'logging', actions: ACTIONS, reward: { waitSeconds: 30 } }).expect(200);
    const s0 = await stats(h, 'log');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const d = (await request(h.focal.app).post('/decide').send({ model: 'log', context: { u: { i } } }).expect(200)).body;
      assert.equal(d.action, 'a');
      assert.equal(d.mode, 'logging');
      ids.push(d.eventId);
      assert.equal((await row(h, d.eventId)).hold, 2);
    }
    for (const eventId of ids.slice(0, 5)) await request(h.focal.app).post('/reward').send({ eventId, reward: 1 }).expect(200);
    assert.ok(await h.service.sweep(Date.now() + 60_000) >= 5);
    const s1 = await stats(h, 'log');
    assert.equal(s1.stats.updates, s0.stats.updates);
    assert.equal(s1.stats.fingerprint, s0.stats.fingerprint);
    assert.equal(s1.stats.rewardedEvents, 10);
    assert.equal(s1.stats.pending, 0);
    assert.equal((await row(h, ids[9]!)).closed_reason, 'window');
    // A logging-mode event is not deferred, even when asked to be: activating it is a conflict.
    const a = await request(h.focal.app).post(`/events/${ids[0]}/activate`).expect(409);
    assert.match(a.body.detail, /logging mode/);
    const asked = (await request(h.focal.app).post('/decide').send({ model: 'log', defer: true }).expect(200)).body;
    assert.equal(asked.deferred, undefined);
    assert.equal((await row(h, asked.eventId)).hold, 2);
  });

  it('refuses an unknown mode and keeps the model', async () => {
    const bad = await request(h.focal.app).put('/models/app').send({ mode: 'shadow' }).expect(400);
    assert.equal(bad.body.errors[0].path, '/mode');
  });
});

describe('excluded actions and baselines', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ memory: true, decisions: { sweepIntervalMs: 3_600_000 } }); });
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
      const logged = decodeDecisionPayload((await row(h, d.eventId)).payload);
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
    const count = () => h.countEvents();
    const n0 = await count();
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
    assert.equal(await count(), n0);
  });
});

describe('deferred activation', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ memory: true, decisions: { sweepIntervalMs: 3_600_000 } }); });
  after(async () => { await h.close(); });

  const decide = async (model: string, body: Record<string, unknown> = {}) =>
    (await request(h.focal.app).post('/decide').send({ model, context: { u: { x: 1 } }, defer: true, ...body }).expect(200)).body as { eventId: string; deferred?: boolean };

  it('learns nothing and applies no default before activation; a reward before activation counts once it happens', async () => {
    await request(h.focal.app).put('/models/first').send({ actions: ACTIONS, reward: { waitSeconds: 60 } }).expect(200);
    const s0 = await stats(h, 'first');
    const d = await decide('first');
    assert.equal(d.deferred, true);
    assert.equal((await row(h, d.eventId)).hold, 1);
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
    assert.match((await request(h.focal.app).get('/metrics').expect(200)).text, /focal_bandit_activations_total\{model="first"\} 1\b/);
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
    await request(h.focal.app).put('/models/short').send({ actions: ACTIONS, reward: { waitSeconds: 30, default: -1 } }).expect(200);
    const s0 = await stats(h, 'short');
    const d = await decide('short');
    const r = await decide('short');
    await request(h.focal.app).post('/reward').send({ eventId: r.eventId, reward: 1 }).expect(200);
    await h.service.sweep(Date.now() + 60_000);
    const s1 = await stats(h, 'short');
    assert.equal(s1.stats.updates, s0.stats.updates);
    assert.equal(s1.stats.pending, 0);
    assert.deepEqual({ ...(await row(h, d.eventId)), payload: undefined }, { hold: 1, imitated: null, closed: 1, closed_reason: 'inactive', reward: -1, payload: undefined });
    const late = await request(h.focal.app).post(`/events/${d.eventId}/activate`).expect(410);
    assert.match(late.body.detail, /before it was activated/);
    // The one rewarded early but never activated keeps its reward, unlearned (evaluable).
    assert.deepEqual({ ...(await row(h, r.eventId)), payload: undefined }, { hold: 1, imitated: null, closed: 1, closed_reason: 'reward', reward: 1, payload: undefined });
    assert.equal((await stats(h, 'short')).stats.updates, s0.stats.updates);
  });

  it('under aggregation sum, rewards before activation add up and the total is learned when the window closes', async () => {
    await request(h.focal.app).put('/models/sum').send({ actions: ACTIONS, reward: { waitSeconds: 30, aggregation: 'sum' } }).expect(200);
    const s0 = await stats(h, 'sum');
    const d = await decide('sum');
    await request(h.focal.app).post('/reward').send({ eventId: d.eventId, reward: 1 }).expect(200);
    await request(h.focal.app).post(`/events/${d.eventId}/activate`).expect(204);
    await request(h.focal.app).post('/reward').send({ eventId: d.eventId, reward: 2 }).expect(200);
    await h.service.sweep(Date.now() + 60_000);
    const s1 = await stats(h, 'sum');
    assert.equal(s1.stats.updates, s0.stats.updates + 1);
    assert.equal((await row(h, d.eventId)).reward, 3);
  });
});

describe('multi-slot decisions', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ memory: true, config: { limits: { actionsPerRequest: 6 } } }); });
  after(async () => { await h.close(); });

  const SIX = ['a', 'b', 'c', 'd', 'e', 'f'];
  const slots = [{ id: 'hero', features: { size: 'large' } }, { id: 'side', features: { size: 'small' }, excludedActions: ['a'] }, { id: 'foot' }];

  it('places one distinct action per slot, in order, each slot a decision of its own', async () => {
    await request(h.focal.app).put('/models/ms').send({ actions: SIX, strategy: { name: 'epsilon-greedy', epsilon: 0.6 } }).expect(200);
    for (let i = 0; i < 30; i++) {
      const res = await request(h.focal.app).post('/decide').send({ model: 'ms', context: { u: { i } }, excludedActions: ['f'], slots }).expect(200);
      const b = res.body as { eventId: string; model: string; slots: { id: string; action: string; probability: number; ranking: Ranked[] }[] };
      assert.deepEqual(Object.keys(b).sort(), ['eventId', 'model', 'slots', 'strategy']);
      assert.deepEqual(b.slots.map((s) => s.id), ['hero', 'side', 'foot']);
      const chosen = b.slots.map((s) => s.action);
      assert.equal(new Set(chosen).size, 3, `distinct: ${chosen}`);
      assert.ok(!chosen.includes('f'));
      assert.notEqual(b.slots[1]!.action, 'a');
      for (const [j, s] of b.slots.entries()) {
        assert.ok(Math.abs(sum(s.ranking) - 1) < 1e-9);
        assert.equal(s.ranking.find((r) => r.id === s.action)!.probability, s.probability);
        // Actions taken by earlier slots (and excluded ones) have probability 0 in this slot.
        for (const taken of [...chosen.slice(0, j), 'f']) assert.equal(s.ranking.find((r) => r.id === taken)!.probability, 0);
        const logged = decodeDecisionPayload((await row(h, `${b.eventId}#${s.id}`)).payload);
        assert.equal(logged.actions[logged.chosen]!.id, s.action);
        assert.equal(logged.probability, s.probability);
        assert.equal(logged.slot, s.id);
        assert.deepEqual((logged.context as { _slot: { id: string } })._slot.id, s.id);
      }
    }
  });

  it('rewards per slot ({slot} or {rewards}), each slot with its own window and aggregation; the parent id alone is a 400', async () => {
    const s0 = await stats(h, 'ms');
    const b = (await request(h.focal.app).post('/decide').send({ model: 'ms', slots }).expect(200)).body;
    const one = await request(h.focal.app).post('/reward').send({ eventId: b.eventId, slot: 'hero', reward: 1 }).expect(200);
    assert.deepEqual(one.body, { eventId: b.eventId, slot: 'hero', reward: 1, applied: true });
    const many = await request(h.focal.app).post('/reward').send({ eventId: b.eventId, rewards: { side: 0, foot: 0.5, hero: 1, nope: 1 } }).expect(200);
    assert.deepEqual(many.body.results.map((r: { slot: string; status: number }) => [r.slot, r.status]), [['side', 200], ['foot', 200], ['hero', 409], ['nope', 404]]);
    const parent = await request(h.focal.app).post('/reward').send({ eventId: b.eventId, reward: 1 }).expect(400);
    assert.equal(parent.body.errors[0].path, '/slot');
    const s1 = await stats(h, 'ms');
    assert.equal(s1.stats.updates, s0.stats.updates + 3);
    assert.equal(s1.stats.decisions, s0.stats.decisions + 3);
  });

  it('defers and activates every slot at once; apprentice answers each slot\'s baseline', async () => {
    const s0 = await stats(h, 'ms');
    const b = (await request(h.focal.app).post('/decide').send({ model: 'ms', slots, defer: true }).expect(200)).body;
    assert.equal(b.deferred, true);
    await request(h.focal.app).post('/reward').send({ eventId: b.eventId, rewards: { hero: 1 } }).expect(200);
    assert.equal((await stats(h, 'ms')).stats.updates, s0.stats.updates);
    await request(h.focal.app).post(`/events/${b.eventId}/activate`).expect(204);
    assert.equal((await stats(h, 'ms')).stats.updates, s0.stats.updates + 1);
    await request(h.focal.app).post(`/events/${b.eventId}/activate`).expect(409);

    await request(h.focal.app).put('/models/ms-app').send({ mode: 'apprentice', actions: SIX }).expect(200);
    const a = (await request(h.focal.app).post('/decide').send({
      model: 'ms-app', slots: [{ id: 'hero', baseline: 'c' }, { id: 'side', baseline: 'a' }, { id: 'foot' }],
    }).expect(200)).body;
    assert.deepEqual(a.slots.map((s: { action: string }) => s.action), ['c', 'a', 'b']);
    assert.ok(a.slots.every((s: { probability: number; mode: string }) => s.probability === 1 && s.mode === 'apprentice'));
    assert.equal((await stats(h, 'ms-app')).stats.apprentice!.events, 3);
  });

  it('refuses bad slots with a precise 4xx and logs nothing', async () => {
    const count = () => h.countEvents();
    const n0 = await count();
    const cases: [Record<string, unknown>, number, string][] = [
      [{ slots: [{ id: 'x' }, { id: 'x' }] }, 400, '/slots/1/id'],
      [{ slots: [] }, 400, '/slots'],
      [{ slots: [{ id: 'has space' }] }, 400, '/slots/0/id'],
      [{ slots: [{ id: 'x', baseline: 'zz' }] }, 400, '/slots/0/baseline'],
      [{ slots: [{ id: 'x', baseline: 'a' }, { id: 'y', baseline: 'a' }] }, 400, '/slots/1/baseline'],
      [{ slots: [{ id: 'x', excludedActions: ['zz'] }] }, 400, '/slots/0/excludedActions/0'],
      [{ slots: [{ id: 'x' }], baseline: 'a' }, 400, '/baseline'],
      [{ actions: ['a', 'b'], slots: [{ id: 'x' }, { id: 'y' }, { id: 'z' }] }, 400, '/slots'],
      [{ actions: ['a', 'b'], slots: [{ id: 'x', excludedActions: ['b'] }, { id: 'y', excludedActions: ['b'] }] }, 400, '/slots/1'],
      [{ slots: Array.from({ length: 7 }, (_, i) => ({ id: `s${i}` })) }, 413, ''],
      [{ slots: [{ id: 'x', features: { n: Number.MAX_VALUE } }] }, 400, '/slots/0/features/n'],
    ];
    for (const [body, status, path] of cases) {
      const res = await request(h.focal.app).post('/decide').send({ model: 'ms', ...body });
      assert.equal(res.status, status, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      if (path) assert.equal(res.body.errors[0].path, path, JSON.stringify(res.body));
    }
    // A reused eventId (of the decision or of a slot) is a 409, and nothing of the second request is kept.
    await request(h.focal.app).post('/decide').send({ model: 'ms', eventId: 'taken', slots: [{ id: 'x' }] }).expect(200);
    await request(h.focal.app).post('/decide').send({ model: 'ms', eventId: 'taken', slots: [{ id: 'y' }] }).expect(409);
    await request(h.focal.app).post('/decide').send({ model: 'ms', eventId: 'taken#x' }).expect(409);
    assert.equal(await count(), n0 + 2);
  });
});
