/**
 * Any reward scale: the strategies behave the same whether a problem pays in [0, 1], [−1, 1] or [1, 50].
 * The same stream is run three times with the rewards mapped affinely (r, 2r − 1, 1 + 49r); the
 * decisions are compared and the value earned is measured in the original units.
 * And forgetting: a linear learner with `forget` < 1 follows a reward that changes, the default does not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBanditModel, type ActionInput, type BanditConfigInput, type Features } from './index.js';
import { Xoshiro128 } from './random/seeded-rng.js';
import { RewardRange } from './reward-range.js';

const ACTIONS: ActionInput[] = ['a', 'b', 'c', 'd'].map((id) => ({ id }));
const SCALES: { name: string; map: (r: number) => number }[] = [
  { name: '[0, 1]', map: (r) => r },
  { name: '[−1, 1]', map: (r) => 2 * r - 1 },
  { name: '[1, 50]', map: (r) => 1 + 49 * r },
];

/** Segment s prefers action s (Bernoulli 0.8), the rest pay Bernoulli 0.3; returns decisions and mean reward in [0, 1] units. */
function run(config: BanditConfigInput, map: (r: number) => number, n: number, seed: number): { chosen: number[]; mean: number } {
  const rng = new Xoshiro128(seed);
  const model = createBanditModel(config);
  const chosen: number[] = [];
  let total = 0;
  for (let t = 0; t < n; t++) {
    const s = Math.floor(rng.next() * 4);
    const context: Features = { user: { segment: `s${s}`, x: rng.next() } };
    const eventId = `scale-${seed}-${t}`;
    const d = model.decide(context, ACTIONS, eventId);
    const r = rng.next() < (d.chosen === s ? 0.8 : 0.3) ? 1 : 0;
    chosen.push(d.chosen);
    total += r;
    model.learn({ context, actions: ACTIONS, chosen: d.chosen, probability: d.probability, reward: map(r), eventId });
  }
  return { chosen, mean: total / n };
}

for (const config of [
  { strategy: { name: 'squarecb' } },
  { strategy: { name: 'softmax', lambda: 10 } },
  { strategy: { name: 'epsilon-greedy', epsilon: 0.05 } },
] as BanditConfigInput[]) {
  test(`${config.strategy!.name} learns the same under any reward scale`, () => {
    const means: number[][] = SCALES.map(() => []);
    let agreeing = 0;
    let total = 0;
    for (let seed = 1; seed <= 4; seed++) {
      const runs = SCALES.map((s) => run(config, s.map, 1500, seed));
      runs.forEach((r, i) => means[i]!.push(r.mean));
      for (let i = 1; i < runs.length; i++) {
        for (let t = 0; t < runs[0]!.chosen.length; t++) if (runs[i]!.chosen[t] === runs[0]!.chosen[t]) agreeing++;
        total += runs[0]!.chosen.length;
      }
    }
    const avg = means.map((m) => m.reduce((a, b) => a + b, 0) / m.length);
    // Optimal 0.8, uniform 0.425: every scale must learn, and earn what [0, 1] earns.
    for (let i = 0; i < SCALES.length; i++) {
      assert.ok(avg[i]! > 0.65, `${SCALES[i]!.name}: mean reward ${avg[i]!.toFixed(3)} (uniform 0.425, optimal 0.8)`);
      assert.ok(Math.abs(avg[i]! - avg[0]!) < 0.03, `${SCALES[i]!.name}: ${avg[i]!.toFixed(3)} vs [0, 1]: ${avg[0]!.toFixed(3)}`);
    }
    assert.ok(agreeing / total > 0.8, `decisions agree with the [0, 1] run on ${((100 * agreeing) / total).toFixed(1)}% of rounds`);
  });
}

test('squarecb on [1, 50] rewards without the range scaling would explore like greedy: the scaled one explores as on [0, 1]', () => {
  // After learning, the probability of a non-best action is 1/(k + γ_t·gap/range): equal across scales.
  const probs = SCALES.map((s) => {
    const model = createBanditModel({ strategy: { name: 'squarecb' } });
    const rng = new Xoshiro128(9);
    for (let t = 0; t < 400; t++) {
      const context: Features = { user: { segment: 's0' } };
      const d = model.decide(context, ACTIONS, `p-${t}`);
      const r = rng.next() < (d.chosen === 0 ? 0.8 : 0.3) ? 1 : 0;
      model.learn({ context, actions: ACTIONS, chosen: d.chosen, probability: d.probability, reward: s.map(r), eventId: `p-${t}` });
    }
    return Math.min(...model.decide({ user: { segment: 's0' } }, ACTIONS, 'probe').pmf);
  });
  for (const p of probs) assert.ok(p > 0.001, `the least likely action keeps ${p}`);
  assert.ok(Math.max(...probs) / Math.min(...probs) < 3, `smallest probabilities across scales: ${probs.map((p) => p.toFixed(4)).join(', ')}`);
});

test('forgetting: a linear learner with forget < 1 follows a reward that changes, the default keeps the old answer longer', () => {
  // One context, two actions; action 0 pays Bernoulli(0.7) and action 1 Bernoulli(0.3) for 20,000 rounds, then the reverse.
  const score = (forget: number | undefined): number => {
    const model = createBanditModel({ strategy: { name: 'epsilon-greedy', epsilon: 0.2 }, learner: { name: 'linear', ...(forget ? { forget } : {}) } });
    const actions: ActionInput[] = [{ id: 'x' }, { id: 'y' }];
    let after = 0;
    const rng = new Xoshiro128(77);
    for (let t = 0; t < 20500; t++) {
      const d = model.decide({ u: { k: 1 } }, actions, `f-${t}`);
      const best = t < 20000 ? 0 : 1;
      const reward = rng.next() < (d.chosen === best ? 0.7 : 0.3) ? 1 : 0;
      if (t >= 20000) after += reward;
      model.learn({ context: { u: { k: 1 } }, actions, chosen: d.chosen, probability: d.probability, reward, eventId: `f-${t}` });
    }
    return after / 500;
  };
  const plain = score(undefined);
  const forgetting = score(0.99);
  assert.ok(forgetting > plain + 0.05, `reward in the 500 rounds after the change: forget 0.99 ${forgetting.toFixed(3)}, default ${plain.toFixed(3)}`);
});

test('forgetting survives a snapshot: restore(snapshot()) learns on identically', () => {
  const config: BanditConfigInput = { strategy: { name: 'squarecb' }, learner: { name: 'linear', forget: 0.995, bits: 12 } };
  const a = createBanditModel(config);
  const rng = new Xoshiro128(3);
  const step = (m: ReturnType<typeof createBanditModel>, t: number): void => {
    const context: Features = { u: { v: `k${t % 5}` } };
    const d = m.decide(context, ACTIONS, `s-${t}`);
    m.learn({ context, actions: ACTIONS, chosen: d.chosen, probability: d.probability, reward: rng.next(), eventId: `s-${t}` });
  };
  for (let t = 0; t < 200; t++) step(a, t);
  const b = createBanditModel(config, a.snapshot());
  assert.deepEqual(b.snapshot(), a.snapshot());
  const state = rng.nextUint32();
  const rngB = new Xoshiro128(state);
  const rngA = new Xoshiro128(state);
  for (let t = 200; t < 260; t++) {
    for (const [m, r] of [[a, rngA], [b, rngB]] as const) {
      const context: Features = { u: { v: `k${t % 5}` } };
      const d = m.decide(context, ACTIONS, `s-${t}`);
      m.learn({ context, actions: ACTIONS, chosen: d.chosen, probability: d.probability, reward: r.next(), eventId: `s-${t}` });
    }
  }
  assert.deepEqual(b.snapshot(), a.snapshot());
});

test('the reward range: span, bounds with 0 and scale, as the model, its learner and the optimizer read them', () => {
  const range = new RewardRange();
  assert.ok(!(range.span > 0));
  assert.deepEqual([range.low, range.high, range.scale], [0, 0, 1]);
  range.observe(3);
  assert.deepEqual([range.span, range.low, range.high, range.scale], [0, 0, 3, 1 / 3]);
  range.observe(-1);
  assert.deepEqual([range.span, range.low, range.high, range.scale], [4, -1, 3, 1 / 4]);
  const unit = new RewardRange();
  unit.observe(0.25);
  unit.observe(0.75);
  assert.deepEqual([unit.span, unit.low, unit.high, unit.scale], [0.5, 0, 0.75, 1]);
  // One range per model: a restored model (the range travels in the model's snapshot, the learner reads it) decides
  // exactly as the live one on rewards in [1, 50].
  const live = createBanditModel({ strategy: { name: 'squarecb' } });
  const rng = new Xoshiro128(9);
  const step = (m: typeof live, t: number) => {
    const context: Features = { x: rng.next() };
    const d = m.decide(context, ACTIONS, `r-${t}`);
    m.learn({ context, actions: ACTIONS, chosen: d.chosen, probability: d.probability, reward: 1 + 49 * rng.next() * (d.chosen + 1) / 4, eventId: `r-${t}` });
  };
  for (let t = 0; t < 300; t++) step(live, t);
  const restored = createBanditModel({ strategy: { name: 'squarecb' } }, live.snapshot());
  const context: Features = { x: 0.3 };
  assert.deepEqual(restored.decide(context, ACTIONS, 'probe'), live.decide(context, ACTIONS, 'probe'));
  assert.deepEqual(restored.snapshot(), live.snapshot());
});
