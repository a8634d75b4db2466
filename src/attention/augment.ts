import type { Rng } from './rng.js';

/**
 * Training augmentation towards photographs (`--augment photo`): what the
 * service's preprocessing hands the model from a photo or scan differs from an
 * MNIST digit mostly in stroke width (pens, pencils, markers), in slant and size
 * (a hand-held page), and in softness (focus, JPEG, resampling). Each digit drawn
 * for training gets a random amount of each, on its 28×28 grid (cheap next to a
 * training step). Hand-written: the transforms are the product's own data
 * pipeline, on Float32Arrays too small for a library call to pay.
 */

export interface PhotoAugmentation {
  /** Largest rotation either way, degrees. */
  rotation: number;
  /** Scale range about the digit's centre of mass. */
  scale: [number, number];
  /** Stroke change range in pixels of the 28×28 grid (negative thins, positive thickens). */
  stroke: [number, number];
  /** Share of digits blurred, and the largest Gaussian sigma in pixels. */
  blurShare: number;
  blurSigma: number;
  /**
   * Elastic distortion (Simard, Steinkraus & Platt 2003): a random displacement field, uniform in [-1, 1] per
   * pixel, smoothed by a Gaussian of `sigma` px and scaled by `alpha` px. Absent: none.
   */
  elastic?: { alpha: number; sigma: number };
}

export const PHOTO_AUGMENTATION: PhotoAugmentation = { rotation: 12, scale: [0.85, 1.1], stroke: [-0.5, 1.5], blurShare: 0.35, blurSigma: 0.8 };

/**
 * Handwriting variation rather than pen and camera (`--augment elastic`): Simard et al.'s elastic distortion
 * (α 34, σ 4 on MNIST's grid) after a small rotation and scale; stroke width and focus are left as drawn.
 */
export const ELASTIC_AUGMENTATION: PhotoAugmentation = { rotation: 10, scale: [0.9, 1.1], stroke: [0, 0], blurShare: 0, blurSigma: 0.8, elastic: { alpha: 34, sigma: 4 } };

/** The trainer's `--augment` choices (besides `none`). */
export const AUGMENTATIONS = { photo: PHOTO_AUGMENTATION, elastic: ELASTIC_AUGMENTATION } as const satisfies Record<string, PhotoAugmentation>;
export type AugmentationName = keyof typeof AUGMENTATIONS;
export const augmentationNames = Object.keys(AUGMENTATIONS) as AugmentationName[];

/**
 * 3×3 max (grow = true) or min filter: one pixel of dilation or erosion of white ink.
 * Separable (a 3×1 then a 1×3 pass give the same result as the 3×3 window); outside the
 * grid is background (0), so erosion at the edge eats ink, as it should.
 */
function morph(src: Float32Array, side: number, grow: boolean): Float32Array {
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  const last = side - 1;
  for (let y = 0; y < side; y++) {
    const row = y * side;
    for (let x = 0; x < side; x++) {
      const c = src[row + x]!;
      const l = x > 0 ? src[row + x - 1]! : 0;
      const r = x < last ? src[row + x + 1]! : 0;
      tmp[row + x] = grow ? (c > l ? (c > r ? c : r) : l > r ? l : r) : (c < l ? (c < r ? c : r) : l < r ? l : r);
    }
  }
  for (let y = 0; y < side; y++) {
    const row = y * side;
    for (let x = 0; x < side; x++) {
      const c = tmp[row + x]!;
      const u = y > 0 ? tmp[row - side + x]! : 0;
      const d = y < last ? tmp[row + side + x]! : 0;
      out[row + x] = grow ? (c > u ? (c > d ? c : d) : u > d ? u : d) : (c < u ? (c < d ? c : d) : u < d ? u : d);
    }
  }
  return out;
}

/** Stroke change by `amount` px: whole pixels of dilation/erosion, the fraction blended in. */
function changeStroke(src: Float32Array, side: number, amount: number): Float32Array {
  const grow = amount > 0;
  let steps = Math.abs(amount);
  let current = src;
  while (steps > 0) {
    const next = morph(current, side, grow);
    const t = Math.min(1, steps);
    if (t < 1) for (let i = 0; i < next.length; i++) next[i] = current[i]! + t * (next[i]! - current[i]!);
    current = next;
    steps -= t;
  }
  return current;
}

/** Rotation by `degrees` and scaling by `scale` about the centre of mass, bilinear, zero outside. */
function rotateScale(src: Float32Array, side: number, degrees: number, scale: number): Float32Array {
  let mass = 0, cx = 0, cy = 0;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const v = src[y * side + x]!;
      mass += v;
      cx += v * x;
      cy += v * y;
    }
  }
  if (mass === 0) return src;
  cx /= mass;
  cy /= mass;
  const a = (degrees * Math.PI) / 180;
  const cos = Math.cos(a) / scale;
  const sin = Math.sin(a) / scale;
  const out = new Float32Array(src.length);
  for (let y = 0; y < side; y++) {
    const dy = y - cy;
    // Inverse map: where in the source each output pixel comes from (bilinear, zero outside).
    let sx = cx - cos * cx + sin * dy;
    let sy = cy + sin * cx + cos * dy;
    for (let x = 0; x < side; x++, sx += cos, sy -= sin) out[y * side + x] = bilinear(src, side, sx, sy);
  }
  return out;
}

/** Bilinear sample of src at (sx, sy), zero outside the grid. */
function bilinear(src: Float32Array, side: number, sx: number, sy: number): number {
  const max = side - 1;
  const x0 = Math.floor(sx);
  const y0 = Math.floor(sy);
  if (x0 < -1 || y0 < -1 || x0 > max || y0 > max) return 0;
  const tx = sx - x0;
  const ty = sy - y0;
  const inX0 = x0 >= 0, inX1 = x0 < max, inY0 = y0 >= 0, inY1 = y0 < max;
  const i = y0 * side + x0;
  const a = inY0 && inX0 ? src[i]! : 0;
  const b = inY0 && inX1 ? src[i + 1]! : 0;
  const c = inY1 && inX0 ? src[i + side]! : 0;
  const d = inY1 && inX1 ? src[i + side + 1]! : 0;
  return (1 - ty) * ((1 - tx) * a + tx * b) + ty * ((1 - tx) * c + tx * d);
}

/** Separable Gaussian smoothing with a kernel of `r` taps either side, zero outside (blur and displacement fields). */
function smooth(field: Float32Array, side: number, sigma: number, r: number): Float32Array {
  const w = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let d = -r; d <= r; d++) sum += w[d + r] = Math.exp(-(d * d) / (2 * sigma * sigma));
  for (let k = 0; k < w.length; k++) w[k]! /= sum;
  const tmp = new Float32Array(field.length);
  const out = new Float32Array(field.length);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      let v = 0;
      for (let d = Math.max(-r, -x); d <= Math.min(r, side - 1 - x); d++) v += w[d + r]! * field[y * side + x + d]!;
      tmp[y * side + x] = v;
    }
  }
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      let v = 0;
      for (let d = Math.max(-r, -y); d <= Math.min(r, side - 1 - y); d++) v += w[d + r]! * tmp[(y + d) * side + x]!;
      out[y * side + x] = v;
    }
  }
  return out;
}

/** Elastic distortion: each output pixel reads the input at its own place plus a smooth random displacement. */
export function elasticDistort(src: Float32Array, side: number, rng: Rng, alpha: number, sigma: number): Float32Array {
  const n = side * side;
  const rawX = new Float32Array(n);
  const rawY = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    rawX[i] = rng.uniform(-1, 1);
    rawY[i] = rng.uniform(-1, 1);
  }
  const radius = Math.ceil(3 * sigma);
  const dx = smooth(rawX, side, sigma, radius);
  const dy = smooth(rawY, side, sigma, radius);
  const out = new Float32Array(n);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const i = y * side + x;
      out[i] = bilinear(src, side, x + alpha * dx[i]!, y + alpha * dy[i]!);
    }
  }
  return out;
}

/** Separable Gaussian blur with a 5-tap kernel, zero outside. */
function blur(src: Float32Array, side: number, sigma: number): Float32Array {
  return smooth(src, side, sigma, 2);
}

/**
 * One photograph-like variant of a side × side digit (values in [0, 1], white on black),
 * renormalised so its brightest pixel is as bright as the original's (the service's
 * preprocessing stretches every upload's ink to full strength the same way).
 */
export function augmentDigit(src: Float32Array, side: number, rng: Rng, a: PhotoAugmentation = PHOTO_AUGMENTATION): Float32Array {
  let peak = 0;
  for (let i = 0; i < src.length; i++) if (src[i]! > peak) peak = src[i]!;
  let out = changeStroke(src, side, rng.uniform(a.stroke[0], a.stroke[1]));
  out = rotateScale(out, side, rng.uniform(-a.rotation, a.rotation), rng.uniform(a.scale[0], a.scale[1]));
  if (a.elastic) out = elasticDistort(out, side, rng, a.elastic.alpha, a.elastic.sigma);
  if (rng.next() < a.blurShare) out = blur(out, side, rng.uniform(0.3, a.blurSigma));
  let now = 0;
  for (let i = 0; i < out.length; i++) if (out[i]! > now) now = out[i]!;
  if (now > 0 && peak > 0) {
    const gain = peak / now;
    for (let i = 0; i < out.length; i++) out[i] = Math.min(1, out[i]! * gain);
  }
  return out;
}
