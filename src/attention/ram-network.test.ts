import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { hybridLoss } from './hybrid-loss.js';
import { mnistRamConfig, resolveRamConfig, type LossWeights } from './ram-config.js';
import { RamNetwork } from './ram-network.js';
import { Rng } from './rng.js';
import { handHybridGradients } from './backprop.js';
import { assertSameGradients } from '../../test/gradient-agreement.js';
import { tapeHybridGradients } from './training-step.js';

await selectTensorBackend();

function smallNetwork(overrides: Record<string, unknown> = {}, seed = 7): RamNetwork {
  const config = resolveRamConfig(
    mnistRamConfig({ imageSize: 12, patchSize: 4, scales: 2, glimpses: 3, glimpseHidden: 6, locationHidden: 5, glimpseOutput: 7, hiddenSize: 8, locationStd: 0.2, ...overrides }),
  );
  return new RamNetwork(config, new Rng(seed));
}

function randomImages(batch: number, side: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: batch * side * side }, () => rng.next());
}

test('every network has the documented shapes', () => {
  const net = new RamNetwork(resolveRamConfig(mnistRamConfig()), new Rng(1));
  const B = 5;
  tf.tidy(() => {
    const retina = tf.zeros([B, 3 * 8 * 8]) as tf.Tensor2D;
    const loc = tf.zeros([B, 2]) as tf.Tensor2D;
    const g = net.glimpse.apply(retina, loc);
    assert.deepEqual(g.shape, [B, 256]);
    const state = net.core.step(net.core.initial(B), g);
    assert.deepEqual(state.h.shape, [B, 256]);
    const mean = net.location.apply(state.h);
    assert.deepEqual(mean.shape, [B, 2]);
    for (const v of mean.dataSync()) assert.ok(v >= -1 && v <= 1);
    assert.deepEqual(net.action.apply(state.h).shape, [B, 10]);
    assert.deepEqual(net.baseline.apply(state.h).shape, [B]);
    assert.deepEqual(net.location.logProbability(mean, mean).shape, [B]);

    const images = tf.tensor4d(randomImages(B, 28, 1), [B, 28, 28, 1]);
    const r = net.unroll(images, { mode: 'sample', rng: new Rng(2) });
    assert.deepEqual(r.logits.shape, [B, 10]);
    assert.equal(r.locations.length, 6);
    assert.deepEqual([...r.locations[0]!], new Array(2 * B).fill(0), 'the first glimpse looks at the centre');
    for (const l of r.locations) for (const v of l) assert.ok(v >= -1 && v <= 1);
    assert.deepEqual(r.logPi!.shape, [B, 5]);
    assert.deepEqual(r.baselines!.shape, [B, 5]);
    const one = net.unroll(images, { mode: 'mean', glimpses: 1 });
    assert.equal(one.logPi, null);
    assert.equal(one.baselines, null);
  });
  net.dispose();
});

test('the LSTM core keeps the same interface', () => {
  const net = smallNetwork({ core: 'lstm' });
  tf.tidy(() => {
    const r = net.unroll(tf.tensor4d(randomImages(3, 12, 4), [3, 12, 12, 1]), { mode: 'sample', rng: new Rng(3) });
    assert.deepEqual(r.logits.shape, [3, 10]);
    assert.deepEqual(r.logPi!.shape, [3, 2]);
  });
  assert.ok(net.params.names().includes('core.lstm.weight'));
  net.dispose();
});

test('mean mode is deterministic; sample mode depends on the seed', () => {
  const net = smallNetwork();
  tf.tidy(() => {
    const x = tf.tensor4d(randomImages(4, 12, 5), [4, 12, 12, 1]);
    const a = net.unroll(x, { mode: 'mean' }).logits.dataSync();
    const b = net.unroll(x, { mode: 'mean' }).logits.dataSync();
    assert.deepEqual([...a], [...b]);
    const s1 = net.unroll(x, { mode: 'sample', rng: new Rng(1) }).locations[1]!;
    const s2 = net.unroll(x, { mode: 'sample', rng: new Rng(1) }).locations[1]!;
    const s3 = net.unroll(x, { mode: 'sample', rng: new Rng(2) }).locations[1]!;
    assert.deepEqual([...s1], [...s2]);
    assert.notDeepEqual([...s1], [...s3]);
  });
  net.dispose();
});

/**
 * Finite differences of the hybrid loss against the hand-written gradients. The
 * stop-gradient quantities must be constants for the numeric derivative too:
 * the sampled locations are replayed, and each term is checked on the networks
 * it trains (the policy and the baseline read a stopped h_t, and the baseline is
 * a constant inside the advantage).
 */
for (const range of [1, 0.6]) test(`gradients match finite differences (location range ${range})`, () => {
  const net = smallNetwork(range === 1 ? {} : { locationRange: range }, 11);
  assert.equal(net.location.range, range);
  // ReLU layers start with zero biases and the first glimpse sits at l = 0, so some
  // units start exactly at the kink, where a finite difference straddles two
  // slopes. Random biases move every unit off it.
  const biasRng = new Rng(13);
  for (const name of net.params.names().filter((n) => n.endsWith('.bias'))) {
    const v = net.params.get(name);
    tf.tidy(() => v.assign(tf.tensor(Float32Array.from({ length: v.size }, () => biasRng.uniform(-0.3, 0.3)), v.shape)));
  }
  const B = 4;
  const side = net.config.imageSize;
  const images = randomImages(B, side, 9);
  const labels = Int32Array.from([3, 1, 4, 1]);
  const draws = tf.tidy(() => net.unroll(tf.tensor4d(images, [B, side, side, 1]), { mode: 'sample', rng: new Rng(5) }).draws);

  const lossOf = (weights: LossWeights): tf.Scalar => {
    const rollout = net.unroll(tf.tensor4d(images, [B, side, side, 1]), { mode: 'sample', replay: draws });
    return hybridLoss(rollout, labels, weights).total;
  };
  const check = (weights: LossWeights, names: string[]): void => {
    const variables = names.map((n) => net.params.get(n));
    const { grads, value } = tf.variableGrads(() => lossOf(weights), variables);
    value.dispose();
    const rng = new Rng(21);
    for (let trial = 0; trial < 3; trial++) {
      // Directional derivative along a random unit direction over all checked parameters.
      const dirs = variables.map((v) => Float32Array.from({ length: v.size }, () => rng.normal()));
      const norm = Math.sqrt(dirs.reduce((a, d) => a + d.reduce((b, x) => b + x * x, 0), 0));
      let analytic = 0;
      variables.forEach((v, i) => {
        const g = grads[v.name]?.dataSync() ?? new Float32Array(v.size);
        dirs[i]!.forEach((d, j) => (analytic += (g[j]! * d) / norm));
      });
      const eps = 3e-3;
      const originals = variables.map((v) => v.dataSync().slice());
      const shifted = (sign: number): number => {
        variables.forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(originals[i]!.map((x, j) => x + (sign * eps * dirs[i]![j]!) / norm), v.shape))));
        return tf.tidy(() => lossOf(weights).dataSync()[0]!);
      };
      const numeric = (shifted(1) - shifted(-1)) / (2 * eps);
      variables.forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(originals[i]!, v.shape))));
      const scale = Math.max(1e-3, Math.abs(analytic), Math.abs(numeric));
      assert.ok(Math.abs(analytic - numeric) / scale < 0.03, `range ${range}, ${JSON.stringify(weights)} trial ${trial}: analytic ${analytic} vs numeric ${numeric}`);
    }
    for (const g of Object.values(grads)) g.dispose();
  };
  const all = net.params.names();
  const of = (prefix: string): string[] => all.filter((n) => n.startsWith(prefix));
  // Cross-entropy through the action network, the recurrent core and the glimpse network.
  check({ classification: 1, baseline: 0, reinforce: 0 }, [...of('glimpse.'), ...of('core.'), ...of('action.')]);
  // REINFORCE through the location network; MSE through the baseline.
  check({ classification: 0, baseline: 0, reinforce: 1 }, of('location.'));
  check({ classification: 0, baseline: 1, reinforce: 0 }, of('baseline.'));
  // The full hybrid loss gives the location and baseline networks the sum of their terms.
  check({ classification: 1, baseline: 1, reinforce: 1 }, [...of('location.'), ...of('baseline.')].filter((n) => !n.startsWith('baseline.')));
  // Individual pieces get gradient where expected, and only there.
  tf.tidy(() => {
    const { grads } = tf.variableGrads(() => lossOf({ classification: 1, baseline: 0, reinforce: 0 }), net.params.variables());
    const size = (name: string): number => {
      const g = grads[net.params.get(name).name];
      return g ? tf.sum(tf.abs(g)).dataSync()[0]! : 0;
    };
    assert.equal(size('location.mean.weight'), 0, 'classification does not reach the location network');
    assert.equal(size('baseline.value.weight'), 0, 'nor the baseline');
    assert.ok(size('core.rnn.weight') > 0);
  });
  net.dispose();
});

test('the hand-written backward pass gives the tape gradients and loss values, for both cores', () => {
  for (const [core, glimpses, range] of [['rnn', 3, 1], ['rnn', 1, 1], ['lstm', 3, 1], ['lstm', 1, 1], ['rnn', 3, 0.6], ['lstm', 3, 0.5]] as const) {
    const net = smallNetwork({ glimpses, core, ...(range === 1 ? {} : { locationRange: range }) }, 17);
    const biasRng = new Rng(19);
    for (const name of net.params.names().filter((n) => n.endsWith('.bias'))) {
      const v = net.params.get(name);
      tf.tidy(() => v.assign(tf.tensor(Float32Array.from({ length: v.size }, () => biasRng.uniform(-0.3, 0.3)), v.shape)));
    }
    const B = 6;
    const side = net.config.imageSize;
    const images = randomImages(B, side, 23);
    const labels = Int32Array.from([3, 1, 4, 1, 5, 9]);
    const tensorsBefore = tf.memory().numTensors;
    // Same seed: both paths must draw the same locations from it.
    const tape = tapeHybridGradients(net, images, labels, new Rng(29));
    const fast = handHybridGradients(net, images, labels, { rng: new Rng(29) });
    assertSameGradients(tape, fast, `${core} glimpses ${glimpses} location range ${range}`);
    if (glimpses > 1) assert.ok(tf.tidy(() => tf.sum(tf.abs(fast.grads.get('location.mean.weight')!)).dataSync()[0]!) > 0, 'the policy gets a gradient');
    for (const g of [...tape.grads.values(), ...fast.grads.values()]) g.dispose();
    assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensors left behind');
    net.dispose();
  }
});

test('locationRange: the policy\'s mean stays within ±range however far its pre-activation goes; 1 is left out of the config', () => {
  // Saturate the mean: a large bias drives tanh to ±1, and the mean to ±range.
  for (const range of [1, 0.6, 0.25]) {
    const net = smallNetwork(range === 1 ? {} : { locationRange: range }, 3);
    const bias = net.params.get('location.mean.bias');
    tf.tidy(() => bias.assign(tf.tensor1d([25, -25])));
    const side = net.config.imageSize;
    const locations = tf.tidy(() => net.unroll(tf.tensor4d(randomImages(2, side, 4), [2, side, side, 1]), { mode: 'mean' }).locations);
    // The first glimpse is at the centre; the later ones at the mean's limit, (range, −range).
    for (const xy of locations.slice(1)) {
      for (let i = 0; i < 2; i++) {
        assert.ok(Math.abs(xy[2 * i]! - range) < 1e-6 && Math.abs(xy[2 * i + 1]! + range) < 1e-6, `range ${range}: (${xy[2 * i]}, ${xy[2 * i + 1]})`);
      }
    }
    net.dispose();
  }
  assert.equal('locationRange' in resolveRamConfig(mnistRamConfig()), false);
  assert.equal('locationRange' in resolveRamConfig(mnistRamConfig({ locationRange: 1 })), false);
  assert.equal(resolveRamConfig(mnistRamConfig({ locationRange: 0.6 })).locationRange, 0.6);
  for (const bad of [0, -0.5, 1.5, '0.5', Number.NaN]) {
    assert.throws(() => resolveRamConfig(mnistRamConfig({ locationRange: bad })), /RamConfig\.locationRange must be a number in \(0, 1\]/, String(bad));
  }
});

test('config.shifts: 5 and 9 are kept, 1 is left out (a model read once resolves as before), anything else is refused', () => {
  assert.equal('shifts' in resolveRamConfig(mnistRamConfig()), false);
  assert.equal('shifts' in resolveRamConfig(mnistRamConfig({ shifts: 1 })), false);
  assert.equal(resolveRamConfig(mnistRamConfig({ shifts: 5 })).shifts, 5);
  assert.equal(resolveRamConfig(mnistRamConfig({ shifts: 9 })).shifts, 9);
  for (const bad of [0, 2, 4, -5, 5.5, '5', Number.NaN]) {
    assert.throws(() => resolveRamConfig(mnistRamConfig({ shifts: bad })), /RamConfig\.shifts must be one of 1, 5, 9/, String(bad));
  }
});
