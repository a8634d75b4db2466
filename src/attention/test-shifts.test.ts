import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { renderTestSet, taskOfConfig, testError } from './evaluation.js';
import { loadRamModel } from './ram-model.js';
import { shiftedBatch, shiftedCopies, shiftOffsets, shiftPixels } from './test-shifts.js';

test('shiftPixels moves every pixel by (dx, dy), fills what moves in with 0, and drops what moves out', () => {
  // A 3×3 picture 1..9, row-major.
  const p = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([...shiftPixels(p, 3, 1, 0)], [0, 1, 2, 0, 4, 5, 0, 7, 8]);
  assert.deepEqual([...shiftPixels(p, 3, -1, 0)], [2, 3, 0, 5, 6, 0, 8, 9, 0]);
  assert.deepEqual([...shiftPixels(p, 3, 0, 1)], [0, 0, 0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...shiftPixels(p, 3, 0, -1)], [4, 5, 6, 7, 8, 9, 0, 0, 0]);
  assert.deepEqual([...shiftPixels(p, 3, 0, 0)], [...p]);
  assert.throws(() => shiftPixels(p, 4, 1, 0), /expected 16 pixels, got 9/);
});

test('shiftPixels: a picture with an empty border comes back unchanged when shifted there and back', () => {
  fc.assert(fc.property(
    fc.array(fc.float({ min: 0, max: 1, noNaN: true }), { minLength: 36, maxLength: 36 }),
    fc.constantFrom(...shiftOffsets(9)),
    (inner, [dx, dy]) => {
      // An 8×8 picture whose one-pixel border is empty.
      const p = new Float32Array(64);
      inner.forEach((v, k) => { p[(1 + Math.floor(k / 6)) * 8 + 1 + (k % 6)] = v; });
      assert.deepEqual(shiftPixels(shiftPixels(p, 8, dx, dy), 8, -dx, -dy), p);
      // Ink is neither made nor lost.
      const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(sum(shiftPixels(p, 8, dx, dy)) - sum(p)) < 1e-4);
    },
  ));
});

test('shiftOffsets: 1, 5 and 9 positions, the picture itself first and no offset twice; other counts are refused', () => {
  for (const n of [1, 5, 9]) {
    const offsets = shiftOffsets(n);
    assert.equal(offsets.length, n);
    assert.deepEqual(offsets[0], [0, 0]);
    assert.equal(new Set(offsets.map((o) => o.join())).size, n);
    assert.ok(offsets.every(([dx, dy]) => Math.abs(dx) <= 1 && Math.abs(dy) <= 1));
  }
  assert.throws(() => shiftOffsets(3), /shifts must be one of 1, 5, 9, not 3/);
});

test('shiftedCopies: the picture at each offset of shiftOffsets, in its order, the picture itself first', () => {
  const p = Float32Array.from({ length: 16 }, (_, k) => k + 1);
  const copies = shiftedCopies(p, 4, 5);
  assert.equal(copies.length, 5);
  assert.deepEqual(copies[0], p);
  shiftOffsets(5).forEach(([dx, dy], j) => assert.deepEqual(copies[j], shiftPixels(p, 4, dx, dy)));
  assert.throws(() => shiftedCopies(p, 4, 2), /shifts must be one of/);
});

test('shiftedBatch lays each image\'s shifted copies in consecutive rows, in shiftOffsets\' order', () => {
  const side = 4;
  const images = [0, 1].map((i) => Float32Array.from({ length: side * side }, (_, k) => i * 100 + k + 1));
  const batch = shiftedBatch(Float32Array.from([...images[0]!, ...images[1]!]), 2, side, 5);
  assert.equal(batch.length, 2 * 5 * side * side);
  shiftOffsets(5).forEach(([dx, dy], j) => {
    for (let i = 0; i < 2; i++) {
      const row = batch.subarray((i * 5 + j) * side * side, (i * 5 + j + 1) * side * side);
      assert.deepEqual([...row], [...shiftPixels(images[i]!, side, dx, dy)]);
    }
  });
  assert.throws(() => shiftedBatch(new Float32Array(10), 2, side, 5), /expected 32 pixels, got 10/);
});

test('testError with shifts scores the mean of the shifted copies\' probabilities, checked against the model\'s own classifications', async () => {
  await selectTensorBackend();
  const model = await loadRamModel(fileURLToPath(new URL('../../models/ram-mnist-conv', import.meta.url)));
  try {
    const limit = 300;
    const side = model.config.imageSize;
    const set = renderTestSet(taskOfConfig(model.config), limit);
    const images = Array.from({ length: limit }, (_, i) => set.pixels.slice(i * side * side, (i + 1) * side * side));
    let wrong = 0, changed = 0;
    const alone = model.classifyMany(images);
    images.forEach((pixels, i) => {
      const copies = model.classifyMany(shiftOffsets(5).map(([dx, dy]) => shiftPixels(pixels, side, dx, dy)));
      const mean = copies[0]!.probabilities.map((_, k) => copies.reduce((s, c) => s + c.probabilities[k]!, 0) / copies.length);
      const predicted = mean.indexOf(Math.max(...mean));
      if (predicted !== set.labels[i]) wrong++;
      // The copies' probabilities differ from the picture's own, so the count is not trivially the unshifted one's.
      if (copies.some((c) => Math.abs(c.probabilities[alone[i]!.predicted]! - alone[i]!.probabilities[alone[i]!.predicted]!) > 1e-3)) changed++;
    });
    assert.equal(testError(model.network, { limit, shifts: 5 }).wrong, wrong);
    assert.ok(changed >= 10, `the shifts change the probabilities of ${changed} of ${limit} digits`);
    assert.equal(testError(model.network, { limit, shifts: 1 }).wrong, testError(model.network, { limit }).wrong);
    assert.throws(() => testError(model.network, { limit: 10, shifts: 4 }), /shifts must be one of/);
    assert.throws(() => testError(model.network, { limit: 10, shifts: 5, averageWith: model.network }), /one at a time/);
  } finally {
    model.dispose();
  }
});
