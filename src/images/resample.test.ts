import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import sharp from 'sharp';
import { resizeGrey } from './resample.js';
import { Xoshiro128 } from '../bandit/random/seeded-rng.js';
import { mnistTestDigit } from '../../test/images/fixtures.js';

/** What preprocessing used to ask sharp for: a one-channel raw resize with lanczos3, channel 0 of the result. */
async function sharpResize(src: Uint8Array, width: number, height: number, outWidth: number, outHeight: number): Promise<Uint8Array> {
  const { data, info } = await sharp(Buffer.from(src), { raw: { width, height, channels: 1 } })
    .resize(outWidth, outHeight, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer({ resolveWithObject: true });
  return Uint8Array.from({ length: outWidth * outHeight }, (_, i) => data[i * info.channels]!);
}

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  const i = a.findIndex((v, k) => v !== b[k]);
  return i < 0 ? 'none' : `pixel ${i}: ${a[i]} vs sharp's ${b[i]}`;
}

describe('resizeGrey', () => {
  it('gives exactly what sharp gives for the resizes preprocessing makes (a digit to 4× its fit and back, wide and flat boxes)', async () => {
    const digit = Uint8Array.from(mnistTestDigit(7).pixels, (v) => Math.round(v * 255));
    const sizes: [number, number, number, number][] = [
      [20, 20, 80, 80], [80, 80, 20, 20], [19, 20, 76, 80], [76, 80, 19, 20], [300, 200, 80, 53], [100, 60, 80, 48],
      [12, 20, 48, 80], [30, 4, 80, 12], [100, 1, 80, 4], [90, 10, 80, 8], [512, 384, 60, 45], [28, 28, 28, 28],
    ];
    for (const [w, h, ow, oh] of sizes) {
      const src = await sharpResize(digit, 28, 28, w, h);
      const ours = resizeGrey(src, w, h, ow, oh);
      assert.equal(ours.length, ow * oh);
      assert.deepEqual(ours, await sharpResize(src, w, h, ow, oh), `${w}×${h} → ${ow}×${oh}: ${firstDifference(ours, await sharpResize(src, w, h, ow, oh))}`);
    }
  });

  it('matches sharp on random pictures and sizes', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 }), fc.integer(),
      async (w, h, ow, oh, seed) => {
        const rng = new Xoshiro128(seed >>> 0);
        const src = Uint8Array.from({ length: w * h }, () => rng.nextUint32() >>> 24);
        const ours = resizeGrey(src, w, h, ow, oh);
        const theirs = await sharpResize(src, w, h, ow, oh);
        assert.deepEqual(ours, theirs, `${w}×${h} → ${ow}×${oh}: ${firstDifference(ours, theirs)}`);
      }), { numRuns: 150 });
  });

  it('refuses a buffer that does not fit its dimensions', () => {
    assert.throws(() => resizeGrey(new Uint8Array(10), 4, 4, 2, 2), RangeError);
    assert.throws(() => resizeGrey(new Uint8Array(16), 4, 4, 0, 2), RangeError);
  });
});
