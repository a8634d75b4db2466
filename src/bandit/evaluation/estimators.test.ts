import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Xoshiro128 } from '../random/seeded-rng.js';
import { estimatePolicyValue, PoissonBootstrap, percentileInterval, type EvaluationTerm, type EstimatorName } from './estimators.js';

/**
 * A synthetic problem with a closed-form answer: C equally likely contexts, K actions,
 * Bernoulli rewards with known means f(x,a), a known logging policy μ(a|x) and a
 * fixed target policy π(a|x). The target's value is V = (1/C)·Σ_x Σ_a π(a|x)·f(x,a).
 */
interface Problem {
  c: number;
  k: number;
  f: number[][];
  mu: number[][];
  pi: number[][];
  truth: number;
}

function problem(seed: number): Problem {
  const rng = new Xoshiro128(seed);
  const c = 6;
  const k = 4;
  const f: number[][] = [];
  const mu: number[][] = [];
  const pi: number[][] = [];
  for (let x = 0; x < c; x++) {
    f.push(Array.from({ length: k }, () => 0.1 + 0.8 * rng.next()));
    // Logging: a random softmax mixed with 20% uniform (every action at least 0.05).
    const raw = Array.from({ length: k }, () => Math.exp(2 * rng.normal()));
    const s = raw.reduce((a, b) => a + b, 0);
    mu.push(raw.map((v) => 0.8 * (v / s) + 0.2 / k));
    // Target: ε-greedy (ε = 0.2) on the true means — a good policy the logger rarely follows.
    const best = f[x]!.indexOf(Math.max(...f[x]!));
    pi.push(Array.from({ length: k }, (_, a) => (a === best ? 0.8 : 0) + 0.2 / k));
  }
  let truth = 0;
  for (let x = 0; x < c; x++) for (let a = 0; a < k; a++) truth += (pi[x]![a]! * f[x]![a]!) / c;
  return { c, k, f, mu, pi, truth };
}

function draw(pmf: number[], rng: Xoshiro128): number {
  const u = rng.next();
  let cum = 0;
  for (let i = 0; i < pmf.length; i++) {
    cum += pmf[i]!;
    if (u < cum) return i;
  }
  return pmf.length - 1;
}

/** One log of n events, as estimator terms; `modelNoise` is the reward model's error (sd, fixed per (x,a)). */
function logTerms(p: Problem, n: number, seed: number, modelNoise: number): EvaluationTerm[] {
  const rng = new Xoshiro128(seed * 7919 + 1);
  const qhat = p.f.map((row) => row.map((v) => v + modelNoise * rng.normal()));
  const terms: EvaluationTerm[] = [];
  for (let i = 0; i < n; i++) {
    const x = Math.floor(rng.next() * p.c);
    const a = draw(p.mu[x]!, rng);
    const reward = rng.next() < p.f[x]![a]! ? 1 : 0;
    let modelValue = 0;
    for (let b = 0; b < p.k; b++) modelValue += p.pi[x]![b]! * qhat[x]![b]!;
    terms.push({ weight: p.pi[x]![a]! / p.mu[x]![a]!, reward, modelValue, modelLogged: qhat[x]![a]! });
  }
  return terms;
}

test('IPS, SNIPS and DR against a closed-form truth over 200 seeded logs: unbiased, 95% intervals cover 90–99%', () => {
  const p = problem(2026);
  const runs = 200;
  const names: EstimatorName[] = ['ips', 'snips', 'dr'];
  const err: Record<string, number[]> = { ips: [], snips: [], dr: [] };
  const covered: Record<string, number> = { ips: 0, snips: 0, dr: 0 };
  for (let s = 0; s < runs; s++) {
    const est = estimatePolicyValue(logTerms(p, 4000, s, 0.05), { seed: s });
    for (const name of names) {
      const e = est.estimates[name];
      err[name]!.push(e.value - p.truth);
      if (e.ci[0] <= p.truth && p.truth <= e.ci[1]) covered[name]!++;
      assert.ok(e.ci[0] <= e.value + 1e-9 && e.value <= e.ci[1] + 1e-9 || name === 'snips', `${name} point outside its interval`);
    }
  }
  for (const name of names) {
    const bias = err[name]!.reduce((a, b) => a + b, 0) / runs;
    const mae = err[name]!.reduce((a, b) => a + Math.abs(b), 0) / runs;
    const coverage = covered[name]! / runs;
    assert.ok(Math.abs(bias) < 0.01, `${name}: mean error ${bias}`);
    assert.ok(mae < 0.03, `${name}: mean absolute error ${mae}`);
    assert.ok(coverage >= 0.9 && coverage <= 0.99, `${name}: coverage ${coverage}`);
    console.log(`# ${name}: mean error ${bias.toFixed(4)}, mean absolute error ${mae.toFixed(4)}, coverage ${coverage}`);
  }
});

test('DR has lower variance than IPS when the reward model is good', () => {
  const p = problem(7);
  const ips: number[] = [];
  const dr: number[] = [];
  for (let s = 0; s < 200; s++) {
    const est = estimatePolicyValue(logTerms(p, 500, s + 1000, 0.02), { seed: s, replicates: 20 });
    ips.push(est.estimates.ips.value);
    dr.push(est.estimates.dr.value);
  }
  const variance = (v: number[]) => {
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    return v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1);
  };
  assert.ok(variance(dr) < variance(ips) / 2, `var DR ${variance(dr)} vs IPS ${variance(ips)}`);
});

test('the direct method is biased by a bad reward model; DR is not', () => {
  const p = problem(11);
  let dm = 0;
  let dr = 0;
  const runs = 100;
  for (let s = 0; s < runs; s++) {
    // A reward model that is off by a constant 0.2 everywhere.
    const terms = logTerms(p, 1000, s, 0).map((t) => ({ ...t, modelValue: t.modelValue + 0.2, modelLogged: t.modelLogged + 0.2 }));
    const est = estimatePolicyValue(terms, { seed: s, replicates: 10 });
    dm += est.estimates.dm.value / runs;
    dr += est.estimates.dr.value / runs;
  }
  assert.ok(Math.abs(dm - p.truth - 0.2) < 0.005, `DM ${dm} vs truth ${p.truth}`);
  assert.ok(Math.abs(dr - p.truth) < 0.01, `DR ${dr} vs truth ${p.truth}`);
});

test('exact small case: IPS, SNIPS, DM, DR and ESS', () => {
  const est = estimatePolicyValue([
    { weight: 2, reward: 1, modelValue: 0.5, modelLogged: 0.5 },
    { weight: 0, reward: 1, modelValue: 0.2, modelLogged: 0.4 },
    { weight: 4, reward: 0, modelValue: 0.1, modelLogged: 0.3 },
    { weight: 1, reward: 0.5, modelValue: 0.5, modelLogged: 0.5 },
  ]);
  assert.equal(est.events, 4);
  assert.equal(est.estimates.ips.value, 2.5 / 4);
  assert.equal(est.estimates.snips.value, 2.5 / 7);
  assert.ok(Math.abs(est.estimates.dm.value - 1.3 / 4) < 1e-12);
  // DR terms: 0.5 + 2·0.5, 0.2, 0.1 − 4·0.3, 0.5 + 0
  assert.ok(Math.abs(est.estimates.dr.value - (1.5 + 0.2 - 1.1 + 0.5) / 4) < 1e-12);
  assert.equal(est.effectiveSampleSize, 49 / 21);
  assert.equal(est.maxWeight, 4);
});

test('on-policy log: weights 1, ESS = n, IPS = SNIPS = mean reward', () => {
  const terms = [0, 1, 1, 0.5, 0.25].map((reward) => ({ weight: 1, reward, modelValue: 0, modelLogged: 0 }));
  const est = estimatePolicyValue(terms);
  assert.equal(est.effectiveSampleSize, 5);
  assert.equal(est.estimates.ips.value, 0.55);
  assert.equal(est.estimates.snips.value, 0.55);
});

test('same seed, same numbers; another seed, another interval', () => {
  const p = problem(3);
  const terms = logTerms(p, 300, 1, 0.1);
  assert.deepEqual(estimatePolicyValue(terms, { seed: 5 }), estimatePolicyValue(terms, { seed: 5 }));
  assert.notDeepEqual(estimatePolicyValue(terms, { seed: 5 }).estimates.ips.ci, estimatePolicyValue(terms, { seed: 6 }).estimates.ips.ci);
});

test('Poisson bootstrap multiplicities have mean 1 and variance 1', () => {
  const b = new PoissonBootstrap(100, 9);
  let sum = 0;
  let sum2 = 0;
  const n = 2000;
  for (let i = 0; i < n; i++) {
    const d = b.next();
    for (let j = 0; j < d.size; j++) { sum += d.count[j]!; sum2 += d.count[j]! ** 2; }
  }
  const m = sum / (n * 100);
  assert.ok(Math.abs(m - 1) < 0.01, `mean ${m}`);
  assert.ok(Math.abs(sum2 / (n * 100) - m * m - 1) < 0.02);
});

test('percentile interval: numpy-style interpolation; empty falls back to the point', () => {
  const values = Array.from({ length: 41 }, (_, i) => i);
  assert.deepEqual(percentileInterval(values, 0), [1, 39]);
  assert.deepEqual(percentileInterval([], 0.3), [0.3, 0.3]);
});

test('bad weights are refused, not repaired', () => {
  assert.throws(() => estimatePolicyValue([{ weight: -1, reward: 0, modelValue: 0, modelLogged: 0 }]), RangeError);
  assert.throws(() => estimatePolicyValue([{ weight: Infinity, reward: 0, modelValue: 0, modelLogged: 0 }]), RangeError);
  assert.throws(() => estimatePolicyValue([{ weight: 1, reward: NaN, modelValue: 0, modelLogged: 0 }]), RangeError);
});
