import assert from 'node:assert/strict';
import { test } from 'node:test';
import { labelsOf, readMnist, renderExamples, taskSpec } from './mnist-dataset.js';
import { Rng } from './rng.js';

const train = readMnist('train');
const testSet = readMnist('test');

const ink = (pixels: Float32Array, from = 0, to = pixels.length): number => pixels.subarray(from, to).reduce((a, b) => a + b, 0);

test('reads the full MNIST idx files', () => {
  assert.equal(train.count, 60000);
  assert.equal(testSet.count, 10000);
  assert.equal(train.side, 28);
  assert.deepEqual([...labelsOf(train, [0, 1, 2])], [5, 0, 4]);
  assert.ok(train.labels.every((l) => l <= 9));
});

test('plain MNIST renders the digit unchanged in [0, 1]; shifts move it', () => {
  const plain = renderExamples(train, [0], taskSpec('mnist'), new Rng(1));
  assert.equal(plain.length, 784);
  assert.ok(plain.every((v) => v >= 0 && v <= 1));
  assert.ok(Math.abs(plain[14 * 28 + 14]! - train.images[14 * 28 + 14]! / 255) < 1e-6);
  const shifted = renderExamples(train, [0], taskSpec('mnist', { shift: 2 }), new Rng(3));
  assert.ok(ink(shifted) <= ink(plain) + 1e-3);
});

test('translated: the whole digit lands somewhere in 60×60', () => {
  const spec = taskSpec('translated');
  assert.equal(spec.imageSize, 60);
  const out = renderExamples(train, [0, 0], spec, new Rng(2));
  const one = renderExamples(train, [0], taskSpec('mnist'), new Rng(2));
  assert.equal(out.length, 2 * 3600);
  assert.ok(Math.abs(ink(out, 0, 3600) - ink(one)) < 1e-2, 'no ink lost or added');
  assert.notDeepEqual([...out.subarray(0, 3600)], [...out.subarray(3600)], 'each example is placed afresh');
});

test('cluttered: 4 pieces in 60×60, 8 in 100×100, adding ink', () => {
  assert.equal(taskSpec('cluttered').clutterPieces, 4);
  const big = taskSpec('cluttered', { imageSize: 100 });
  assert.equal(big.clutterPieces, 8);
  const digitInk = ink(renderExamples(train, [7], taskSpec('mnist'), new Rng(1)));
  const out = renderExamples(train, [7], big, new Rng(4));
  assert.equal(out.length, 10000);
  assert.ok(ink(out) > digitInk);
  assert.ok(out.every((v) => v >= 0 && v <= 1));
});
