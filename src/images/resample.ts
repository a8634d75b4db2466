/**
 * Resizing of small one-channel 8-bit images in JavaScript, pixel for pixel
 * what sharp 0.35 (libvips 8.18) gives for `resize(w, h, { fit: 'fill', kernel:
 * 'lanczos3' })`, libvips' fixed-point arithmetic included:
 * - an axis that shrinks (vertical first, then horizontal) is box-averaged by
 *   floor(in / out / 2) (libvips' reduce "gap" of 2), then reduced by the rest
 *   of the factor with a Lanczos-3 mask (reduceh/reducev);
 * - then, if an axis grows, both axes are interpolated with Catmull-Rom cubics
 *   (libvips enlarges with an affine transform and its bicubic interpolator,
 *   reading output pixel X at input X · in / out − 0.5 on both axes);
 * - edges extend by copying.
 *
 * Why not sharp: preprocessing resizes the digit's crop twice (to 4× its fitted
 * size, then down to it), and a sharp call costs about a millisecond of CPU on a
 * picture this small (a libvips pipeline built, run on the thread pool and torn
 * down), many times the arithmetic. Why exact: the model's inputs, and so the
 * served accuracy, stay what they were. resample.test.ts compares with sharp.
 * If sharp's libvips changes its resampling, that test says so.
 */

/** The taps of each output sample along an axis: `count` input indices (clamped) and integer weights out of 4096 per sample. */
interface Taps {
  index: Int32Array;
  weight: Int32Array;
  count: number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

function clamp(i: number, length: number): number {
  return i < 0 ? 0 : i >= length ? length - 1 : i;
}

/** libvips' bicubic (Catmull-Rom) coefficients in 12-bit fixed point, for 1/64-pixel steps (its tables). */
const CUBIC_TABLE: Int32Array[] = Array.from({ length: 65 }, (_, step) => {
  const x = Math.fround(step / 64);
  // calculate_coefficients_catmull, as written there, then truncated to integers like the C cast.
  const cr1 = 1 - x;
  const cr2 = -0.5 * x;
  const cr3 = cr1 * cr2;
  const cone = cr1 * cr3;
  const cfou = x * cr3;
  const cr4 = cfou - cone;
  const ctwo = cr1 - cone + cr4;
  const cthr = x - cfou - cr4;
  return Int32Array.from([cone, ctwo, cthr, cfou], (c) => Math.trunc(c * 4096));
});

/**
 * Catmull-Rom taps for enlarging `length` samples to `out` (≥ length), in libvips' fixed point: the
 * position's fraction rounded to 1/64 pixel, integer weights out of 4096.
 */
function cubicTaps(length: number, out: number): Taps {
  const count = 4;
  const index = new Int32Array(out * count);
  const weight = new Int32Array(out * count);
  const scale = length / out;
  for (let x = 0; x < out; x++) {
    // libvips 8.18 enlarges with an affine transform whose input is displaced by half a pixel: X / scale − 0.5.
    const p = x * scale - 0.5;
    const i0 = Math.floor(p);
    const step = (Math.floor((p - i0) * 128) + 1) >> 1;
    const w = CUBIC_TABLE[step]!;
    for (let k = 0; k < count; k++) {
      index[x * count + k] = clamp(i0 - 1 + k, length);
      weight[x * count + k] = w[k]!;
    }
  }
  return { index, weight, count };
}

/**
 * One resampling pass along an axis in 12-bit fixed point: each output is the weighted sum of its taps plus
 * half, shifted right by 12 (libvips' unsigned_fixed_round: an arithmetic shift, so a floor), clipped to
 * [0, 255] when `clip` (libvips stores 8 bits; the first pass of its bicubic keeps the unclipped value).
 */
function pass(src: Int32Array, width: number, height: number, horizontal: boolean, taps: Taps, out: number, clip: boolean): Int32Array {
  const { index, weight, count } = taps;
  if (horizontal) {
    const dst = new Int32Array(out * height);
    for (let y = 0; y < height; y++) {
      const row = y * width;
      for (let o = 0; o < out; o++) {
        let sum = 2048;
        for (let k = o * count; k < (o + 1) * count; k++) sum += weight[k]! * src[row + index[k]!]!;
        const v = sum >> 12;
        dst[y * out + o] = clip ? (v < 0 ? 0 : v > 255 ? 255 : v) : v;
      }
    }
    return dst;
  }
  const dst = new Int32Array(width * out);
  const acc = new Int32Array(width);
  for (let o = 0; o < out; o++) {
    acc.fill(2048);
    for (let k = o * count; k < (o + 1) * count; k++) {
      const w = weight[k]!;
      const row = index[k]! * width;
      for (let x = 0; x < width; x++) acc[x]! += w * src[row + x]!;
    }
    for (let x = 0; x < width; x++) {
      const v = acc[x]! >> 12;
      dst[o * width + x] = clip ? (v < 0 ? 0 : v > 255 ? 255 : v) : v;
    }
  }
  return dst;
}

/** C's rint: to the nearest integer, halves to even. */
function rint(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * libvips' shrinkh/shrinkv with `ceil` (their vector path for 8-bit pixels): means of `factor` samples (the
 * edge extended by copying), half the factor added, divided by a 32-bit fixed-point multiply.
 */
function boxShrink(src: Int32Array, width: number, height: number, horizontal: boolean, factor: number): { data: Int32Array; length: number } {
  const length = horizontal ? width : height;
  const out = Math.ceil(length / factor);
  const ow = horizontal ? out : width;
  const oh = horizontal ? height : out;
  const dst = new Int32Array(ow * oh);
  const amend = factor >> 1;
  const multiplier = Math.floor(2 ** 32 / (256 * factor));
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = horizontal ? x : y;
      let sum = amend;
      for (let i = o * factor; i < (o + 1) * factor; i++) {
        const j = i < length ? i : length - 1;
        sum += horizontal ? src[y * width + j]! : src[j * width + x]!;
      }
      // (sum · multiplier) stays below 2^32: exact in a double, as in the uint32 multiply.
      dst[y * ow + x] = Math.floor((sum * multiplier) / 2 ** 24);
    }
  }
  return { data: dst, length: out };
}

/** Lanczos-3 masks by (points, factor): preprocessing resizes to the same few sizes again and again. */
const maskCache = new Map<string, Int32Array[]>();
const MASK_CACHE_SIZE = 64;

/** The masks for each 1/64 of a pixel, as libvips tabulates them (doubles, then truncated to shorts). */
function lanczosMasks(points: number, factor: number): Int32Array[] {
  const key = `${points}:${factor}`;
  let masks = maskCache.get(key);
  if (masks) return masks;
  masks = Array.from({ length: 65 }, (_, step) => {
    const half = step / 64 + points / 2 - 1;
    const c = new Float64Array(points);
    let sum = 0;
    for (let i = 0; i < points; i++) {
      const x = (i - half) / factor;
      c[i] = x >= -3 && x <= 3 ? sinc(x) * sinc(x / 3) : 0;
      sum += c[i]!;
    }
    return Int32Array.from(c, (v) => Math.trunc((v / sum) * 4096));
  });
  if (maskCache.size >= MASK_CACHE_SIZE) maskCache.delete(maskCache.keys().next().value!);
  maskCache.set(key, masks);
  return masks;
}

/**
 * Shrinks one axis from `length` samples to `out` as libvips' reduceh/reducev do for 8-bit pixels with
 * sharp's Lanczos-3 kernel and libvips' default gap of 2: a box shrink by floor(length / out / 2) first,
 * then the residual factor with a Lanczos-3 mask in 12-bit fixed point, the position rounded to 1/64 pixel.
 */
function reduceAxis(src: Int32Array, width: number, height: number, horizontal: boolean, out: number): Int32Array {
  let length = horizontal ? width : height;
  // sharp hands libvips a scale of 1 / (length / out); libvips inverts it back.
  const shrink = 1 / (1 / (length / out));
  let extra = out * shrink - length;
  let residual = shrink;
  let data = src;
  const gapShrink = Math.max(1, Math.floor(length / out / 2));
  if (gapShrink > 1) {
    const boxed = boxShrink(data, width, height, horizontal, gapShrink);
    data = boxed.data;
    length = boxed.length;
    if (horizontal) width = length;
    else height = length;
    residual /= gapShrink;
    extra /= gapShrink;
  }
  if (residual === 1) return data;
  const count = 2 * rint(3 * residual) + 1;
  const offset = (1 + extra) / 2 - 1;
  const embed = Math.ceil(count / 2) - 1;
  const masks = lanczosMasks(count, residual);
  const index = new Int32Array(out * count);
  const weight = new Int32Array(out * count);
  // libvips steps the position by adding the factor, output after output.
  let position = 0.5 * residual - 0.5 - offset;
  for (let o = 0; o < out; o++, position += residual) {
    const start = Math.trunc(position);
    const mask = masks[((Math.trunc(position * 128) & 127) + 1) >> 1]!;
    for (let i = 0; i < count; i++) {
      index[o * count + i] = clamp(start + i - embed, length);
      weight[o * count + i] = mask[i]!;
    }
  }
  return pass(data, width, height, horizontal, { index, weight, count }, out, true);
}

/** Resizes a one-channel 8-bit `width` × `height` image to `outWidth` × `outHeight` (see the module comment). */
export function resizeGrey(src: ArrayLike<number>, width: number, height: number, outWidth: number, outHeight: number): Uint8Array {
  if (src.length !== width * height) throw new RangeError(`resizeGrey: ${src.length} values for ${width}×${height}`);
  if (!(outWidth >= 1 && outHeight >= 1)) throw new RangeError(`resizeGrey: output ${outWidth}×${outHeight}`);
  let data: Int32Array = Int32Array.from(src);
  let w = width;
  let h = height;
  // Shrinking axes first (vertical, then horizontal), as libvips' resize does.
  if (outHeight < h) {
    data = reduceAxis(data, w, h, false, outHeight);
    h = outHeight;
  }
  if (outWidth < w) {
    data = reduceAxis(data, w, h, true, outWidth);
    w = outWidth;
  }
  // Then the growing ones, in one 2-D interpolation: its half-pixel displacement applies to both axes, so an
  // axis that keeps its size is interpolated too. Each of the 4 rows horizontally (rounded, not clipped), then
  // those 4 values vertically, as libvips does.
  if (outHeight > h || outWidth > w) {
    data = pass(data, w, h, true, cubicTaps(w, outWidth), outWidth, false);
    w = outWidth;
    data = pass(data, w, h, false, cubicTaps(h, outHeight), outHeight, true);
    h = outHeight;
  }
  return Uint8Array.from(data);
}
