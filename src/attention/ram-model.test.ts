import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { Adam } from './adam.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { createRamModel, loadRamModel, mnistRamConfig } from './index.js';
import { readMnist, renderExamples, taskSpec } from './mnist-dataset.js';
import { Rng } from './rng.js';
import { evaluateError, trainEpoch } from './trainer.js';

await selectTensorBackend();

const digits = readMnist('train');
const spec = taskSpec('mnist');
const pixelsOf = (index: number): Float32Array => renderExamples(digits, [index], spec, new Rng(0));

test('classify returns a distribution, a prediction and the glimpse path', () => {
  const model = createRamModel(mnistRamConfig(), 3);
  const r = model.classify(pixelsOf(0));
  assert.equal(r.probabilities.length, 10);
  assert.ok(Math.abs(r.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  assert.equal(r.predicted, r.probabilities.indexOf(Math.max(...r.probabilities)));
  assert.equal(r.glimpses.length, 6);
  assert.deepEqual(r.glimpses[0], { step: 1, x: 0, y: 0, sizes: [8, 16, 32] });
  assert.equal(model.classify(pixelsOf(0), { glimpses: 2 }).glimpses.length, 2);
  const mc = model.classify(pixelsOf(0), { samples: 8, seed: 4 });
  assert.ok(Math.abs(mc.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  assert.deepEqual(mc, model.classify(pixelsOf(0), { samples: 8, seed: 4 }), 'a seed makes sampled rollouts repeatable');
  assert.throws(() => model.classify(new Float32Array(10)), RangeError);
  model.dispose();
});

test('classifyMany gives each image the answer classify gives it alone, in one pass', () => {
  const model = createRamModel(mnistRamConfig(), 3);
  const images = [0, 1, 2, 3, 4].map(pixelsOf);
  const before = tf.memory().numTensors;
  const many = model.classifyMany(images, { glimpses: 4 });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(many.length, 5);
  images.forEach((pixels, i) => {
    const one = model.classify(pixels, { glimpses: 4 });
    assert.equal(many[i]!.predicted, one.predicted);
    assert.deepEqual(many[i]!.glimpses.map((g) => g.step), one.glimpses.map((g) => g.step));
    many[i]!.probabilities.forEach((p, k) => assert.ok(Math.abs(p - one.probabilities[k]!) < 1e-5, `image ${i} class ${k}: ${p} vs ${one.probabilities[k]}`));
    many[i]!.glimpses.forEach((g, t) => assert.ok(Math.abs(g.x - one.glimpses[t]!.x) < 1e-5 && Math.abs(g.y - one.glimpses[t]!.y) < 1e-5));
  });
  assert.notDeepEqual(many[0]!.glimpses, many[1]!.glimpses, 'each image follows its own path');
  assert.deepEqual(model.classifyMany([]), []);
  assert.throws(() => model.classifyMany([new Float32Array(10)]), RangeError);
  model.dispose();
});

test('the same seed gives the same random initialisation', () => {
  const a = createRamModel(mnistRamConfig(), 5);
  const b = createRamModel(mnistRamConfig(), 5);
  assert.deepEqual(a.classify(pixelsOf(1)), b.classify(pixelsOf(1)));
  a.dispose();
  b.dispose();
});

test('invalid configurations are rejected', () => {
  assert.throws(() => createRamModel(mnistRamConfig({ glimpses: 0 })), RangeError);
  assert.throws(() => createRamModel(mnistRamConfig({ locationStd: 0 })), RangeError);
  assert.throws(() => createRamModel(mnistRamConfig({ classes: ['only'] })), RangeError);
});

test('save then load gives identical outputs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ram-'));
  try {
    const model = createRamModel(mnistRamConfig({ core: 'lstm', hiddenSize: 64 }), 8);
    model.learn([{ pixels: pixelsOf(2), label: digits.labels[2]! }], 1e-3);
    await model.save(dir);
    const loaded = await loadRamModel(dir);
    assert.deepEqual(loaded.config, model.config);
    for (const i of [3, 4]) {
      assert.deepEqual(loaded.classify(pixelsOf(i)), model.classify(pixelsOf(i)));
      assert.deepEqual(loaded.classify(pixelsOf(i), { samples: 4, seed: 1 }), model.classify(pixelsOf(i), { samples: 4, seed: 1 }));
    }
    model.dispose();
    loaded.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a checkpoint restores weights, optimizer moments and RNG state', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ram-ck-'));
  try {
    const model = createRamModel(mnistRamConfig({ hiddenSize: 32 }), 2);
    const optimizer = new Adam(model.network.params);
    model.optimizer = optimizer;
    const batch = [0, 1, 2, 3].map((i) => ({ pixels: pixelsOf(i), label: digits.labels[i]! }));
    model.learn(batch, 1e-3);
    const state = { version: 1 as const, options: {}, completedEpochs: 1, bestValidationError: 0.5, bestEpoch: 1, elapsedSeconds: 1, optimizerStep: optimizer.step, dataRng: 1, policyRng: model.rng.getState(), history: [] };
    await saveCheckpoint(dir, model, optimizer, state);
    assert.ok(hasCheckpoint(dir));
    const restored = await loadCheckpoint(dir);
    // One more identical step on both must land on identical weights.
    model.learn(batch, 1e-3);
    restored.model.learn(batch, 1e-3);
    assert.deepEqual(restored.model.classify(pixelsOf(5)), model.classify(pixelsOf(5)));
    model.dispose();
    restored.model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('learn and classify leave no tensors behind', () => {
  const model = createRamModel(mnistRamConfig(), 1);
  const batch = [0, 1, 2, 3].map((i) => ({ pixels: pixelsOf(i), label: digits.labels[i]! }));
  model.learn(batch, 1e-3); // creates the optimizer's moments
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    model.learn(batch, 1e-3);
    model.classify(pixelsOf(i));
    model.classify(pixelsOf(i), { samples: 3 });
  }
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('a short training run on a few hundred digits lowers the loss and the error', () => {
  // A narrower, shorter network: more steps in the same time; this is about learning, not accuracy.
  const model = createRamModel(mnistRamConfig({ glimpses: 3, hiddenSize: 128, glimpseOutput: 128, glimpseHidden: 64, locationHidden: 32 }), 1);
  const optimizer = new Adam(model.network.params);
  const indices = Array.from({ length: 256 }, (_, i) => i);
  const dataRng = new Rng(1);
  const errorBefore = evaluateError(model.network, digits, indices, spec, { dataRng });
  const losses: number[] = [];
  for (let epoch = 0; epoch < 5; epoch++) {
    const r = trainEpoch({
      network: model.network,
      optimizer,
      set: digits,
      indices,
      spec,
      batchSize: 16,
      schedule: { epochs: 5, learningRate: 2e-3, minLearningRate: 2e-3 },
      epoch,
      dataRng,
      policyRng: model.rng,
    });
    losses.push(r.crossEntropy);
  }
  const errorAfter = evaluateError(model.network, digits, indices, spec, { dataRng });
  assert.ok(losses[4]! < 0.7 * losses[0]!, `cross-entropy ${losses.map((l) => l.toFixed(3)).join(' → ')}`);
  assert.ok(errorAfter < errorBefore - 0.2, `error ${errorBefore} → ${errorAfter}`);
  model.dispose();
});
