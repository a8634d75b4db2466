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

/** The 4 taps of each output sample along an axis: input indices (clamped) and integer weights out of 4096. */
interface Taps {
  index: Int32Array;
  weight: Int32Array;
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
  return { index, weight };
}

/** Fixed-point rounding of a sum of 4096ths, as libvips' unsigned_fixed_round (an arithmetic shift: floor). */
function fixedRound(v: number): number {
  return Math.floor((v + 2048) / 4096);
}

/** Enlarges along one axis with `taps` in fixed point; `last`: the second pass, clipped to [0, 255]. */
function applyCubic(src: Float64Array, width: number, height: number, horizontal: boolean, taps: Taps, out: number, last: boolean): Float64Array {
  const ow = horizontal ? out : width;
  const oh = horizontal ? height : out;
  const dst = new Float64Array(ow * oh);
  const { index, weight } = taps;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = (horizontal ? x : y) * 4;
      let v = 0;
      if (horizontal) {
        const row = y * width;
        for (let k = 0; k < 4; k++) v += weight[o + k]! * src[row + index[o + k]!]!;
      } else {
        for (let k = 0; k < 4; k++) v += weight[o + k]! * src[index[o + k]! * width + x]!;
      }
      const r = fixedRound(v);
      dst[y * ow + x] = last ? (r < 0 ? 0 : r > 255 ? 255 : r) : r;
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
function boxShrink(src: Float64Array, width: number, height: number, horizontal: boolean, factor: number): { data: Float64Array; length: number } {
  const length = horizontal ? width : height;
  const out = Math.ceil(length / factor);
  const ow = horizontal ? out : width;
  const oh = horizontal ? height : out;
  const dst = new Float64Array(ow * oh);
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

/**
 * Shrinks one axis from `length` samples to `out` as libvips' reduceh/reducev do for 8-bit pixels with
 * sharp's Lanczos-3 kernel and libvips' default gap of 2: a box shrink by floor(length / out / 2) first,
 * then the residual factor with a Lanczos-3 mask in 12-bit fixed point, the position rounded to 1/64 pixel.
 */
function reduceAxis(src: Float64Array, width: number, height: number, horizontal: boolean, out: number): Float64Array {
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
  const points = 2 * rint(3 * residual) + 1;
  const offset = (1 + extra) / 2 - 1;
  const embed = Math.ceil(points / 2) - 1;
  // The masks for each 1/64 of a pixel, as libvips tabulates them (doubles, then truncated to shorts).
  const masks = Array.from({ length: 65 }, (_, step) => {
    const half = step / 64 + points / 2 - 1;
    const c = new Float64Array(points);
    let sum = 0;
    for (let i = 0; i < points; i++) {
      const x = (i - half) / residual;
      c[i] = x >= -3 && x <= 3 ? sinc(x) * sinc(x / 3) : 0;
      sum += c[i]!;
    }
    return Int32Array.from(c, (v) => Math.trunc((v / sum) * 4096));
  });
  const ow = horizontal ? out : width;
  const oh = horizontal ? height : out;
  const dst = new Float64Array(ow * oh);
  const index = new Int32Array(points);
  let position = 0.5 * residual - 0.5 - offset;
  for (let o = 0; o < out; o++, position += residual) {
    const start = Math.trunc(position);
    const mask = masks[((Math.trunc(position * 128) & 127) + 1) >> 1]!;
    for (let i = 0; i < points; i++) index[i] = clamp(start + i - embed, length);
    const lines = horizontal ? height : width;
    for (let line = 0; line < lines; line++) {
      let sum = 2048;
      if (horizontal) {
        for (let i = 0; i < points; i++) sum += mask[i]! * data[line * width + index[i]!]!;
        dst[line * ow + o] = clamp(sum >> 12, 256);
      } else {
        for (let i = 0; i < points; i++) sum += mask[i]! * data[index[i]! * width + line]!;
        dst[o * ow + line] = clamp(sum >> 12, 256);
      }
    }
  }
  return dst;
}

/** Resizes a one-channel 8-bit `width` × `height` image to `outWidth` × `outHeight` (see the module comment). */
export function resizeGrey(src: ArrayLike<number>, width: number, height: number, outWidth: number, outHeight: number): Uint8Array {
  if (src.length !== width * height) throw new RangeError(`resizeGrey: ${src.length} values for ${width}×${height}`);
  if (!(outWidth >= 1 && outHeight >= 1)) throw new RangeError(`resizeGrey: output ${outWidth}×${outHeight}`);
  let data: Float64Array = Float64Array.from(src);
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
    data = applyCubic(data, w, h, true, cubicTaps(w, outWidth), outWidth, false);
    w = outWidth;
    data = applyCubic(data, w, h, false, cubicTaps(h, outHeight), outHeight, true);
    h = outHeight;
  }
  const out = new Uint8Array(w * h);
  for (let i = 0; i < out.length; i++) out[i] = data[i]!;
  return out;
}
