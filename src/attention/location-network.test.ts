import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drawLocations } from './location-network.js';
import { Rng } from './rng.js';

test('drawLocations: mean + std·N(0, 1) per coordinate in order, clipped to [-1, 1] for the next glimpse', () => {
  const mean = [0, 0.5, -0.9, 0.99, 0.2, -0.3];
  const std = 0.15;
  const { sample, next } = drawLocations(mean, std, new Rng(7));
  // The same draws, one per coordinate in order, from the same seed.
  const rng = new Rng(7);
  const expected = mean.map((m) => Math.fround(m + std * rng.normal()));
  assert.deepEqual(Array.from(sample), expected);
  assert.deepEqual(Array.from(next), expected.map((v) => Math.min(1, Math.max(-1, v))));
  // Over many draws: the sample's mean and spread are the policy's, and clipping only bounds `next`.
  const many = drawLocations(new Float32Array(20_000).fill(0.95), std, new Rng(3));
  const mu = many.sample.reduce((a, b) => a + b, 0) / many.sample.length;
  const sd = Math.sqrt(many.sample.reduce((a, b) => a + (b - mu) ** 2, 0) / many.sample.length);
  assert.ok(Math.abs(mu - 0.95) < 0.005 && Math.abs(sd - std) < 0.005, `mean ${mu}, sd ${sd}`);
  assert.ok(many.sample.some((v) => v > 1) && many.next.every((v) => v <= 1) && many.next.some((v) => v === 1));
});

test('drawLocations replays given draws without an rng, and refuses to draw without one', () => {
  const replay = [1.4, -0.2, -1.7, 0.3];
  const { sample, next } = drawLocations([0, 0, 0, 0], 0.1, undefined, replay);
  assert.deepEqual(Array.from(sample), replay.map(Math.fround));
  assert.deepEqual(Array.from(next), [1, Math.fround(-0.2), -1, Math.fround(0.3)]);
  assert.throws(() => drawLocations([0, 0], 0.1, undefined), /needs an rng/);
});
