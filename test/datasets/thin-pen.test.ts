import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { DigitSet } from '../../src/attention/mnist-dataset.js';
import { DEFAULT_PEN, ERODE_PEN, inkSkeleton, strokeMask, strokeMaskSide } from '../../scripts/lib/photo-digits.js';
import { dilateSquare, erodeSquare } from '../../src/images/morphology.js';
import { countHoles, skeletonize } from '../../scripts/lib/skeleton.js';

/** Connected components of the set pixels (8-connected) or of the unset ones (4-connected, outside included). */
function components(img: Uint8Array, w: number, h: number, of: 0 | 1): number {
  // Pad by one so the background outside the picture is one region.
  const W = w + 2, H = h + 2;
  const grid = new Uint8Array(W * H).fill(0);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) grid[(y + 1) * W + x + 1] = img[y * w + x]! ? 1 : 0;
  const seen = new Uint8Array(W * H);
  const steps = of === 1 ? [[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]] : [[1, 0], [-1, 0], [0, 1], [0, -1]];
  let count = 0;
  for (let start = 0; start < grid.length; start++) {
    if (seen[start] || grid[start] !== of) continue;
    count++;
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const i = stack.pop()!;
      const x = i % W, y = Math.floor(i / W);
      for (const [dx, dy] of steps) {
        const xx = x + dx!, yy = y + dy!;
        if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
        const j = yy * W + xx;
        if (!seen[j] && grid[j] === of) { seen[j] = 1; stack.push(j); }
      }
    }
  }
  return count;
}

describe('Zhang–Suen thinning (scripts/lib/skeleton.ts)', () => {
  it('thins a filled bar to a line one pixel wide along its middle', () => {
    const w = 40, h = 9;
    const bar = new Uint8Array(w * h);
    for (let y = 2; y < 7; y++) for (let x = 3; x < 37; x++) bar[y * w + x] = 1;
    const s = skeletonize(bar, w, h);
    for (let x = 6; x < 34; x++) {
      const rows = [];
      for (let y = 0; y < h; y++) if (s[y * w + x]) rows.push(y);
      assert.deepEqual(rows, [4], `column ${x}`);
    }
  });

  it('keeps a ring a closed loop: one piece around one hole', () => {
    const n = 41, c = 20;
    const ring = new Uint8Array(n * n);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
      const r = Math.hypot(x - c, y - c);
      if (r >= 9 && r <= 15) ring[y * n + x] = 1;
    }
    const s = skeletonize(ring, n, n);
    assert.equal(components(s, n, n, 1), 1);
    assert.equal(components(s, n, n, 0), 2, 'the hole and the outside stay apart');
  });

  it('on any shape: the skeleton lies inside it, and has as many pieces and holes', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 6 }), (discs) => {
      const n = 24;
      const shape = new Uint8Array(n * n);
      for (const [cx, cy, r] of discs) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) if (Math.hypot(x - cx, y - cy) <= r) shape[y * n + x] = 1;
      const s = skeletonize(shape, n, n);
      for (let i = 0; i < s.length; i++) if (s[i]) assert.equal(shape[i], 1);
      assert.equal(components(s, n, n, 1), components(shape, n, n, 1), 'pieces');
      assert.equal(components(s, n, n, 0), components(shape, n, n, 0), 'holes');
    }), { numRuns: 200 });
  });
});

describe('countHoles (scripts/lib/skeleton.ts)', () => {
  it('counts the loops of an 8, not the gap of a C, and leaves out holes under the smallest area', () => {
    const n = 30;
    const ringAt = (img: Uint8Array, cy: number, inner: number, gap: boolean): void => {
      for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
        const r = Math.hypot(x - 15, y - cy);
        if (r >= inner && r <= inner + 3 && !(gap && x > 15 && Math.abs(y - cy) < 2)) img[y * n + x] = 1;
      }
    };
    const eight = new Uint8Array(n * n);
    ringAt(eight, 8, 4, false);
    ringAt(eight, 21, 4, false);
    assert.equal(countHoles(eight, n, n), 2);
    const c = new Uint8Array(n * n);
    ringAt(c, 15, 6, true);
    assert.equal(countHoles(c, n, n), 0);
    const small = new Uint8Array(n * n);
    ringAt(small, 15, 1, false);
    const area = Array.from(small).filter((v, i) => !v && Math.hypot((i % n) - 15, Math.floor(i / n) - 15) < 1.5).length;
    assert.equal(countHoles(small, n, n, area), 1);
    assert.equal(countHoles(small, n, n, area + 1), 0);
  });

  it('on any shape: the regions of background (4-connected) apart from the outside', () => {
    fc.assert(fc.property(fc.integer({ min: 3, max: 16 }), fc.integer({ min: 3, max: 16 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (w, h, seed) => {
      let state = seed;
      const shape = Uint8Array.from({ length: w * h }, () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 31));
      assert.equal(countHoles(shape, w, h), components(shape, w, h, 0) - 1);
    }), { numRuns: 300 });
  });
});

describe('the renderer\'s thin pens (scripts/lib/photo-digits.ts strokeMask)', () => {
  // A one-digit set: a faint thin horizontal stroke (one row at 180, 40 either side, as MNIST's lightest strokes)
  // and a thick vertical one at full ink.
  const side = 28;
  const images = new Uint8Array(side * side);
  for (let x = 4; x < 16; x++) {
    images[8 * side + x] = 180;
    images[7 * side + x] = 40;
    images[9 * side + x] = 40;
  }
  for (let k = 4; k < 24; k++) for (let x = 18; x < 22; x++) images[k * side + x] = 255;
  const set: DigitSet = { images, labels: new Uint8Array([1]), count: 1, side };
  const big = strokeMaskSide(side);
  /** The thin stroke's darkest point across its middle (its row at 4×, columns 24 to 56). */
  const thinStroke = (m: Uint8Array): number => {
    let least = 255;
    for (let x = 24; x < 56; x++) {
      let column = 0;
      for (let y = 26; y < 42; y++) column = Math.max(column, m[y * big + x]!);
      least = Math.min(least, column);
    }
    return least;
  };

  it('the erosion of every earlier figure erases a thin stroke at −2 px; the pen line keeps it at full ink', async () => {
    const drawn = await strokeMask(set, 0, 0, DEFAULT_PEN);
    assert.ok(thinStroke(drawn) >= 160, `drawn: ${thinStroke(drawn)}`);
    const skeleton = inkSkeleton(drawn, big);
    for (const filter of ['bitwise', 'grey'] as const) {
      const eroded = await strokeMask(set, 0, -2, { thin: 'erode', filter });
      assert.ok(thinStroke(eroded) < 128, `${filter}: the thin stroke falls below half ink (${thinStroke(eroded)})`);
      const lined = await strokeMask(set, 0, -2, { thin: 'line', filter });
      assert.equal(thinStroke(lined), 255);
      for (let i = 0; i < skeleton.length; i++) if (skeleton[i]) assert.ok(lined[i]! >= 128, `${filter}: the pen line covers the whole skeleton`);
    }
  });

  it('the pen line thins a thick stroke as the erosion does, and changes nothing at zero or thicker', async () => {
    for (const filter of ['bitwise', 'grey'] as const) {
      const eroded = await strokeMask(set, 0, -2, { thin: 'erode', filter });
      const lined = await strokeMask(set, 0, -2, { thin: 'line', filter });
      const row = 4 * 14 * big;
      const width = (m: Uint8Array): number => m.subarray(row + 4 * 16, row + 4 * 25).filter((v) => v >= 128).length;
      assert.equal(width(lined), width(eroded), `${filter}: the thick stroke is as wide either way`);
      assert.ok(width(eroded) < width(await strokeMask(set, 0, 0, DEFAULT_PEN)), `${filter}: and thinner than drawn`);
      for (const stroke of [0, 1, 3]) assert.deepEqual(await strokeMask(set, 0, stroke, { thin: 'line', filter }), await strokeMask(set, 0, stroke, { thin: 'erode', filter }));
    }
  });

  it('the grey filter is the max (thicker) and min (thinner) over the square; the bitwise one is never below or above them', async () => {
    const drawn = Float32Array.from(await strokeMask(set, 0, 0, DEFAULT_PEN));
    for (const stroke of [-2, -1, 1, 2, 5]) {
      const grey = await strokeMask(set, 0, stroke, { thin: 'erode', filter: 'grey' });
      const bitwise = await strokeMask(set, 0, stroke, ERODE_PEN);
      const expected = (stroke > 0 ? dilateSquare : erodeSquare)(drawn, big, big, Math.abs(stroke));
      assert.deepEqual(Array.from(grey), Array.from(expected), `stroke ${stroke}`);
      let differ = 0;
      for (let i = 0; i < grey.length; i++) {
        assert.ok(stroke > 0 ? bitwise[i]! >= grey[i]! : bitwise[i]! <= grey[i]!, `stroke ${stroke}, pixel ${i}: bitwise ${bitwise[i]}, grey ${grey[i]}`);
        if (bitwise[i] !== grey[i]) differ++;
      }
      // The digit's edges are grey (a cubic upscale), where OR and AND part from max and min.
      assert.ok(differ > 0, `stroke ${stroke}: the filters differ on the grey edges`);
    }
  });
});

describe('npm run check:pen (scripts/check-thin-pen.ts)', () => {
  it('prints, for every stroke filter, stroke change and thin pen, how many masks lose their digit or a loop, and their ink; the pen line never loses its digit', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/check-thin-pen.ts', '--count', '40'], { encoding: 'utf8' });
    assert.match(stdout, /^40 training digits \(not among models\/ram-mnist's 5000 validation digits\)/);
    const rows = stdout.split('\n').filter((l) => /^(bitwise|grey) \|/.test(l)).map((l) => l.split('|').map((c) => c.trim()));
    const conditions = ['-2 erode', '-2 line', '-1 erode', '-1 line', '1 —', '2 —', '3 —', '5 —'];
    assert.deepEqual(rows.map((r) => `${r[0]} ${r[1]} ${r[2]}`), [...conditions.map((c) => `bitwise ${c}`), ...conditions.map((c) => `grey ${c}`)]);
    for (const r of rows) {
      const lost = Number(/^(\d+) of 40/.exec(r[3]!)![1]);
      assert.equal(r[7], lost / 40 > 0.02 ? 'yes' : 'no', `the verdict follows the count: ${r.join(' | ')}`);
      if (r[2] === 'line' || Number(r[1]) > 0) assert.equal(lost, 0, r.join(' | '));
      const loops = Number(/^(\d+) \(/.exec(r[5]!)![1]);
      assert.ok(loops >= 0 && loops <= 40, r.join(' | '));
      const ink = Number(r[6]);
      assert.ok(Number(r[1]) > 0 ? ink > 1 : ink < 1, `a thicker stroke has more ink than drawn, a thinner one less: ${r.join(' | ')}`);
    }
    // OR is never below the max, AND never above the min: the bitwise filter draws more ink thicker, less thinner.
    const inkAt = (filter: string, stroke: string): number => Number(rows.find((r) => r[0] === filter && r[1] === stroke && r[2] !== 'line')![6]);
    for (const stroke of ['1', '5']) assert.ok(inkAt('bitwise', stroke) > inkAt('grey', stroke), `+${stroke}`);
    for (const stroke of ['-1', '-2']) assert.ok(inkAt('bitwise', stroke) < inkAt('grey', stroke), stroke);
  });
});
