/**
 * Learning quality of the posterior learners on problems with a known optimum: per-action linear posteriors
 * (linucb, thompson) on a linear problem, and neural-linear on the wheel bandit (Riquelme et al. 2018), where the
 * optimal action is a non-linear function of the context. Seeded, and small enough for CI.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBanditModel, type ActionInput, type BanditConfigInput } from '../../src/bandit/index.js';
import { Xoshiro128 } from '../../src/bandit/random/seeded-rng.js';
import { normalisedWheelRegret, WHEEL_ACTIONS, wheelStream } from '../../bench/lib/wheel.js';

/** 4 actions, 5 features in [0, 1): reward = θ_a·x + N(0, 0.1²). Returns the mean expected reward of the last 1,000 rounds, and the optimum's. */
function linearProblem(config: BanditConfigInput, rounds: number): { achieved: number; optimal: number; uniform: number } {
  const rng = new Xoshiro128(31);
  const theta = Array.from({ length: 4 }, () => Array.from({ length: 5 }, () => rng.next() * 2 - 1));
  const actions: ActionInput[] = ['a', 'b', 'c', 'd'].map((id) => ({ id }));
  const model = createBanditModel(config);
  let achieved = 0;
  let optimal = 0;
  let uniform = 0;
  for (let t = 0; t < rounds; t++) {
    const x = Array.from({ length: 5 }, () => rng.next());
    const context = { f: Object.fromEntries(x.map((v, j) => [`x${j}`, v])) };
    const means = theta.map((th) => th.reduce((s, w, j) => s + w * x[j]!, 0));
    const d = model.decide(context, actions, `lin-${t}`);
    if (t >= rounds - 1000) {
      achieved += means[d.chosen]! / 1000;
      optimal += Math.max(...means) / 1000;
      uniform += means.reduce((s, m) => s + m, 0) / 4 / 1000;
    }
    model.learn({ context, actions, chosen: d.chosen, probability: d.probability, reward: means[d.chosen]! + 0.1 * rng.normal(), eventId: `lin-${t}` });
  }
  return { achieved, optimal, uniform };
}

for (const strategy of ['linucb', 'thompson']) {
  test(`${strategy} with per-action posteriors converges to the optimum of a linear problem`, () => {
    const r = linearProblem({ strategy: { name: strategy } }, 3000);
    // The gap to the optimum closes to under 3% of the gap between uniform and optimal.
    const shortfall = (r.optimal - r.achieved) / (r.optimal - r.uniform);
    assert.ok(shortfall < 0.03, `achieved ${r.achieved}, optimal ${r.optimal}, uniform ${r.uniform}`);
  });
}

test('neural-linear learns the wheel: its greedy action is the optimal one on fresh contexts', () => {
  const model = createBanditModel({ strategy: { name: 'neural-linear' } });
  const train = wheelStream(0.5, 1200, 11);
  train.forEach((r, t) => {
    const context = { x: r.x, y: r.y };
    const d = model.decide(context, WHEEL_ACTIONS, `t${t}`);
    model.learn({ context, actions: WHEEL_ACTIONS, chosen: d.chosen, probability: d.probability, reward: r.rewards[d.chosen]!, eventId: `t${t}` });
  });
  let right = 0;
  const fresh = wheelStream(0.5, 400, 12);
  for (const [t, r] of fresh.entries()) {
    const d = model.decide({ x: r.x, y: r.y }, WHEEL_ACTIONS, `f${t}`);
    const best = d.scores.indexOf(Math.max(...d.scores));
    // Inside the radius a4 (1.2) and a quadrant action (1.0) differ by little; outside, the quadrant's action pays 50.
    if (best === r.optimal || (r.optimal === 4 && r.rewards[best]! > 0.9)) right++;
  }
  assert.ok(right / fresh.length > 0.9, `greedy is optimal on ${right} of ${fresh.length} fresh contexts`);
});

test('neural-linear: cumulative regret on the wheel at δ = 0.5 is far below uniform within 1,000 rounds', () => {
  const scores = [1, 2].map((seed) => normalisedWheelRegret({ strategy: { name: 'neural-linear' } }, 0.5, 1000, seed));
  // Uniform is 100; seeds 1–4 score 8.4–9.5 (RMSProp step 0.003, prioritised replay), most of it paid in the first
  // 100 rounds, before any action is known to pay 50.
  assert.ok(Math.max(...scores) < 11, `normalised regret ${scores.join(', ')}`);
});

test('neural-linear: replaying the logged events rebuilds the live model bit for bit', () => {
  const config = { strategy: { name: 'neural-linear', hidden: 16, memory: 128, trainEvery: 20 } };
  const live = createBanditModel(config);
  const stream = wheelStream(0.7, 400, 5);
  const log: Parameters<typeof live.learn>[0][] = [];
  for (const [t, r] of stream.entries()) {
    const context = { x: r.x, y: r.y };
    const d = live.decide(context, WHEEL_ACTIONS, `r${t}`);
    const event = { context, actions: WHEEL_ACTIONS, chosen: d.chosen, probability: d.probability, reward: r.rewards[d.chosen]!, eventId: `r${t}` };
    live.learn(event);
    log.push(event);
  }
  const replayed = createBanditModel(config);
  for (const event of log) replayed.learn(event);
  assert.deepEqual(replayed.snapshot(), live.snapshot());
  assert.deepEqual(replayed.decide({ x: -0.8, y: 0.5 }, WHEEL_ACTIONS, 'q'), live.decide({ x: -0.8, y: 0.5 }, WHEEL_ACTIONS, 'q'));
});

test('neural-linear beats uniform by far on the wheel at δ = 0.95 (seeded, 1,000 rounds)', () => {
  const scores = [1, 2].map((seed) => normalisedWheelRegret({ strategy: { name: 'neural-linear' } }, 0.95, 1000, seed));
  const mean = (scores[0]! + scores[1]!) / 2;
  // Uniform is 100. Over seeds 1–4 neural-linear scores 43–60 here (mean 50; 24–60 with the former step 0.01, which
  // learns faster early and worse later); thompson 38–102, squarecb 69–112.
  assert.ok(mean < 60, `normalised regret ${scores.join(', ')}`);
});

test('neural-linear: a snapshot restores the same model (bitwise, and it goes on learning the same)', () => {
  const config = { strategy: { name: 'neural-linear', hidden: 8, memory: 64, trainEvery: 16 } };
  const a = createBanditModel(config);
  const stream = wheelStream(0.7, 300, 3);
  const feed = (m: ReturnType<typeof createBanditModel>, from: number, to: number): void => {
    for (let t = from; t < to; t++) {
      const r = stream[t]!;
      const context = { x: r.x, y: r.y };
      const d = m.decide(context, WHEEL_ACTIONS, `s${t}`);
      m.learn({ context, actions: WHEEL_ACTIONS, chosen: d.chosen, probability: d.probability, reward: r.rewards[d.chosen]!, eventId: `s${t}` });
    }
  };
  feed(a, 0, 150);
  const b = createBanditModel(config, a.snapshot());
  assert.deepEqual(b.snapshot(), a.snapshot());
  feed(a, 150, 300);
  feed(b, 150, 300);
  assert.deepEqual(b.snapshot(), a.snapshot());
  assert.deepEqual(b.decide({ x: 0.9, y: 0.1 }, WHEEL_ACTIONS, 'q'), a.decide({ x: 0.9, y: 0.1 }, WHEEL_ACTIONS, 'q'));
});

test('posterior learners keep finite scores and a valid PMF with rewards and features near the float range', () => {
  const actions: ActionInput[] = [{ id: 'a' }, { id: 'b' }];
  for (const name of ['linucb', 'thompson', 'neural-linear']) {
    const model = createBanditModel({ strategy: { name } });
    const rewards = [1e300, -1e300, 1e308, 0, 5e-324, 1e300];
    for (let i = 0; i < 80; i++) {
      const context = { x: i % 2 ? 1e300 : 5e-324, y: 'v' };
      const d = model.decide(context, actions, `e${i}`);
      model.learn({ context, actions, chosen: d.chosen, probability: d.probability, reward: rewards[i % rewards.length]!, eventId: `e${i}` });
    }
    const d = model.decide({ x: 1 }, actions, 'last');
    assert.ok(d.scores.every(Number.isFinite), `${name}: scores ${d.scores}`);
    assert.ok(Math.abs(d.pmf[0]! + d.pmf[1]! - 1) < 1e-9 && d.probability > 0, `${name}: pmf ${d.pmf}`);
  }
});
