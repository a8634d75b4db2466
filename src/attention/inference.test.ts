import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { glimpseSensor, patchSizes } from './glimpse-sensor.js';
import { createRamModel, loadRamModel, mnistRamConfig, renderTestSet, taskOfConfig, type AttentionModel, type Classification } from './index.js';
import { RamInference, retina } from './inference.js';
import { Rng } from './rng.js';

await selectTensorBackend();

const TOLERANCE = 1e-5;

function assertClose(fast: Classification[], unroll: Classification[], what: string): void {
  assert.equal(fast.length, unroll.length);
  fast.forEach((f, i) => {
    const u = unroll[i]!;
    assert.equal(f.predicted, u.predicted, `${what}, image ${i}: predicted`);
    f.probabilities.forEach((p, k) => assert.ok(Math.abs(p - u.probabilities[k]!) <= TOLERANCE, `${what}, image ${i}, class ${k}: ${p} vs ${u.probabilities[k]}`));
    assert.equal(f.glimpses.length, u.glimpses.length);
    f.glimpses.forEach((g, t) => {
      const v = u.glimpses[t]!;
      assert.deepEqual([g.step, g.sizes], [v.step, v.sizes]);
      assert.ok(Math.abs(g.x - v.x) <= TOLERANCE && Math.abs(g.y - v.y) <= TOLERANCE, `${what}, image ${i}, glimpse ${t + 1}: (${g.x}, ${g.y}) vs (${v.x}, ${v.y})`);
    });
  });
}

function testImages(model: AttentionModel, count: number): Float32Array[] {
  const side = model.config.imageSize;
  const set = renderTestSet(taskOfConfig(model.config), count);
  return Array.from({ length: count }, (_, i) => set.pixels.slice(i * side * side, (i + 1) * side * side));
}

const shipped = (name: string) => fileURLToPath(new URL(`../../models/${name}`, import.meta.url));

describe('RamInference (the serving path)', () => {
  for (const name of ['ram-mnist', 'ram-translated', 'ram-cluttered']) {
    it(`gives the unroll's classifications and glimpses on the shipped ${name}, alone and in batches, for any number of glimpses`, async () => {
      const model = await loadRamModel(shipped(name));
      const fast = new RamInference(model.network);
      const images = testImages(model, 60);
      fast.classifyMany(images.slice(0, 1));
      // (Its derived weights, built by that first call, stay until dispose().)
      const before = tf.memory().numTensors;
      for (const size of [1, 3, 16]) {
        for (let at = 0; at + size <= images.length; at += size * 4) {
          const batch = images.slice(at, at + size);
          assertClose(fast.classifyMany(batch), model.classifyMany(batch), `${name}, batch of ${size} at ${at}`);
        }
      }
      for (const glimpses of [1, 2, 9]) assertClose(fast.classifyMany(images.slice(0, 4), glimpses), model.classifyMany(images.slice(0, 4), { glimpses }), `${name}, ${glimpses} glimpses`);
      assert.equal(tf.memory().numTensors, before, 'no tensor is left behind');
      fast.dispose();
      assert.equal(tf.memory().numTensors, before - 2);
      model.dispose();
    });
  }

  it('draws Monte-Carlo rollouts as the unroll does: the same seed, the same locations and mean probabilities', async () => {
    for (const name of ['ram-mnist', 'ram-cluttered']) {
      const model = await loadRamModel(shipped(name));
      const fast = new RamInference(model.network);
      const images = testImages(model, 6);
      let differs = 0;
      for (const [i, samples] of [[0, 10], [1, 2], [2, 1], [3, 7], [4, 10], [5, 16]] as const) {
        const seed = 100 + i;
        const got = fast.classifySampled(images[i]!, { samples, rng: new Rng(seed) });
        assertClose([got], [model.classify(images[i]!, { samples, seed })], `${name}, ${samples} rollouts, seed ${seed}`);
        // The draws matter: another seed moves the first rollout's later glimpses.
        const other = fast.classifySampled(images[i]!, { samples, rng: new Rng(seed + 50) });
        if (samples > 1 && other.glimpses[1]!.x !== got.glimpses[1]!.x) differs++;
      }
      assert.ok(differs >= 4, `${name}: other seeds, other locations (${differs} of 5)`);
      assertClose([fast.classifySampled(images[0]!, { samples: 3, rng: new Rng(9), glimpses: 2 })], [model.classify(images[0]!, { samples: 3, seed: 9, glimpses: 2 })], `${name}, 2 glimpses`);
      assert.throws(() => fast.classifySampled(images[0]!, { samples: 0, rng: new Rng(1) }), RangeError);
      fast.dispose();
      model.dispose();
    }
  });

  it('samples the retina exactly as the tfjs glimpse sensor, edges and pixel-aligned boxes included', async () => {
    const model = await loadRamModel(shipped('ram-translated'));
    const images = testImages(model, 4);
    model.dispose();
    for (const [side, patch] of [[28, 8], [60, 12]] as const) {
      const spec = { patchSize: patch, scales: 3 };
      const locations = [[0, 0], [-1, -1], [1, 1], [-1, 1], [0.5, -0.25], [1 / 3, 2 / 3], [-0.9999, 0.9999]];
      for (let k = 0; k < 40; k++) locations.push([Math.sin(k * 12.9898) * 0.999, Math.cos(k * 78.233) * 0.999]);
      for (const [lx, ly] of locations) {
        const x = Math.fround(lx!);
        const y = Math.fround(ly!);
        const image = side === 60 ? images[0]! : images[1]!.subarray(0, 784).map((v, i) => (i * 7) % 11 === 0 ? 0 : v);
        const expected = tf.tidy(() => glimpseSensor(tf.tensor4d(image, [1, side, side, 1]), [x, y], spec).dataSync());
        const got = new Float32Array(3 * patch * patch);
        retina(image, side, x, y, patchSizes(spec), patch, got, 0);
        assert.deepEqual(Array.from(got), Array.from(expected), `${side}×${side} at (${x}, ${y})`);
      }
    }
  });

  it('follows the weights: new values (online learning, weights from the learner) are used at the next call', () => {
    const model = createRamModel(mnistRamConfig(), 5);
    const fast = new RamInference(model.network);
    const images = Array.from({ length: 3 }, (_, i) => Float32Array.from({ length: 784 }, (_, p) => ((p * (i + 3)) % 17) / 17));
    assertClose(fast.classifyMany(images), model.classifyMany(images), 'before learning');
    const first = fast.classifyMany(images);
    model.learn(images.map((pixels, i) => ({ pixels, label: i })), 0.01);
    const after = fast.classifyMany(images);
    assertClose(after, model.classifyMany(images), 'after a learning step');
    assert.notDeepEqual(after.map((c) => c.probabilities), first.map((c) => c.probabilities), 'the step changed the answers');
    fast.dispose();
    model.dispose();
  });

  it('serves the convolutional glimpse pathway as the unroll does, at the means and sampled, before and after a learning step', () => {
    for (const config of [
      mnistRamConfig({ core: 'lstm', glimpseConv: { channels: [4, 8] } }),
      mnistRamConfig({ glimpseConv: { channels: [3, 5] }, imageSize: 60, patchSize: 12, glimpses: 4 }),
      mnistRamConfig({ core: 'lstm', glimpseConv: { channels: [4, 8], stride: 2 }, patchSize: 12, scales: 2 }),
      // A location policy whose mean is 0.6·tanh (RamConfig.locationRange).
      mnistRamConfig({ core: 'lstm', glimpseConv: { channels: [4, 8], stride: 2 }, patchSize: 12, scales: 2, locationRange: 0.6 }),
    ]) {
      const model = createRamModel(config, 5);
      const side = config.imageSize;
      const images = Array.from({ length: 4 }, (_, i) => Float32Array.from({ length: side * side }, (_, p) => (((p % side) * (i + 3) + Math.floor(p / side) * 5) % 17) / 17));
      assert.equal(RamInference.supports(model.network), true);
      const fast = new RamInference(model.network);
      const what = `conv ${JSON.stringify(config['glimpseConv'])} ${side}×${side}${config['locationRange'] ? `, location range ${String(config['locationRange'])}` : ''}`;
      assertClose(fast.classifyMany(images), model.classifyMany(images), `${what}, before learning`);
      const sampled = fast.classifySampled(images[1]!, { samples: 5, rng: new Rng(8) });
      assertClose([sampled], [model.classify(images[1]!, { samples: 5, seed: 8 })], `${what}, 5 sampled rollouts`);
      const before = tf.memory().numTensors;
      fast.classifyMany(images);
      assert.equal(tf.memory().numTensors, before, 'no tensor is left behind');
      for (let step = 0; step < 3; step++) model.learn(images.map((pixels, i) => ({ pixels, label: i })), 0.01);
      assertClose(fast.classifyMany(images), model.classifyMany(images), `${what}, after a learning step`);
      fast.dispose();
      model.dispose();
    }
  });

  it('serves the LSTM core as the unroll does, for any number of glimpses, before and after a learning step', () => {
    for (const config of [mnistRamConfig({ core: 'lstm' }), mnistRamConfig({ core: 'lstm', imageSize: 60, patchSize: 12, glimpses: 8 })]) {
      const model = createRamModel(config, 3);
      const side = config.imageSize;
      const images = Array.from({ length: 5 }, (_, i) => Float32Array.from({ length: side * side }, (_, p) => (((p % side) * (i + 2) + Math.floor(p / side) * 3) % 19) / 19));
      const fast = new RamInference(model.network);
      assert.equal(RamInference.supports(model.network), true);
      const what = `lstm ${side}×${side}`;
      assertClose(fast.classifyMany(images), model.classifyMany(images), `${what}, before learning`);
      for (const glimpses of [1, 3]) assertClose(fast.classifyMany(images.slice(0, 2), glimpses), model.classifyMany(images.slice(0, 2), { glimpses }), `${what}, ${glimpses} glimpses`);
      const before = tf.memory().numTensors;
      const first = fast.classifyMany(images);
      assert.equal(tf.memory().numTensors, before, 'no tensor is left behind (h and the cell are disposed)');
      for (let step = 0; step < 3; step++) model.learn(images.map((pixels, i) => ({ pixels, label: i })), 0.01);
      const after = fast.classifyMany(images);
      assertClose(after, model.classifyMany(images), `${what}, after learning`);
      assert.notDeepEqual(after.map((c) => c.probabilities), first.map((c) => c.probabilities), 'the steps changed the answers');
      fast.dispose();
      model.dispose();
    }
  });

  it('refuses inputs of the wrong size', () => {
    const model = createRamModel(mnistRamConfig(), 1);
    const fast = new RamInference(model.network);
    assert.throws(() => fast.classifyMany([new Float32Array(100)]), RangeError);
    assert.throws(() => fast.classifyMany([new Float32Array(784)], 0), RangeError);
    assert.deepEqual(fast.classifyMany([]), []);
    fast.dispose();
    model.dispose();
  });
});
