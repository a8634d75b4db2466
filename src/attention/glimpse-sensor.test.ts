import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { glimpseSensor, glimpseSensorPixels, patchSizes } from './glimpse-sensor.js';
import { Rng } from './rng.js';

await selectTensorBackend();

const SIDE = 16;
/** pixel (y, x) = y·16 + x: every pixel distinct, so a patch's origin is readable from its values. */
const ramp = Float32Array.from({ length: SIDE * SIDE }, (_, i) => i);
const at = (y: number, x: number): number => (y >= 0 && y < SIDE && x >= 0 && x < SIDE ? y * SIDE + x : 0);

function sense(locations: number[], scales = 1, patchSize = 8): Float32Array {
  return tf.tidy(() => {
    const images = tf.tensor4d(ramp, [1, SIDE, SIDE, 1]);
    return glimpseSensor(images, Float32Array.from(locations), { patchSize, scales }).dataSync() as Float32Array;
  });
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-3): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `index ${i}: ${actual[i]} ≠ ${expected[i]}`);
}

test('patch sizes double per scale', () => {
  assert.deepEqual(patchSizes({ patchSize: 8, scales: 3 }), [8, 16, 32]);
});

test('a centred 8×8 patch is exactly the central block of the image', () => {
  // l = (0, 0) is the image centre: pixels 4..11 in both directions.
  const expected: number[] = [];
  for (let y = 4; y < 12; y++) for (let x = 4; x < 12; x++) expected.push(at(y, x));
  assertClose(sense([0, 0]), expected);
});

test('x moves the patch right, y moves it down', () => {
  // l = (0.5, -0.25): centre at pixel x = 1.5·8 − 0.5 = 11.5, y = 0.75·8 − 0.5 = 5.5.
  const expected: number[] = [];
  for (let y = 2; y < 10; y++) for (let x = 8; x < 16; x++) expected.push(at(y, x));
  assertClose(sense([0.5, -0.25]), expected);
});

test('outside the image the patch is zero-padded', () => {
  // l = (-1, -1): the centre is the top-left corner, so 4 rows and columns fall outside.
  const out = sense([-1, -1]);
  const expected: number[] = [];
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) expected.push(at(y - 4, x - 4));
  assertClose(out, expected);
  assert.equal(out[0], 0);
});

test('coarser scales are area averages of twice-wider patches, padded with zeros', () => {
  const out = sense([0, 0], 3, 4);
  assert.equal(out.length, 3 * 16);
  // Scale 2: 8×8 around the centre (pixels 4..11) pooled 2×2 into 4×4.
  const scale2 = out.subarray(16, 32);
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 4; x++) {
      const py = 4 + 2 * y;
      const px = 4 + 2 * x;
      const mean = (at(py, px) + at(py, px + 1) + at(py + 1, px) + at(py + 1, px + 1)) / 4;
      assert.ok(Math.abs(scale2[y * 4 + x]! - mean) < 1e-3);
    }
  }
  // Scale 3: 16×16 = the whole image pooled 4×4.
  const scale3 = out.subarray(32, 48);
  let mean00 = 0;
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) mean00 += at(y, x) / 16;
  assert.ok(Math.abs(scale3[0]! - mean00) < 1e-3);
  // A 32-wide patch on a 16-pixel image: its outer ring of 4×4 blocks is padding.
  const wide = sense([0, 0], 3, 8).subarray(128, 192);
  assert.equal(wide[0], 0);
  assert.equal(wide[63], 0);
  assert.ok(wide[2 * 8 + 2]! > 0);
});

test('batched: each image gets its own location, output [B, k·g·g]', () => {
  tf.tidy(() => {
    const images = tf.tensor4d([...ramp, ...ramp], [2, SIDE, SIDE, 1]);
    const out = glimpseSensor(images, Float32Array.from([0, 0, -1, -1]), { patchSize: 8, scales: 2 });
    assert.deepEqual(out.shape, [2, 128]);
    const rows = out.arraySync();
    assertClose(rows[0]!.slice(0, 64), sense([0, 0]));
    assertClose(rows[1]!.slice(0, 64), sense([-1, -1]));
  });
});

test('cost does not depend on the input size: same output size for 28 and 200 px', () => {
  tf.tidy(() => {
    for (const side of [28, 200]) {
      const out = glimpseSensor(tf.zeros([3, side, side, 1]), new Float32Array(6), { patchSize: 8, scales: 3 });
      assert.deepEqual(out.shape, [3, 192]);
    }
  });
});

test('the plain-pixel sensor (training) gives the tensor sensor’s values', () => {
  const rng = new Rng(41);
  for (const [side, patchSize, scales] of [[28, 8, 3], [60, 12, 3], [100, 12, 4], [16, 4, 2]] as const) {
    const batch = 24;
    const pixels = Float32Array.from({ length: batch * side * side }, () => (rng.next() < 0.3 ? rng.next() : 0));
    // Anywhere, including the edges and corners the clipped policy reaches.
    const locations = Float32Array.from({ length: batch * 2 }, (_, i) => (i < 8 ? [-1, 1, 0, 0.999][i % 4]! : rng.uniform(-1, 1)));
    const spec = { patchSize, scales };
    const expected = tf.tidy(() => glimpseSensor(tf.tensor4d(pixels, [batch, side, side, 1]), locations, spec).dataSync());
    const actual = glimpseSensorPixels(pixels, batch, side, side, locations, spec);
    assertClose(actual, expected, 1e-5);
  }
  assert.throws(() => glimpseSensorPixels(new Float32Array(10), 1, 4, 4, [0, 0], { patchSize: 2, scales: 1 }), RangeError);
});
