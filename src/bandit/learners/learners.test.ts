import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Example } from '../features/example.js';
import { Xoshiro128 } from '../random/seeded-rng.js';
import { SnapshotReader, SnapshotWriter } from '../serialization/snapshot-codec.js';
import { BayesLinearLearner } from './bayes-linear.js';
import type { Learner } from './learner.js';
import { LinearLearner } from './linear.js';

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
