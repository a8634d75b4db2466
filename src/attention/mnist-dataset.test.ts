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
  // Each shifted draw is the plain digit moved by some integer (dx, dy) within ±2 px, zero-filled; the draws differ.
  const moved = (dx: number, dy: number) => Float32Array.from({ length: 784 }, (_, i) => {
    const x = (i % 28) - dx, y = Math.floor(i / 28) - dy;
    return x >= 0 && x < 28 && y >= 0 && y < 28 ? plain[y * 28 + x]! : 0;
  });
  const offsets = new Set<string>();
  for (let seed = 1; seed <= 12; seed++) {
    const shifted = renderExamples(train, [0], taskSpec('mnist', { shift: 2 }), new Rng(seed));
    let found: string | undefined;
    for (let dy = -2; dy <= 2 && !found; dy++) {
      for (let dx = -2; dx <= 2 && !found; dx++) {
        const m = moved(dx, dy);
        if (m.every((v, i) => Math.abs(v - shifted[i]!) < 1e-6)) found = `${dx},${dy}`;
      }
    }
    assert.ok(found, `draw ${seed} is not the digit moved by at most 2 px`);
    offsets.add(found);
  }
  assert.ok(offsets.size >= 3, `shifts vary: ${[...offsets].join(' ')}`);
  assert.ok([...offsets].some((o) => o !== '0,0'), 'some draw moves the digit');
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
