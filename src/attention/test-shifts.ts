/**
 * Test-time shifts: a picture read at its own position and moved by one pixel (zero fill), the class
 * probabilities averaged over the copies (models/README.md rule 28). Written here because it is a few lines of
 * index arithmetic on the model's own input layout (row-major side×side greys), which no library offers.
 */
import { argMax } from './arg-max.js';
import type { Classification } from './types.js';

/** The offsets (dx, dy) of each shift count `eval:ram`/`eval:photos --shifts` accept: 1 is the picture alone. */
export const SHIFT_OFFSETS: Readonly<Record<number, readonly (readonly [number, number])[]>> = {
  1: [[0, 0]],
  5: [[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]],
  9: [[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1], [-1, -1], [1, -1], [-1, 1], [1, 1]],
};

/** The offsets of `count` shifts, or a RangeError naming the counts there are. */
export function shiftOffsets(count: number): readonly (readonly [number, number])[] {
  const offsets = SHIFT_OFFSETS[count];
  if (!offsets) throw new RangeError(`shifts must be one of ${Object.keys(SHIFT_OFFSETS).join(', ')}, not ${count}`);
  return offsets;
}

/** `pixels` (side×side, row-major) moved by dx columns right and dy rows down; what moves in is 0 (background). */
export function shiftPixels(pixels: Float32Array, side: number, dx: number, dy: number): Float32Array {
  if (pixels.length !== side * side) throw new RangeError(`shiftPixels: expected ${side * side} pixels, got ${pixels.length}`);
  const out = new Float32Array(side * side);
  for (let y = Math.max(0, dy); y < Math.min(side, side + dy); y++) {
    for (let x = Math.max(0, dx); x < Math.min(side, side + dx); x++) out[y * side + x] = pixels[(y - dy) * side + (x - dx)]!;
  }
  return out;
}

/** The picture (side×side) at each of `shifts` positions, in shiftOffsets' order: the picture itself first. */
export function shiftedCopies(pixels: Float32Array, side: number, shifts: number): Float32Array[] {
  return shiftOffsets(shifts).map(([dx, dy]) => shiftPixels(pixels, side, dx, dy));
}

/**
 * `count` images of side×side laid one after another in `pixels`, each replaced by its shifted copies in
 * consecutive rows: image i's copy j sits at row i·shifts + j, so a [count, shifts, classes] reshape of the
 * probabilities averages each image's copies.
 */
export function shiftedBatch(pixels: Float32Array, count: number, side: number, shifts: number): Float32Array {
  const area = side * side;
  if (pixels.length !== count * area) throw new RangeError(`shiftedBatch: expected ${count * area} pixels, got ${pixels.length}`);
  const out = new Float32Array(count * shiftOffsets(shifts).length * area);
  for (let i = 0; i < count; i++) {
    shiftedCopies(pixels.subarray(i * area, (i + 1) * area), side, shifts).forEach((copy, j) => out.set(copy, (i * shifts + j) * area));
  }
  return out;
}

/**
 * One reading of a picture from the readings of its shifted copies (in shiftOffsets' order, the picture itself
 * first): the mean of their probabilities, its most probable class, and the glimpses taken on the picture itself.
 */
export function meanReading(readings: readonly Classification[]): Classification {
  const first = readings[0];
  if (!first) throw new RangeError('meanReading of no readings');
  const probabilities = first.probabilities.map((_, k) => readings.reduce((sum, r) => sum + r.probabilities[k]!, 0) / readings.length);
  return { probabilities, predicted: argMax(probabilities), glimpses: first.glimpses };
}
