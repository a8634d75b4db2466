import assert from 'node:assert/strict';
import { test } from 'node:test';
import { augmentDigit, ELASTIC_AUGMENTATION, elasticDistort, PHOTO_AUGMENTATION } from './augment.js';
import { readMnist, renderExamples, taskSpec } from './mnist-dataset.js';
import { Rng } from './rng.js';

const set = readMnist('test');
const digit = (i: number) => Float32Array.from(set.images.subarray(i * 784, (i + 1) * 784), (b) => b / 255);
const mass = (p: Float32Array) => p.reduce((a, b) => a + b, 0);
const centre = (p: Float32Array) => {
  let m = 0, x = 0, y = 0;
  p.forEach((v, i) => { m += v; x += v * (i % 28); y += v * Math.floor(i / 28); });
  return [x / m, y / m] as const;
};
const none = { rotation: 0, scale: [1, 1] as [number, number], stroke: [0, 0] as [number, number], blurShare: 0, blurSigma: 0.8 };

test('with every amount at zero the digit is unchanged', () => {
  const src = digit(0);
  const out = augmentDigit(src, 28, new Rng(1), none);
  for (let i = 0; i < 784; i++) assert.ok(Math.abs(out[i]! - src[i]!) < 1e-5);
});

test('a positive stroke change thickens (more ink), a negative one thins', () => {
  const src = digit(3);
  const thick = augmentDigit(src, 28, new Rng(1), { ...none, stroke: [1, 1] });
  const thin = augmentDigit(src, 28, new Rng(1), { ...none, stroke: [-0.5, -0.5] });
  assert.ok(mass(thick) > 1.3 * mass(src), `thick ${mass(thick)} vs ${mass(src)}`);
  assert.ok(mass(thin) < 0.9 * mass(src), `thin ${mass(thin)} vs ${mass(src)}`);
});

test('rotation and scale turn the digit about its centre of mass', () => {
  const src = digit(1);
  const turned = augmentDigit(src, 28, new Rng(1), { ...none, rotation: 12 });
  const [cx, cy] = centre(src);
  const [tx, ty] = centre(turned);
  assert.ok(Math.hypot(cx - tx, cy - ty) < 0.5, 'the centre of mass stays');
  assert.ok(Math.abs(mass(turned) - mass(src)) < 0.1 * mass(src), 'no ink lost');
  let differs = 0;
  for (let i = 0; i < 784; i++) if (Math.abs(turned[i]! - src[i]!) > 0.2) differs++;
  assert.ok(differs > 20, `${differs} pixels moved`);
  const small = augmentDigit(src, 28, new Rng(1), { ...none, scale: [0.8, 0.8] });
  assert.ok(mass(small) < 0.8 * mass(src), 'scaled down: less ink');
});

test('the default augmentation keeps values in [0, 1] and the peak, and is a function of the rng', () => {
  for (let i = 0; i < 20; i++) {
    const src = digit(i);
    const a = augmentDigit(src, 28, new Rng(i), PHOTO_AUGMENTATION);
    const b = augmentDigit(src, 28, new Rng(i), PHOTO_AUGMENTATION);
    assert.deepEqual(a, b);
    assert.ok(a.every((v) => v >= 0 && v <= 1));
    assert.ok(Math.abs(Math.max(...a) - Math.max(...src)) < 1e-5);
  }
});

test('renderExamples augments only when the task asks; fixed test sets never do', () => {
  const plain = renderExamples(set, [0, 1], taskSpec('mnist'), new Rng(5));
  const augmented = renderExamples(set, [0, 1], taskSpec('mnist', { augment: true }), new Rng(5));
  assert.notDeepEqual(plain, augmented);
  assert.deepEqual(renderExamples(set, [0, 1], taskSpec('mnist'), new Rng(9)), plain);
});

test('elastic distortion: no displacement at α 0; a smooth field that moves ink locally and keeps most of it', () => {
  const src = digit(5);
  assert.deepEqual(elasticDistort(src, 28, new Rng(3), 0, 4), src);
  const out = elasticDistort(src, 28, new Rng(3), 34, 4);
  assert.deepEqual(elasticDistort(src, 28, new Rng(3), 34, 4), out, 'a function of the rng');
  assert.ok(out.every((v) => v >= 0 && v <= 1));
  let moved = 0;
  for (let i = 0; i < 784; i++) if (Math.abs(out[i]! - src[i]!) > 0.2) moved++;
  assert.ok(moved > 20, `${moved} pixels changed`);
  assert.ok(Math.abs(mass(out) - mass(src)) < 0.25 * mass(src), `mass ${mass(out)} vs ${mass(src)}`);
  const [cx, cy] = centre(src);
  const [ox, oy] = centre(out);
  assert.ok(Math.hypot(cx - ox, cy - oy) < 2.5, 'a local distortion, not a translation of the digit');
  // The field is smooth: σ 4 makes neighbouring pixels move together, so the result stays close to the digit
  // (far closer than a field smoothed by σ 0.5 with the same α, which scatters the ink).
  const dist = (a: Float32Array) => a.reduce((t, v, i) => t + (v - src[i]!) ** 2, 0);
  assert.ok(dist(out) < dist(elasticDistort(src, 28, new Rng(3), 34, 0.5)));
});

test('the elastic preset leaves stroke width and focus alone: its peak is the digit\'s, its ink about the same', () => {
  for (let i = 0; i < 20; i++) {
    const src = digit(i);
    const a = augmentDigit(src, 28, new Rng(i), ELASTIC_AUGMENTATION);
    assert.ok(a.every((v) => v >= 0 && v <= 1));
    assert.ok(Math.abs(Math.max(...a) - Math.max(...src)) < 1e-5);
    assert.ok(mass(a) > 0.6 * mass(src) && mass(a) < 1.5 * mass(src), `digit ${i}: ink ${mass(a)} vs ${mass(src)}`);
  }
  const photo = renderExamples(set, [0, 1], taskSpec('mnist', { augment: 'photo' }), new Rng(5));
  assert.deepEqual(renderExamples(set, [0, 1], taskSpec('mnist', { augment: true }), new Rng(5)), photo, 'true is photo');
  assert.notDeepEqual(renderExamples(set, [0, 1], taskSpec('mnist', { augment: 'elastic' }), new Rng(5)), photo);
});
