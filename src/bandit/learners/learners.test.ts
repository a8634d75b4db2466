import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Example } from '../features/example.js';
import { FeatureEncoder } from '../features/feature-encoder.js';
import { Xoshiro128, firstUniform, rngForEvent } from '../random/seeded-rng.js';
import { SnapshotReader, SnapshotWriter } from '../serialization/snapshot-codec.js';
import { BayesLinearLearner } from './bayes-linear.js';
import type { Features } from '../types.js';
import type { Learner } from './learner.js';
import { LinearLearner } from './linear.js';
import { PerActionLinearLearner } from './per-action-linear.js';

/** y = 0.5 + Σ θ_j x_j + noise over 6 features (hashed indices 101..106), x ∈ [0, 2). */
const THETA = [0.8, -0.5, 0.3, 0, 1.2, -0.9];
const BIAS = 0.5;

function makeExample(rng: Xoshiro128, ex: Example): number {
  ex.clear();
  ex.push(7, 1); // bias feature
  let y = BIAS;
  for (let j = 0; j < THETA.length; j++) {
    const x = rng.next() * 2;
    ex.push(101 + j, x);
    y += THETA[j]! * x;
  }
  return y;
}

function testMse(learner: Learner): number {
  const rng = new Xoshiro128(2024);
  const ex = new Example();
  let se = 0;
  for (let i = 0; i < 500; i++) {
    const y = makeExample(rng, ex);
    se += (learner.predict(ex) - y) ** 2;
  }
  return se / 500;
}

function train(learner: Learner, n: number, weight = () => 1): void {
  const rng = new Xoshiro128(1);
  const ex = new Example();
  for (let i = 0; i < n; i++) {
    const y = makeExample(rng, ex) + (rng.next() - 0.5) * 0.2;
    learner.learn(ex, y, weight());
  }
}

test('linear: converges to the known optimum of a noisy linear problem', () => {
  const learner = new LinearLearner({ bits: 12, learningRate: 0.5, l2: 0 });
  const before = testMse(learner);
  train(learner, 20000);
  const after = testMse(learner);
  // The optimum's MSE is 0 on the noiseless test set; noise variance in training is 0.0033.
  assert.ok(after < 0.01, `mse ${after} (before ${before})`);
});

test('linear: large importance weights never overshoot (invariant updates)', () => {
  const learner = new LinearLearner({ bits: 10, learningRate: 0.5, l2: 0 });
  const ex = new Example();
  ex.push(3, 1);
  ex.push(4, 0.5);
  learner.learn(ex, 1, 1); // fix the label range to [0, 1]
  for (const w of [10, 1e3, 1e6]) {
    learner.learn(ex, 0, w);
    const p = learner.predict(ex);
    assert.ok(p >= 0 && p <= 1, `prediction ${p} after weight ${w}`);
  }
  // A huge weight moves the prediction (almost) all the way to the label, not past it.
  const fresh = new LinearLearner({ bits: 10, learningRate: 0.5, l2: 0 });
  fresh.learn(ex, 2, 1);
  fresh.learn(ex, -1, 1);
  fresh.learn(ex, 1, 1e6);
  assert.ok(Math.abs(fresh.predict(ex) - 1) < 1e-3, `${fresh.predict(ex)}`);
});

test('linear: snapshot round trip is bitwise exact', () => {
  const a = new LinearLearner({ bits: 12, learningRate: 0.5, l2: 0 });
  train(a, 2000);
  const w = new SnapshotWriter();
  a.write(w);
  const bytes = w.finish();
  const b = new LinearLearner({ bits: 12, learningRate: 0.5, l2: 0 });
  b.read(new SnapshotReader(bytes));
  train(a, 500);
  train(b, 500);
  const wa = new SnapshotWriter();
  const wb = new SnapshotWriter();
  a.write(wa);
  b.write(wb);
  assert.deepEqual(wa.finish(), wb.finish());
});

test('linear: predictContext gives bit for bit what predict gives, for every action of a context', () => {
  // A forgetting learner with features that come back after short and long absences (the tabulated decay and Math.pow).
  const learner = new LinearLearner({ bits: 10, learningRate: 0.5, l2: 0.001, forget: 0.99 });
  const encoder = new FeatureEncoder([['context', 'action']]);
  const actions = Array.from({ length: 7 }, (_, i) => ({ id: `a${i}`, ...(i % 2 ? { features: { f: i / 7, c: `x${i % 3}` } } : {}) }));
  const examples = actions.map(() => new Example());
  const rng = new Xoshiro128(3);
  const scores = new Float64Array(9);
  for (let t = 0; t < 3000; t++) {
    const u: Features = { a: rng.next(), b: `v${Math.floor(rng.next() * 5)}` };
    if (t % 400 === 0) u['r'] = 1;
    encoder.encodeContext({ u, h: Math.floor(rng.next() * 24) });
    actions.forEach((a, i) => encoder.example(a, examples[i]!));
    learner.predictContext(examples, actions.length, scores, 2);
    examples.forEach((ex, i) => assert.equal(scores[2 + i], learner.predict(ex)));
    const chosen = Math.floor(rng.next() * actions.length);
    learner.learn(examples[chosen]!, rng.next() < 0.3 + chosen / 10 ? 1 : 0, 1 / actions.length);
  }
});

test('firstUniform is the first draw of the event\'s generator', () => {
  for (let i = 0; i < 2000; i++) {
    assert.equal(firstUniform(`event-${i}`, 0xa070), rngForEvent(`event-${i}`, 0xa070).next());
    assert.equal(firstUniform(`${i}`), rngForEvent(`${i}`).next());
  }
});

test('bayes-linear: posterior mean converges and uncertainty shrinks', () => {
  const learner = new BayesLinearLearner({ dims: 64, prior: 1, noise: 0.25 });
  const rng = new Xoshiro128(5);
  const probe = new Example();
  makeExample(rng, probe);
  const means = new Float64Array(1);
  const cov = new Float64Array(1);
  learner.posterior([probe], 1, means, cov);
  const varBefore = cov[0]!;
  train(learner, 3000);
  learner.posterior([probe], 1, means, cov);
  assert.ok(cov[0]! < varBefore / 100, `variance ${varBefore} → ${cov[0]}`);
  const mse = testMse(learner);
  assert.ok(mse < 0.005, `mse ${mse}`);
});

test('bayes-linear: Sherman–Morrison keeps the exact ridge solution', () => {
  // One feature, prior 1: after n updates with x = 1, y = 2, the mean is 2n/(n + 1).
  const learner = new BayesLinearLearner({ dims: 8, prior: 1, noise: 1 });
  const ex = new Example();
  ex.push(5, 1);
  for (let n = 1; n <= 10; n++) {
    learner.learn(ex, 2, 1);
    assert.ok(Math.abs(learner.predict(ex) - (2 * n) / (n + 1)) < 1e-12);
  }
  const means = new Float64Array(1);
  const cov = new Float64Array(1);
  learner.posterior([ex], 1, means, cov);
  assert.ok(Math.abs(cov[0]! - 1 / 11) < 1e-12);
});

test('linear: extreme importance weights and labels keep every weight finite', () => {
  const learner = new LinearLearner({ bits: 10, learningRate: 0.5, l2: 0 });
  const ex = new Example();
  ex.push(3, 1);
  ex.push(4, 1e-3);
  for (const [label, weight] of [[1e9, 1], [0, 1e300], [-1e9, 1e12], [1, 1]] as const) {
    learner.learn(ex, label, weight);
    assert.ok(Number.isFinite(learner.predict(ex)), `after label ${label} weight ${weight}`);
  }
});

test('linear: denormal and huge feature values never produce NaN', () => {
  const learner = new LinearLearner({ bits: 10, learningRate: 0.5, l2: 0 });
  const ex = new Example();
  for (const x of [5e-324, 1e-300, 1e-20, 1, 1e6, 1e300]) {
    ex.clear();
    ex.push(9, x);
    ex.push(10, 1);
    for (const label of [1, -3, 0.5]) {
      learner.learn(ex, label, 1);
      assert.ok(Number.isFinite(learner.predict(ex)), `x=${x} label=${label}`);
    }
  }
});

// ---- per-action posteriors (bayes-linear's default) ----

/** Two actions with their own weights over the same features: y = θ_a·x + noise. */
const THETA_B = [-0.4, 0.9, 0, 0.5, -1.1, 0.2];

function trainPerAction(learner: Learner, n: number, scale = 1, seed = 1): void {
  const rng = new Xoshiro128(seed);
  const ex = new Example();
  for (let i = 0; i < n; i++) {
    const y = makeExample(rng, ex);
    const b = i % 2 === 1;
    let yb = BIAS;
    for (let j = 0; j < THETA.length; j++) yb += THETA_B[j]! * ex.val[j + 1]!;
    ex.actionId = b ? 'b' : 'a';
    learner.learn(ex, scale * ((b ? yb : y) + (rng.next() - 0.5) * 0.2), 1);
  }
}

test('bayes-linear per action: each action converges to its own optimum, and no feature is folded', () => {
  const learner = new PerActionLinearLearner({ dims: 64, prior: 1, noise: 0.25 });
  trainPerAction(learner, 6000);
  const rng = new Xoshiro128(77);
  const ex = new Example();
  let seA = 0;
  let seB = 0;
  for (let i = 0; i < 300; i++) {
    const y = makeExample(rng, ex);
    let yb = BIAS;
    for (let j = 0; j < THETA.length; j++) yb += THETA_B[j]! * ex.val[j + 1]!;
    ex.actionId = 'a';
    seA += (learner.predict(ex) - y) ** 2 / 300;
    ex.actionId = 'b';
    seB += (learner.predict(ex) - yb) ** 2 / 300;
  }
  assert.ok(seA < 0.002 && seB < 0.002, `mse a ${seA}, b ${seB}`);
  // The bias and 6 features, each in its own slot, in each head.
  assert.deepEqual(learner.shape(), { actions: 2, slots: 7, covered: [7, 7] });
});

test('bayes-linear per action: the posterior is the exact ridge solution, and new slots change nothing before it', () => {
  // Closed form for one action: A = λI + XᵀX, mean = A⁻¹Xᵀy, score variance σ̂²·xᵀA⁻¹x.
  const prior = 2;
  const learner = new PerActionLinearLearner({ dims: 16, prior, noise: 0.5 });
  const rng = new Xoshiro128(9);
  const rows: number[][] = [];
  const ys: number[] = [];
  const ex = new Example();
  for (let i = 0; i < 12; i++) {
    ex.clear();
    // Feature 3 first appears at event 5: it joins as a new slot mid-stream.
    const x = [1, rng.next(), i >= 5 ? rng.next() - 0.5 : 0];
    [0, 1, 2].forEach((j) => { if (x[j] !== 0) ex.push(100 + j, x[j]!); });
    const y = 2 * x[1]! - x[2]! + 0.3 + (rng.next() - 0.5) * 0.1;
    learner.learn(ex, y, 1);
    rows.push(x);
    ys.push(y);
  }
  const d = 3;
  const a = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? prior : 0) + rows.reduce((s, r) => s + r[i]! * r[j]!, 0)));
  const xty = Array.from({ length: d }, (_, i) => rows.reduce((s, r, t) => s + r[i]! * ys[t]!, 0));
  const solve = (m: number[][], b: number[]): number[] => {
    const aug = m.map((r, i) => [...r, b[i]!]);
    for (let c = 0; c < d; c++) {
      for (let r = c + 1; r < d; r++) {
        const f = aug[r]![c]! / aug[c]![c]!;
        for (let j = c; j <= d; j++) aug[r]![j] = aug[r]![j]! - f * aug[c]![j]!;
      }
    }
    const x = new Array<number>(d).fill(0);
    for (let r = d - 1; r >= 0; r--) x[r] = (aug[r]![d]! - aug[r]!.slice(r + 1, d).reduce((s, v, j) => s + v * x[r + 1 + j]!, 0)) / aug[r]![r]!;
    return x;
  };
  const theta = solve(a, xty);
  const probe = [1, 0.4, 0.2];
  ex.clear();
  probe.forEach((v, j) => ex.push(100 + j, v));
  const expected = theta.reduce((s, t, j) => s + t * probe[j]!, 0);
  assert.ok(Math.abs(learner.predict(ex) - expected) < 1e-10, `${learner.predict(ex)} vs ${expected}`);
  const ainvX = solve(a, probe);
  const q = ainvX.reduce((s, v, j) => s + v * probe[j]!, 0);
  // σ̂² = (2·noise + S) / (2 + n), S = yᵀy − θᵀXᵀy: the sum of the prediction residuals Σ e²/(1 + xᵀA⁻¹x).
  const sse = ys.reduce((s, y) => s + y * y, 0) - theta.reduce((s, t, j) => s + t * xty[j]!, 0);
  const sigma2 = (2 * 0.5 + sse) / (2 + 12);
  const means = new Float64Array(1);
  const cov = new Float64Array(1);
  learner.posterior([ex], 1, means, cov);
  assert.ok(Math.abs(cov[0]! - sigma2 * q) < 1e-10, `${cov[0]} vs ${sigma2 * q}`);
});

test("bayes-linear per action: the score uncertainty follows the rewards' scale", () => {
  const unit = new PerActionLinearLearner({ dims: 64, prior: 1, noise: 0.25 });
  const wide = new PerActionLinearLearner({ dims: 64, prior: 1, noise: 0.25 });
  trainPerAction(unit, 400);
  trainPerAction(wide, 400, 50);
  const ex = new Example();
  makeExample(new Xoshiro128(3), ex);
  ex.actionId = 'a';
  const m1 = new Float64Array(1);
  const v1 = new Float64Array(1);
  const m50 = new Float64Array(1);
  const v50 = new Float64Array(1);
  unit.posterior([ex], 1, m1, v1);
  wide.posterior([ex], 1, m50, v50);
  // Same residuals × 50 (the prior's weight aside): the standard deviation scales by about 50.
  const ratio = Math.sqrt(v50[0]! / v1[0]!);
  assert.ok(ratio > 40 && ratio < 51, `sd ratio ${ratio}`);
  assert.ok(Math.abs(m50[0]! / m1[0]! - 50) < 1, `${m50[0]} vs ${m1[0]}`);
});

test('bayes-linear per action: a full head hashes new features into its slots; snapshots round-trip bitwise', () => {
  const make = (): PerActionLinearLearner => new PerActionLinearLearner({ dims: 4, prior: 1, noise: 0.25 });
  const a = make();
  trainPerAction(a, 1000);
  assert.deepEqual(a.shape(), { actions: 2, slots: 4, covered: [4, 4] });
  const w = new SnapshotWriter();
  a.write(w);
  const b = make();
  b.read(new SnapshotReader(w.finish()));
  trainPerAction(a, 300, 1, 2);
  trainPerAction(b, 300, 1, 2);
  const wa = new SnapshotWriter();
  const wb = new SnapshotWriter();
  a.write(wa);
  b.write(wb);
  assert.deepEqual(wa.finish(), wb.finish());
  const ex = new Example();
  makeExample(new Xoshiro128(4), ex);
  ex.actionId = 'b';
  assert.equal(a.predict(ex), b.predict(ex));
  assert.ok(Number.isFinite(a.predict(ex)));
  // Another dims cannot read it.
  assert.throws(() => new PerActionLinearLearner({ dims: 8, prior: 1, noise: 0.25 }).read(new SnapshotReader(wa.finish())));
});
