/**
 * Zhang–Suen thinning (Zhang & Suen 1984, "A fast parallel algorithm for thinning digital patterns"): a
 * binary shape reduced to a one-pixel-wide skeleton that keeps its connectivity and its ends.
 *
 * Hand-written: no maintained npm package offers thinning (image-js 1.x has erosion and dilation but no
 * skeleton; the `zhang-suen` package is an unmaintained 0.0.x), and the photo renderer needs it to draw a
 * thin pen along a digit's strokes and to check that a thinned digit still covers them.
 */
import { labelMarks } from '../../src/images/preprocess.js';

/**
 * The skeleton of `mask` (w × h, non-zero = shape) as 0/1 values. Pixels outside the picture count as background.
 * Zhang–Suen removes a 2×2 block (and a shape that thins down to one) whole; so that every piece of the shape
 * keeps a skeleton, such a piece keeps its pixel nearest its centroid.
 */
export function skeletonize(mask: ArrayLike<number>, width: number, height: number): Uint8Array {
  const skeleton = thin(mask, width, height);
  for (const piece of pieces(mask, width, height)) {
    if (piece.some((i) => skeleton[i])) continue;
    let cx = 0, cy = 0;
    for (const i of piece) { cx += i % width; cy += Math.floor(i / width); }
    cx /= piece.length;
    cy /= piece.length;
    let best = piece[0]!;
    let bestDistance = Infinity;
    for (const i of piece) {
      const d = (i % width - cx) ** 2 + (Math.floor(i / width) - cy) ** 2;
      if (d < bestDistance) { bestDistance = d; best = i; }
    }
    skeleton[best] = 1;
  }
  return skeleton;
}

/** The 8-connected pieces of the shape (labelMarks, the preprocessing's own labelling), each as its pixel indices. */
function pieces(mask: ArrayLike<number>, width: number, height: number): number[][] {
  const { label, masses } = labelMarks(mask, mask, width, height);
  const out: number[][] = masses.slice(1).map(() => []);
  for (let i = 0; i < label.length; i++) if (label[i]) out[label[i]! - 1]!.push(i);
  return out;
}

/** Zhang–Suen's two sub-iterations, repeated until nothing changes. */
function thin(mask: ArrayLike<number>, width: number, height: number): Uint8Array {
  const img = new Uint8Array(width * height);
  for (let i = 0; i < img.length; i++) img[i] = mask[i]! ? 1 : 0;
  const at = (x: number, y: number): number => (x < 0 || y < 0 || x >= width || y >= height ? 0 : img[y * width + x]!);
  const remove: number[] = [];
  let changed = true;
  while (changed) {
    changed = false;
    for (let pass = 0; pass < 2; pass++) {
      remove.length = 0;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          if (!img[y * width + x]) continue;
          // Neighbours P2..P9, clockwise from north.
          const p2 = at(x, y - 1), p3 = at(x + 1, y - 1), p4 = at(x + 1, y), p5 = at(x + 1, y + 1);
          const p6 = at(x, y + 1), p7 = at(x - 1, y + 1), p8 = at(x - 1, y), p9 = at(x - 1, y - 1);
          const b = p2 + p3 + p4 + p5 + p6 + p7 + p8 + p9;
          if (b < 2 || b > 6) continue;
          const ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2];
          let a = 0;
          for (let k = 0; k < 8; k++) if (ring[k] === 0 && ring[k + 1] === 1) a++;
          if (a !== 1) continue;
          if (pass === 0 ? p2 * p4 * p6 !== 0 || p4 * p6 * p8 !== 0 : p2 * p4 * p8 !== 0 || p2 * p6 * p8 !== 0) continue;
          remove.push(y * width + x);
        }
      }
      for (const i of remove) img[i] = 0;
      if (remove.length) changed = true;
    }
  }
  return img;
}

/**
 * The holes of a shape (w × h, non-zero = shape, taken as 8-connected): the 4-connected regions of background
 * that do not reach the picture's edge, counted if they have at least `minArea` pixels. A loop of a digit is a
 * hole; a stroke thickened across it, or thinned through it, takes one away.
 */
export function countHoles(mask: ArrayLike<number>, width: number, height: number, minArea = 1): number {
  const seen = new Uint8Array(width * height);
  const stack = new Int32Array(width * height);
  let holes = 0;
  for (let start = 0; start < seen.length; start++) {
    if (seen[start] || mask[start]) continue;
    let top = 0;
    let area = 0;
    let edge = false;
    stack[top++] = start;
    seen[start] = 1;
    while (top > 0) {
      const i = stack[--top]!;
      area++;
      const x = i % width;
      const y = (i - x) / width;
      if (x === 0 || y === 0 || x === width - 1 || y === height - 1) edge = true;
      for (const j of [x > 0 ? i - 1 : -1, x < width - 1 ? i + 1 : -1, y > 0 ? i - width : -1, y < height - 1 ? i + width : -1]) {
        if (j >= 0 && !seen[j] && !mask[j]) { seen[j] = 1; stack[top++] = j; }
      }
    }
    if (!edge && area >= minArea) holes++;
  }
  return holes;
}
