/**
 * The neural-linear learner on its own: its network's gradients against finite differences (through the very
 * code its minibatches use), and convergence to a known non-linear function (network and heads together).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Example } from '../features/example.js';
import { FeatureEncoder } from '../features/feature-encoder.js';
import { Xoshiro128 } from '../random/seeded-rng.js';
import { NeuralLinearLearner, rebuildsAfter, type NeuralLinearOptions } from './neural-linear.js';

const OPTIONS: NeuralLinearOptions = { hidden: 8, bits: 10, bodyRate: 0.01, prior: 0.25, forget: 1, memory: 512, trainEvery: 25 };

function encoder(): { encode: (x: number, y: number, action?: string) => Example } {
  const enc = new FeatureEncoder([]);
  return {
    encode: (x, y, action = 'a') => {
      const ex = new Example();
      enc.encodeContext({ x, y });
      enc.example({ id: action }, ex);
      return ex;
    },
  };
}

/** y = 1 + 2|x| − y² + (x > 0 and y > 0 ? 1 : 0): non-linear in both inputs and with a step. */
function target(x: number, y: number): number {
  return 1 + 2 * Math.abs(x) - y * y + (x > 0 && y > 0 ? 1 : 0);
}

test('neural-linear: the network gradient matches finite differences of the loss', () => {
  const learner = new NeuralLinearLearner(OPTIONS);
  const { encode } = encoder();
  const rng = new Xoshiro128(5);
  // Some training first: weights away from their initial values, a reward scale other than (0, 1).
  for (let i = 0; i < 60; i++) {
    const x = 2 * rng.next() - 1;
    const y = 2 * rng.next() - 1;
    learner.learn(encode(x, y), 10 * target(x, y), 1);
  }
  let checked = 0;
  for (let trial = 0; trial < 5; trial++) {
    const ex = encode(2 * rng.next() - 1, 2 * rng.next() - 1);
    // A reward close to the prediction keeps the error inside the clip (the loss is smooth there).
    const reward = learner.predict(ex) + 3 * rng.normal();
    learner.exampleGradient(ex, reward);
    const { weights, gradients } = learner.trainingState(ex);
    const analytic = Object.fromEntries(Object.entries(gradients).map(([k, g]) => [k, Array.from(g)]));
    for (const [name, w] of Object.entries(weights)) {
      const g = analytic[name]!;
      for (let i = 0; i < w.length; i++) {
        const original = w[i]!;
        // Rows are float32: perturb by more, and divide by the step actually stored.
        const eps = w instanceof Float32Array ? 1e-3 : 1e-6;
        w[i] = original + eps;
        const up = w[i]! - original;
        const lossUp = learner.exampleGradient(ex, reward);
        w[i] = original - eps;
        const down = original - w[i]!;
        const lossDown = learner.exampleGradient(ex, reward);
        w[i] = original;
        const numeric = (lossUp - lossDown) / (up + down);
        const tolerance = 1e-4 + 1e-3 * Math.abs(numeric) + (w instanceof Float32Array ? 1e-3 : 0);
        assert.ok(Math.abs(numeric - g[i]!) < tolerance, `${name}[${i}]: analytic ${g[i]}, numeric ${numeric}`);
        checked++;
      }
    }
  }
  // w2 (64), b1, b2 (8 each), the output layer (9) and two input rows (8 each) per example.
  assert.ok(checked >= 5 * (64 + 8 + 8 + 9 + 16), `checked ${checked} weights`);
});

test('neural-linear: network and heads converge to a known non-linear function', () => {
  const learner = new NeuralLinearLearner({ ...OPTIONS, hidden: 32 });
  const { encode } = encoder();
  const rng = new Xoshiro128(9);
  for (let i = 0; i < 3000; i++) {
    const x = 2 * rng.next() - 1;
    const y = 2 * rng.next() - 1;
    learner.learn(encode(x, y), target(x, y) + 0.05 * rng.normal(), 1);
  }
  const test = new Xoshiro128(10);
  let se = 0;
  let mean = 0;
  const ys: number[] = [];
  for (let i = 0; i < 500; i++) {
    const x = 2 * test.next() - 1;
    const y = 2 * test.next() - 1;
    const truth = target(x, y);
    se += (learner.predict(encode(x, y)) - truth) ** 2;
    ys.push(truth);
    mean += truth / 500;
  }
  const variance = ys.reduce((s, v) => s + (v - mean) ** 2, 0) / ys.length;
  // A linear model in (x, y) explains little of this function (|x| and y² are even); the network explains nearly all.
  assert.ok(se / 500 < 0.05 * variance, `mse ${se / 500}, variance of the target ${variance}`);
});

test('neural-linear: rebuilds come every trainEvery events up to 4,096 kept, then half as often per doubling', () => {
  const at = (from: number, to: number, memory: number): number[] => {
    const out: number[] = [];
    for (let t = from; t <= to; t++) if (rebuildsAfter(t, 50, memory)) out.push(t);
    return out;
  };
  assert.deepEqual(at(1, 100, 8192), [1, 2, 4, 8, 16, 32, 50, 100]);
  assert.deepEqual(at(3990, 4300, 8192), [4000, 4050, 4100, 4200, 4300]);
  assert.deepEqual(at(8000, 8800, 8192), [8000, 8100, 8200, 8400, 8600, 8800]);
  // A memory of 2,048 keeps the interval of 50 for good.
  assert.deepEqual(at(100000, 100100, 2048), [100000, 100050, 100100]);
  // The amortised rebuild work (kept events re-encoded per learned event) stays that of 2,048 every 50 events.
  for (const memory of [2048, 8192, 65536]) {
    let work = 0;
    const from = memory * 2;
    const span = 320000; // a multiple of every interval here (50 … 1,600)
    for (let t = from + 1; t <= from + span; t++) if (rebuildsAfter(t, 50, memory)) work += Math.min(t, memory);
    const perEvent = work / span;
    assert.ok(perEvent > 20 && perEvent <= 2048 / 50 + 1e-9, `memory ${memory}: ${perEvent} kept events re-encoded per event`);
  }
});
