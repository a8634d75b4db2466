import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { heldOutSplit, renderTestSet, standardError, taskOfConfig, testError, validationDigits } from './evaluation.js';
import { loadRamModel } from './ram-model.js';
import { Rng } from './rng.js';

test('standardError is the binomial √(p(1 − p)/n), and matches the spread of simulated error rates', () => {
  assert.equal(standardError(0.01, 10_000), Math.sqrt(0.01 * 0.99 / 10_000));
  assert.equal(standardError(0, 1000), 0);
  assert.equal(standardError(0.5, 0), 0);
  // 2,000 simulated test sets of 1,000 images at a true error of 3%: their rates spread by one standard error.
  const rng = new Rng(11);
  const rates = Array.from({ length: 2000 }, () => {
    let wrong = 0;
    for (let i = 0; i < 1000; i++) if (rng.next() < 0.03) wrong++;
    return wrong / 1000;
  });
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  const sd = Math.sqrt(rates.reduce((a, b) => a + (b - mean) ** 2, 0) / (rates.length - 1));
  assert.ok(Math.abs(sd / standardError(0.03, 1000) - 1) < 0.06, `simulated ${sd}, formula ${standardError(0.03, 1000)}`);
});

test('heldOutSplit: disjoint, complete, and fixed by seed and size', () => {
  const a = heldOutSplit(1000, 1, 100);
  assert.equal(a.validation.length, 100);
  assert.deepEqual([...a.validation, ...a.train].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(heldOutSplit(1000, 1, 100), a);
  assert.notDeepEqual(heldOutSplit(1000, 2, 100).validation, a.validation);
});

test('validationDigits: the split of training.splitSeed when a run gave one, else of training.seed', () => {
  const split = (seed: number) => heldOutSplit(60_000, seed, 500).validation;
  const plain = validationDigits({ training: { seed: 2, validation: 500 } });
  assert.equal(plain.digits.count, 60_000);
  assert.deepEqual(plain.indices, split(2));
  assert.equal(plain.seed, 2);
  // A second run (seed 2) on the first run's split (seed 1) validates on the first run's digits.
  const second = validationDigits({ training: { seed: 2, splitSeed: 1, validation: 500 } });
  assert.deepEqual(second.indices, split(1));
  assert.equal(second.seed, 1);
  assert.notDeepEqual(second.indices, plain.indices);
  assert.throws(() => validationDigits({ training: { splitSeed: 1 } }), /records no training split/);
});

test('testError with averageWith scores the mean of two networks\' probabilities, checked against their own classifications', async () => {
  await selectTensorBackend();
  const shipped = (name: string) => fileURLToPath(new URL(`../../models/${name}`, import.meta.url));
  const [a, b] = await Promise.all([loadRamModel(shipped('ram-mnist')), loadRamModel(shipped('ram-mnist-conv'))]);
  try {
    const limit = 400;
    const set = renderTestSet(taskOfConfig(a.config), limit);
    const images = Array.from({ length: limit }, (_, i) => set.pixels.slice(i * 784, (i + 1) * 784));
    const [ca, cb] = [a.classifyMany(images), b.classifyMany(images)];
    let wrongPair = 0;
    ca.forEach((c, i) => {
      const mean = c.probabilities.map((p, k) => (p + cb[i]!.probabilities[k]!) / 2);
      if (mean.indexOf(Math.max(...mean)) !== set.labels[i]) wrongPair++;
    });
    const pair = testError(a.network, { limit, averageWith: b.network });
    assert.equal(pair.wrong, wrongPair);
    // The two networks disagree on some of these digits, so the pair's count is not trivially either one's.
    assert.ok(ca.some((c, i) => c.predicted !== cb[i]!.predicted), 'the two models disagree somewhere in the sample');
    // A network averaged with itself reads as it does alone.
    assert.equal(testError(a.network, { limit, averageWith: a.network }).wrong, testError(a.network, { limit }).wrong);
    // Averaged in either order, the same pictures are read the same.
    assert.equal(testError(b.network, { limit, averageWith: a.network }).wrong, wrongPair);
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('testError refuses to average networks that read different canvases or classes', async () => {
  await selectTensorBackend();
  const shipped = (name: string) => fileURLToPath(new URL(`../../models/${name}`, import.meta.url));
  const [a, b] = await Promise.all([loadRamModel(shipped('ram-mnist')), loadRamModel(shipped('ram-translated'))]);
  try {
    assert.throws(() => testError(a.network, { limit: 10, averageWith: b.network }), /averageWith: a 60×60 network .* cannot be averaged with a 28×28 one/);
  } finally {
    a.dispose();
    b.dispose();
  }
});
