import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { DigitSet } from '../../src/attention/mnist-dataset.js';
import { strokeMask, strokeMaskSide } from '../../scripts/lib/photo-digits.js';
import { skeletonize } from '../../scripts/lib/skeleton.js';

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
    const drawn = await strokeMask(set, 0, 0, 'line');
    assert.ok(thinStroke(drawn) >= 160, `drawn: ${thinStroke(drawn)}`);
    const eroded = await strokeMask(set, 0, -2, 'erode');
    assert.ok(thinStroke(eroded) < 128, `eroded: the thin stroke falls below half ink (${thinStroke(eroded)})`);
    const lined = await strokeMask(set, 0, -2, 'line');
    assert.equal(thinStroke(lined), 255);
    const skeleton = skeletonize(drawn.map((v) => (v >= 128 ? 1 : 0)), big, big);
    for (let i = 0; i < skeleton.length; i++) if (skeleton[i]) assert.ok(lined[i]! >= 128, 'the pen line covers the whole skeleton');
  });

  it('the pen line thins a thick stroke as the erosion does, and changes nothing at zero or thicker', async () => {
    const eroded = await strokeMask(set, 0, -2, 'erode');
    const lined = await strokeMask(set, 0, -2, 'line');
    const row = 4 * 14 * big;
    const width = (m: Uint8Array): number => m.subarray(row + 4 * 16, row + 4 * 25).filter((v) => v >= 128).length;
    assert.equal(width(lined), width(eroded), 'the thick stroke is as wide either way');
    assert.ok(width(eroded) < width(await strokeMask(set, 0, 0, 'line')), 'and thinner than drawn');
    for (const stroke of [0, 1, 3]) assert.deepEqual(await strokeMask(set, 0, stroke, 'line'), await strokeMask(set, 0, stroke, 'erode'));
  });
});

describe('npm run check:pen (scripts/check-thin-pen.ts)', () => {
  it('prints, for every stroke change and thin pen, how many masks lose their digit; the pen line never does', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/check-thin-pen.ts', '--count', '40'], { encoding: 'utf8' });
    assert.match(stdout, /^40 training digits \(not among models\/ram-mnist's 5000 validation digits\)/);
    const rows = stdout.split('\n').filter((l) => /^ *-?\d \|/.test(l)).map((l) => l.split('|').map((c) => c.trim()));
    assert.deepEqual(rows.map((r) => `${r[0]} ${r[1]}`), ['-2 erode', '-2 line', '-1 erode', '-1 line', '1 —', '2 —', '3 —', '5 —']);
    for (const r of rows) {
      const lost = Number(/^(\d+) of 40/.exec(r[2]!)![1]);
      assert.equal(r[4], lost / 40 > 0.02 ? 'yes' : 'no', `the verdict follows the count: ${r.join(' | ')}`);
      if (r[1] === 'line' || Number(r[0]) > 0) assert.equal(lost, 0, r.join(' | '));
    }
  });
});
