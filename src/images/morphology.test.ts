import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import sharp from 'sharp';
import { dilateSquare, erodeSquare, morphGrey, openingSquare } from './morphology.js';
import { strokeWidth } from './preprocess.js';

/** A w × h picture with a vertical bar of `value` from column x0 to x1 (inclusive), rows 5 … h − 6. */
function bar(w: number, h: number, x0: number, x1: number, value = 255): Uint8Array {
  const img = new Uint8Array(w * h);
  for (let y = 5; y < h - 5; y++) for (let x = x0; x <= x1; x++) img[y * w + x] = value;
  return img;
}

const columns = (img: Uint8Array, w: number, y: number): number[] => {
  const on: number[] = [];
  for (let x = 0; x < w; x++) if (img[y * w + x]! > 0) on.push(x);
  return on;
};

describe('morphGrey', () => {
  it('grows a bar by one pixel per side per step and shrinks it back', () => {
    const img = bar(30, 30, 12, 15);
    const grown = morphGrey(img, 30, 30, 3, 'grow');
    assert.deepEqual(columns(grown, 30, 15), [9, 10, 11, 12, 13, 14, 15, 16, 17, 18]);
    const shrunk = morphGrey(img, 30, 30, 1, 'shrink');
    assert.deepEqual(columns(shrunk, 30, 15), [13, 14]);
    // Shrinking by more than half the width leaves nothing.
    assert.ok(morphGrey(img, 30, 30, 2, 'shrink').every((v) => v === 0));
    // The input is left as it was.
    assert.deepEqual(columns(img, 30, 15), [12, 13, 14, 15]);
  });

  it('keeps grey ink grey: a blurred stroke is thinned, not binarised or holed', () => {
    // A stroke whose core is grey (180), not full ink, as in a softened photograph.
    const w = 30;
    const img = new Uint8Array(w * w);
    for (let y = 0; y < w; y++) for (let x = 8; x <= 20; x++) img[y * w + x] = x === 8 || x === 20 ? 60 : 180;
    const thin = morphGrey(img, w, w, 2, 'shrink');
    const row = Array.from(thin.subarray(15 * w, 16 * w));
    assert.deepEqual(row.slice(10, 19), [60, 180, 180, 180, 180, 180, 180, 180, 60]);
    assert.ok(row.slice(0, 10).every((v) => v === 0) && row.slice(19).every((v) => v === 0));
  });

  it('changes a ring\'s measured stroke width (all directions at once) by 2–2.7 px per step', () => {
    const side = 80;
    const ring = new Uint8Array(side * side);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const r = Math.hypot(x - 39.5, y - 39.5);
        if (r >= 22 && r <= 32) ring[y * side + x] = 255;
      }
    }
    const w0 = strokeWidth(ring, side, side);
    assert.ok(Math.abs(w0 - 10) < 1.5, `ring width ${w0}`);
    const grown = strokeWidth(morphGrey(ring, side, side, 3, 'grow'), side, side);
    const shrunk = strokeWidth(morphGrey(ring, side, side, 3, 'shrink'), side, side);
    // 2 px per step across a row or column; a little more across a diagonal (the octagon's corners).
    for (const change of [grown - w0, w0 - shrunk]) assert.ok(change >= 6 && change <= 8.1, `width changed by ${change} in 3 steps`);
  });
});

/** `combine` of the values of `img` over the (2r + 1)² square around each pixel, clipped to the picture, from `start`: by brute force. */
function overSquare(img: ArrayLike<number>, w: number, h: number, r: number, combine: (a: number, b: number) => number, start: number): number[] {
  return Array.from({ length: w * h }, (_, i) => {
    const x = i % w;
    const y = (i - x) / w;
    let v = start;
    for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) {
      for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) v = combine(v, img[yy * w + xx]!);
    }
    return v;
  });
}

/** Min or max of `img` over the (2r + 1)² square around (x, y), clipped to the picture: the definition, by brute force. */
function squareExtreme(img: Float32Array, w: number, h: number, r: number, min: boolean): Float32Array {
  return Float32Array.from(min ? overSquare(img, w, h, r, Math.min, Infinity) : overSquare(img, w, h, r, Math.max, -Infinity));
}

describe('openingSquare, dilateSquare and erodeSquare', () => {
  it('equal the brute-force min and max filters over the square, for any picture and radius', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 19 }), fc.integer({ min: 1, max: 13 }), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (w, h, r, seed) => {
        let state = seed;
        // Few distinct values, so ties (the queue's equal-value case) are common.
        const img = Float32Array.from({ length: w * h }, () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) % 7) / 7);
        assert.deepEqual(dilateSquare(img, w, h, r), squareExtreme(img, w, h, r, false));
        assert.deepEqual(erodeSquare(img, w, h, r), squareExtreme(img, w, h, r, true));
        assert.deepEqual(openingSquare(img, w, h, r), squareExtreme(squareExtreme(img, w, h, r, true), w, h, r, false));
      }), { numRuns: 300 });
  });

  it('removes what is narrower than the square and keeps what is wider: the top-hat keeps a stroke, not a blotch', () => {
    const w = 60;
    const img = new Float32Array(w * w);
    // A 3 px stroke (columns 10–12) on a 20 px blotch (columns 30–49), both full height.
    for (let y = 0; y < w; y++) {
      for (let x = 10; x <= 12; x++) img[y * w + x] = 1;
      for (let x = 30; x <= 49; x++) img[y * w + x] = 0.5;
    }
    const opened = openingSquare(img, w, w, 4);
    const hat = img.map((v, i) => v - opened[i]!);
    assert.deepEqual(Array.from(hat.subarray(30 * w + 8, 30 * w + 15)), [0, 0, 1, 1, 1, 0, 0]);
    assert.ok(hat.subarray(30 * w + 25, 30 * w + 55).every((v) => v === 0), 'the blotch is gone from the top-hat');
  });
});

describe('sharp\'s erode and dilate (why the filters above are hand-written)', () => {
  /** One 8-bit channel through sharp's erode(r) or dilate(r). */
  async function viaSharp(img: Uint8Array, w: number, h: number, op: 'erode' | 'dilate', r: number): Promise<Uint8Array> {
    const out = await sharp(Buffer.from(img), { raw: { width: w, height: h, channels: 1 } })[op](r).extractChannel(0).raw().toBuffer();
    return new Uint8Array(out);
  }

  it('on grey pixels return the bitwise OR (erode) and AND (dilate) of the (2r + 1)² square, not its max and min', async () => {
    const w = 23;
    const h = 17;
    let state = 7;
    const img = Uint8Array.from({ length: w * h }, () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24));
    /** OR or AND of the bytes in the square around each pixel, clipped to the picture: by brute force. */
    const bitwise = (r: number, or: boolean): number[] => (or ? overSquare(img, w, h, r, (a, b) => a | b, 0) : overSquare(img, w, h, r, (a, b) => a & b, 255));
    const asFloat = Float32Array.from(img);
    for (const r of [1, 2, 3]) {
      const grown = Array.from(await viaSharp(img, w, h, 'erode', r));
      const shrunk = Array.from(await viaSharp(img, w, h, 'dilate', r));
      assert.deepEqual(grown, bitwise(r, true));
      assert.deepEqual(shrunk, bitwise(r, false));
      // …which differ from the grey max and min (dilateSquare, erodeSquare) on such a picture.
      assert.notDeepEqual(grown, Array.from(dilateSquare(asFloat, w, h, r)));
      assert.notDeepEqual(shrunk, Array.from(erodeSquare(asFloat, w, h, r)));
    }
    // On a 0/255 picture OR and AND are the max and min: there sharp's filters are the grey ones.
    const binary = img.map((v) => (v >= 128 ? 255 : 0));
    assert.deepEqual(Array.from(await viaSharp(binary, w, h, 'erode', 2)), Array.from(dilateSquare(Float32Array.from(binary), w, h, 2)));
    assert.deepEqual(Array.from(await viaSharp(binary, w, h, 'dilate', 2)), Array.from(erodeSquare(Float32Array.from(binary), w, h, 2)));
  });

  it('thin a diagonal stroke √2 times as much as an upright one; morphGrey\'s near-disc thins both about alike', async () => {
    const n = 60;
    const stripe = (diagonal: boolean): Uint8Array => Uint8Array.from({ length: n * n }, (_, i) => {
      const x = i % n;
      const y = (i - x) / n;
      return (diagonal ? Math.abs(x - y) / Math.SQRT2 : Math.abs(x - 29.5)) <= 6 ? 255 : 0;
    });
    // Width across the stroke, from the ink along row 30 (a 45° stroke crosses a row over √2 times its width).
    const across = (img: Uint8Array, diagonal: boolean): number => {
      let ink = 0;
      for (let x = 0; x < n; x++) if (img[30 * n + x]! >= 128) ink++;
      return diagonal ? ink / Math.SQRT2 : ink;
    };
    const loss = async (diagonal: boolean): Promise<{ sharp: number; disc: number }> => {
      const img = stripe(diagonal);
      const before = across(img, diagonal);
      return {
        sharp: before - across(await viaSharp(img, n, n, 'dilate', 2), diagonal),
        disc: before - across(morphGrey(img, n, n, 2, 'shrink'), diagonal),
      };
    };
    const upright = await loss(false);
    const diagonal = await loss(true);
    assert.equal(upright.sharp, 4);
    assert.equal(upright.disc, 4);
    assert.ok(Math.abs(diagonal.sharp / upright.sharp - Math.SQRT2) < 0.05, `sharp: diagonal lost ${diagonal.sharp} px, upright ${upright.sharp}`);
    assert.ok(diagonal.disc / upright.disc < 1.15, `near-disc: diagonal lost ${diagonal.disc} px, upright ${upright.disc}`);
  });

  it('take 8-bit pixels only: a Float32 picture comes back as zeros, so the Float32 opening cannot use them', async () => {
    const img = new Float32Array(9);
    img[4] = 0.3;
    img[5] = 0.7;
    const out = await sharp(img, { raw: { width: 9, height: 1, channels: 1 } }).erode(1).extractChannel(0).raw({ depth: 'float' }).toBuffer();
    const values = new Float32Array(out.buffer, out.byteOffset, out.length / 4);
    assert.ok(values.every((v) => v === 0), `sharp kept ${Array.from(values)}`);
    assert.deepEqual(Array.from(dilateSquare(img, 9, 1, 1)), [0, 0, 0, 0.30000001192092896, 0.699999988079071, 0.699999988079071, 0.699999988079071, 0, 0]);
  });
});
