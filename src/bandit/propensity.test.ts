/**
 * Honest propensities: the probability a decision logs is the probability its action
 * was drawn with, for every strategy, and `minProbability` floors every strategy's PMF.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { enforceMinimumProbability } from './exploration/minimum-probability.js';
import { BanditConfigError, createBanditModel, normalizeBanditConfig, type ActionInput, type BanditConfigInput, type Features } from './index.js';
import { Xoshiro128 } from './random/seeded-rng.js';

const ACTIONS: ActionInput[] = [{ id: 'a', features: { t: 'a' } }, { id: 'b', features: { t: 'b' } }, { id: 'c' }, { id: 'd', features: { t: 'd', n: 2 } }];

const CONFIGS: BanditConfigInput[] = [
  { strategy: { name: 'greedy' } },
  { strategy: { name: 'uniform' } },
  { strategy: { name: 'epsilon-greedy', epsilon: 0.1 } },
  { strategy: { name: 'softmax', lambda: 20 } },
  { strategy: { name: 'squarecb', gamma: 10 } },
  { strategy: { name: 'bagging', bags: 3 } },
  { strategy: { name: 'linucb', alpha: 1 }, learner: { name: 'bayes-linear', dims: 32 } },
  { strategy: { name: 'thompson', scale: 0.5 }, learner: { name: 'bayes-linear', dims: 32 } },
  { strategy: { name: 'neural-linear', hidden: 8, scale: 0.3 }, learner: { name: 'linear', bits: 10 } },
  // In its first 2,000 events every decision of auto is drawn with its floor mixed in (withFloor).
  { strategy: { name: 'auto' } },
];

/** Trains a model a little on a world where the user's segment picks the best action. */
function trained(config: BanditConfigInput): ReturnType<typeof createBanditModel> {
  const model = createBanditModel(config);
  const rng = new Xoshiro128(4);
  for (let i = 0; i < 300; i++) {
    const seg = Math.floor(rng.next() * 4);
    const context: Features = { user: { seg: `s${seg}` } };
    const d = model.decide(context, ACTIONS, `train-${i}`);
    model.learn({ context, actions: ACTIONS, chosen: d.chosen, probability: d.probability, reward: d.chosen === seg ? 1 : 0, eventId: `train-${i}` });
  }
  return model;
}

for (const base of CONFIGS) {
  const name = base.strategy!.name!;
  test(`${name}: with minProbability the PMF sums to 1, respects the floor, and draws follow the logged probabilities`, () => {
    const floor = 0.03;
    const model = trained({ ...base, strategy: { ...base.strategy, minProbability: floor } });
    const context: Features = { user: { seg: 's1' } };
    const n = name === 'thompson' || name === 'neural-linear' ? 3000 : 6000;
    const counts = [0, 0, 0, 0];
    const meanP = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) {
      const d = model.decide(context, ACTIONS, `e${i}`);
      const sum = d.pmf.reduce((s, p) => s + p, 0);
      assert.ok(Math.abs(sum - 1) < 1e-9, `sum ${sum}`);
      for (const p of d.pmf) assert.ok(p >= floor - 1e-12, `p ${p} under the floor`);
      assert.equal(d.probability, d.pmf[d.chosen]);
      counts[d.chosen]!++;
      for (let a = 0; a < 4; a++) meanP[a]! += d.pmf[a]! / n;
    }
    // The empirical frequency of each action matches the mean logged probability (within 4.5 sd).
    for (let a = 0; a < 4; a++) {
      const p = meanP[a]!;
      const sd = Math.sqrt((p * (1 - p)) / n);
      assert.ok(Math.abs(counts[a]! / n - p) < 4.5 * sd + 1e-9, `${name} action ${a}: frequency ${counts[a]! / n}, logged ${p}`);
    }
  });
}

test('thompson and neural-linear sample from the very PMF they log: P(draw a | event) = logged p(a)', () => {
  // Conditional on the event (its seed fixes the posterior draws and so the PMF), the draw is
  // from the logged PMF: E[1{chosen = a} / p(a)] = 1 for every action that has mass.
  for (const config of CONFIGS.filter((c) => ['thompson', 'neural-linear'].includes(c.strategy!.name!))) {
    const model = trained({ ...config, strategy: { ...config.strategy, minProbability: 0.02 } });
    const n = 4000;
    const ratio = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) {
      const d = model.decide({ user: { seg: 's2' } }, ACTIONS, `x${i}`);
      ratio[d.chosen]! += 1 / d.probability / n;
    }
    // Each sum has mean 1 and sd ≤ √((1/p − 1)/n) ≤ √(49/4000) ≈ 0.11 at the 0.02 floor.
    for (let a = 0; a < 4; a++) assert.ok(Math.abs(ratio[a]! - 1) < 0.45, `${config.strategy!.name} action ${a}: ${ratio[a]}`);
  }
});

test('greedy and linucb log p = 1 without a floor and minProbability·(k−1) below it with one', () => {
  for (const strategy of [{ name: 'greedy' }, { name: 'linucb', alpha: 0 }]) {
    const plain = trained({ strategy });
    const floored = trained({ strategy: { ...strategy, minProbability: 0.05 } });
    const d0 = plain.decide({ user: { seg: 's3' } }, ACTIONS, 'z');
    const d1 = floored.decide({ user: { seg: 's3' } }, ACTIONS, 'z');
    assert.equal(Math.max(...d0.pmf), 1);
    assert.ok(Math.abs(Math.max(...d1.pmf) - 0.85) < 1e-12, `${d1.pmf}`);
  }
});

test('enforceMinimumProbability: exact floor, sum 1, order kept, uniform at 1/k', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 12 }), fc.double({ min: 0, max: 0.2, noNaN: true }), (raw, min) => {
      const total = raw.reduce((s, v) => s + v, 0);
      if (!(total > 0)) return;
      const k = raw.length;
      const pmf = Float64Array.from(raw.map((v) => v / total));
      const before = Array.from(pmf);
      enforceMinimumProbability(pmf, k, min);
      const sum = pmf.reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(sum - 1) < 1e-9, `sum ${sum}`);
      const floor = Math.min(min, 1 / k);
      for (let i = 0; i < k; i++) assert.ok(pmf[i]! >= floor - 1e-12, `${pmf[i]} < ${floor}`);
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) if (before[i]! > before[j]!) assert.ok(pmf[i]! >= pmf[j]! - 1e-12);
    }),
    { numRuns: 500 },
  );
  const pmf = Float64Array.from([1, 0, 0, 0]);
  enforceMinimumProbability(pmf, 4, 0.1);
  assert.deepEqual(Array.from(pmf).map((p) => +p.toFixed(12)), [0.7, 0.1, 0.1, 0.1]);
  enforceMinimumProbability(pmf, 4, 0.25);
  assert.deepEqual(Array.from(pmf), [0.25, 0.25, 0.25, 0.25]);
  // A PMF that already clears the floor is left exactly as it was (a uniform 0.1 stays 0.1).
  const uniform = new Float64Array(10).fill(0.1);
  enforceMinimumProbability(uniform, 10, 0.005);
  assert.deepEqual(Array.from(uniform), new Array(10).fill(0.1));
  // A second-best entry that rescaling would push under the floor is floored too.
  const two = Float64Array.from([0.88, 0.11, 0.01]);
  enforceMinimumProbability(two, 3, 0.1);
  assert.ok(two[1]! >= 0.1 && two[2]! >= 0.1 - 1e-12 && Math.abs(two[0]! + two[1]! + two[2]! - 1) < 1e-12, `${Array.from(two)}`);
});

test('minProbability is validated and kept in the normalised config', () => {
  assert.equal(normalizeBanditConfig({ strategy: { name: 'greedy', minProbability: 0.05 } }).strategy.minProbability, 0.05);
  assert.equal(normalizeBanditConfig({ strategy: { name: 'greedy' } }).strategy.minProbability, undefined);
  assert.throws(() => normalizeBanditConfig({ strategy: { name: 'greedy', minProbability: -0.1 } }), BanditConfigError);
  assert.throws(() => normalizeBanditConfig({ strategy: { name: 'greedy', minProbability: 'x' } }), BanditConfigError);
});
