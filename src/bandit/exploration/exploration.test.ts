import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Xoshiro128 } from '../random/seeded-rng.js';
import { baggingPmf } from './bagging.js';
import { epsilonGreedyPmf } from './epsilon-greedy.js';
import { greedyPmf } from './greedy.js';
import { linUcbPmf } from './linucb.js';
import { sample } from './sampling.js';
import { softmaxPmf } from './softmax.js';
import { squareCbGamma, squareCbPmf } from './squarecb.js';
import { normalCdfExact } from './normal-table.js';
import { thompsonIndependentPmf, thompsonPmf } from './thompson.js';
import { uniformPmf } from './uniform.js';

// Multiples of 1/64 keep sums exact enough that float rounding cannot fake or break a tie.
const scoresArb = fc.array(fc.integer({ min: -640, max: 640 }).map((i) => i / 64), { minLength: 1, maxLength: 12 });
/** Scores drawn from a small set so that ties are frequent. */
const tiedScoresArb = fc.array(fc.constantFrom(0, 0.25, 0.5, 1), { minLength: 1, maxLength: 12 });
const anyScores = fc.oneof(scoresArb, tiedScoresArb);

interface Named {
  name: string;
  pmf(scores: number[], out: Float64Array): void;
}

/** Every strategy, reduced to scores → PMF (posterior ones with a fixed diagonal covariance). */
const strategies: Named[] = [
  { name: 'greedy', pmf: (s, out) => greedyPmf(s, s.length, out) },
  { name: 'uniform', pmf: (s, out) => uniformPmf(s.length, out) },
  { name: 'epsilon-greedy', pmf: (s, out) => epsilonGreedyPmf(s, s.length, 0.1, out) },
  { name: 'softmax', pmf: (s, out) => softmaxPmf(s, s.length, 5, out) },
  { name: 'squarecb', pmf: (s, out) => squareCbPmf(s, s.length, 50, out) },
  {
    name: 'bagging',
    pmf: (s, out) => {
      // Three bags: the scores, the scores reversed, the scores again.
      const k = s.length;
      const bags = [...s, ...[...s].reverse(), ...s];
      baggingPmf(bags, 3, k, out);
    },
  },
  { name: 'linucb', pmf: (s, out) => linUcbPmf(s, s.map(() => 0.01), s.length, 1, new Float64Array(s.length), out) },
  {
    name: 'thompson',
    pmf: (s, out) => {
      const k = s.length;
      const cov = new Float64Array(k * k);
      for (let i = 0; i < k; i++) cov[i * k + i] = 0.05;
      thompsonPmf(s, cov, k, 1, 64, new Xoshiro128(42), new Float64Array(k * k), new Float64Array(2 * k), out);
    },
  },
];

function sum(a: ArrayLike<number>, k: number): number {
  let s = 0;
  for (let i = 0; i < k; i++) s += a[i]!;
  return s;
}

for (const strat of strategies) {
  test(`${strat.name}: PMF is non-negative and sums to 1`, () => {
    fc.assert(
      fc.property(anyScores, (scores) => {
        const out = new Float64Array(scores.length);
        strat.pmf(scores, out);
        for (let i = 0; i < scores.length; i++) assert.ok(out[i]! >= 0 && out[i]! <= 1 + 1e-12, `p[${i}] = ${out[i]}`);
        assert.ok(Math.abs(sum(out, scores.length) - 1) < 1e-9, `sum ${sum(out, scores.length)}`);
      }),
      { numRuns: 300 },
    );
  });
}

// Strategies whose PMF is a deterministic function of the scores: argmax keeps the most mass, ties share.
for (const strat of strategies.filter((s) => ['greedy', 'epsilon-greedy', 'softmax', 'squarecb', 'linucb'].includes(s.name))) {
  test(`${strat.name}: the best action keeps the most mass and tied actions share equally`, () => {
    fc.assert(
      fc.property(anyScores, (scores) => {
        const out = new Float64Array(scores.length);
        strat.pmf(scores, out);
        const max = Math.max(...scores);
        const best = scores.findIndex((s) => s === max);
        for (let i = 0; i < scores.length; i++) {
          assert.ok(out[best]! >= out[i]! - 1e-12);
          if (scores[i] === scores[best]) assert.ok(Math.abs(out[i]! - out[best]!) < 1e-12);
          if (scores[i]! < max && strat.name !== 'softmax' && strat.name !== 'squarecb') {
            assert.ok(out[i]! < out[best]! || scores.length === 1);
          }
        }
        // Higher score never gets less mass (monotone).
        for (let i = 0; i < scores.length; i++) {
          for (let j = 0; j < scores.length; j++) if (scores[i]! > scores[j]!) assert.ok(out[i]! >= out[j]! - 1e-12);
        }
      }),
      { numRuns: 300 },
    );
  });
}

test('epsilon-greedy: exact PMF for ε=0.4, K=4', () => {
  const out = new Float64Array(4);
  epsilonGreedyPmf([0.1, 0.2, 0.9, 0.3], 4, 0.4, out);
  const expected = [0.1, 0.1, 0.7, 0.1];
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(out[i]! - expected[i]!) < 1e-12, `${Array.from(out)}`);
});

test('epsilon-greedy: every action keeps at least ε/K', () => {
  fc.assert(
    fc.property(anyScores, fc.double({ min: 0, max: 1, noNaN: true }), (scores, eps) => {
      const k = scores.length;
      const out = new Float64Array(k);
      epsilonGreedyPmf(scores, k, eps, out);
      for (let i = 0; i < k; i++) assert.ok(out[i]! >= eps / k - 1e-12);
      assert.ok(Math.abs(sum(out, k) - 1) < 1e-9);
    }),
  );
});

test('ties share mass: exact small cases', () => {
  const out = new Float64Array(4);
  greedyPmf([1, 3, 3, 0], 4, out);
  assert.deepEqual(Array.from(out), [0, 0.5, 0.5, 0]);
  epsilonGreedyPmf([1, 3, 3, 0], 4, 0.2, out);
  assert.deepEqual(Array.from(out).map((p) => +p.toFixed(12)), [0.05, 0.45, 0.45, 0.05]);
  uniformPmf(4, out);
  assert.deepEqual(Array.from(out), [0.25, 0.25, 0.25, 0.25]);
});

test('softmax: exact PMF and λ=0 is uniform', () => {
  const out = new Float64Array(2);
  softmaxPmf([0, Math.log(3)], 2, 1, out);
  assert.ok(Math.abs(out[0]! - 0.25) < 1e-12 && Math.abs(out[1]! - 0.75) < 1e-12);
  softmaxPmf([5, -5], 2, 0, out);
  assert.deepEqual(Array.from(out), [0.5, 0.5]);
  // Large λ cannot overflow.
  softmaxPmf([1000, 0], 2, 1e6, out);
  assert.deepEqual(Array.from(out), [1, 0]);
});

test('squarecb: inverse-gap weights, uniform at γ=0, γ_t = γ0·√t', () => {
  const out = new Float64Array(3);
  squareCbPmf([1, 0.5, 0], 3, 10, out);
  // p = 1/(K + γ·gap): 1/(3 + 5) and 1/(3 + 10); the best takes the rest.
  assert.ok(Math.abs(out[1]! - 1 / 8) < 1e-12);
  assert.ok(Math.abs(out[2]! - 1 / 13) < 1e-12);
  assert.ok(Math.abs(out[0]! - (1 - 1 / 8 - 1 / 13)) < 1e-12);
  squareCbPmf([1, 0.5, 0], 3, 0, out);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(out[i]! - 1 / 3) < 1e-12);
  assert.equal(squareCbGamma(10, 0.5, 100), 100);
  assert.equal(squareCbGamma(10, 0.5, 0), 0);
});

test('bagging: vote share of the replicas', () => {
  const out = new Float64Array(3);
  // Bag 1 votes for action 0, bag 2 for action 2, bag 3 ties 1 and 2, bag 4 votes for 2.
  baggingPmf([1, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0, 1], 4, 3, out);
  assert.deepEqual(Array.from(out), [0.25, 0.125, 0.625]);
});

test('linucb: the widest upper bound wins', () => {
  const out = new Float64Array(2);
  linUcbPmf([1, 0.9], [0, 1], 2, 1, new Float64Array(2), out);
  assert.deepEqual(Array.from(out), [0, 1]);
  linUcbPmf([1, 0.9], [0, 1], 2, 0, new Float64Array(2), out);
  assert.deepEqual(Array.from(out), [1, 0]);
});

test('thompson: P(best) follows the posterior; correlated scores are estimated from seeded draws', () => {
  const k = 2;
  const run = (seed: number, means: number[], v: number, c = 0): number[] => {
    const out = new Float64Array(k);
    thompsonPmf(means, [v, c, c, v], k, 1, 4000, new Xoshiro128(seed), new Float64Array(4), new Float64Array(4), out);
    return Array.from(out);
  };
  // Independent: the difference of two N(·, 1) has sd √2; P(0.5 + N > N) = Φ(0.5/√2) ≈ 0.638, by quadrature.
  const p = run(1, [0.5, 0], 1);
  assert.ok(Math.abs(p[0]! - normalCdfExact(0.5 / Math.SQRT2)) < 2e-3, `${p}`);
  assert.deepEqual(run(7, [0.5, 0], 1), run(8, [0.5, 0], 1));
  // Correlation 0.5: the difference has sd 1, P = Φ(0.5) ≈ 0.691, from 4,000 draws; the same seed gives the same PMF.
  const q = run(1, [0.5, 0], 1, 0.5);
  assert.ok(Math.abs(q[0]! - normalCdfExact(0.5)) < 0.03, `${q}`);
  assert.deepEqual(run(7, [0.5, 0], 1, 0.5), run(7, [0.5, 0], 1, 0.5));
  // No uncertainty: greedy.
  assert.deepEqual(run(3, [0.5, 0], 0), [1, 0]);
});

/** P(a best) for independent N(mu, sd²) by a 40,000-point midpoint rule with the exact Φ. */
function exactTsPmf(mu: number[], sd: number[]): number[] {
  const k = mu.length;
  const lo = Math.min(...mu.map((m, a) => m - 9 * sd[a]!));
  const hi = Math.max(...mu.map((m, a) => m + 9 * sd[a]!));
  const steps = 40000;
  const h = (hi - lo) / steps;
  const out = new Array<number>(k).fill(0);
  for (let s = 0; s < steps; s++) {
    const x = lo + (s + 0.5) * h;
    for (let a = 0; a < k; a++) {
      const z = (x - mu[a]!) / sd[a]!;
      let v = (Math.exp(-0.5 * z * z) / (sd[a]! * Math.sqrt(2 * Math.PI))) * h;
      for (let b = 0; b < k; b++) if (b !== a) v *= normalCdfExact((x - mu[b]!) / sd[b]!);
      out[a] = out[a]! + v;
    }
  }
  return out;
}

test('thompson: independent scores get P(best) by quadrature within 2e-3 of the exact integral, whatever the spread of the σs', () => {
  const rng = new Xoshiro128(11);
  for (let trial = 0; trial < 40; trial++) {
    const k = 2 + Math.floor(rng.next() * 7);
    const mu = Array.from({ length: k }, () => rng.next());
    // Standard deviations from 0.007 to 1: step-like integrands included.
    const sd = Array.from({ length: k }, () => Math.exp(-5 * rng.next()));
    const cov = new Float64Array(k * k);
    for (let a = 0; a < k; a++) cov[a * k + a] = sd[a]! * sd[a]!;
    const out = new Float64Array(k);
    thompsonIndependentPmf(mu, cov, k, 1, out);
    const exact = exactTsPmf(mu, sd);
    assert.ok(Math.abs(sum(out, k) - 1) < 1e-12);
    for (let a = 0; a < k; a++) assert.ok(Math.abs(out[a]! - exact[a]!) < 2e-3, `trial ${trial} action ${a}: ${out[a]} vs ${exact[a]}`);
  }
});

test('thompson: the quadrature agrees with posterior draws, scale widens it, equal posteriors share equally', () => {
  const mu = [0.3, 0.5, 0.45, -1];
  const v = [0.04, 0.01, 0.09, 0.01];
  const k = 4;
  const cov = new Float64Array(k * k);
  for (let a = 0; a < k; a++) cov[a * k + a] = v[a]!;
  const out = new Float64Array(k);
  thompsonIndependentPmf(mu, cov, k, 1, out);
  const rng = new Xoshiro128(5);
  const wins = [0, 0, 0, 0];
  const n = 100000;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestX = -Infinity;
    for (let a = 0; a < k; a++) {
      const x = mu[a]! + Math.sqrt(v[a]!) * rng.normal();
      if (x > bestX) [best, bestX] = [a, x];
    }
    wins[best]!++;
  }
  for (let a = 0; a < k; a++) assert.ok(Math.abs(out[a]! - wins[a]! / n) < 0.006, `${Array.from(out)} vs ${wins.map((w) => w / n)}`);
  // A far-behind action cannot win: exactly 0, not a rounding residue.
  assert.equal(out[3], 0);
  // A larger scale moves mass from the leader to the others.
  const wide = new Float64Array(k);
  thompsonIndependentPmf(mu, cov, k, 3, wide);
  assert.ok(wide[1]! < out[1]! && wide[0]! > out[0]!, `${Array.from(wide)}`);
  const same = new Float64Array(3);
  thompsonIndependentPmf([0.2, 0.2, 0.2], [0.1, 0, 0, 0, 0.1, 0, 0, 0, 0.1], 3, 1, same);
  assert.deepEqual(Array.from(same), [same[0], same[0], same[0]]);
  assert.ok(Math.abs(same[0]! - 1 / 3) < 1e-12);
});

test('sample: frequencies follow the PMF and zero-mass actions are never drawn', () => {
  const pmf = [0.2, 0, 0.5, 0.3];
  const counts = [0, 0, 0, 0];
  const rng = new Xoshiro128(99);
  const n = 20000;
  for (let i = 0; i < n; i++) counts[sample(pmf, rng)]!++;
  assert.equal(counts[1], 0);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(counts[i]! / n - pmf[i]!) < 0.015, `${counts}`);
  // Round-off: a PMF summing a hair under 1 still never yields a zero-mass index.
  fc.assert(
    fc.property(fc.integer(), (seed) => {
      const i = sample([0.3333333333, 0.3333333333, 0.3333333333, 0], new Xoshiro128(seed));
      assert.ok(i >= 0 && i < 3);
    }),
  );
});
