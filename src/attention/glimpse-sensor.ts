import * as tf from '@tensorflow/tfjs';

export interface SensorSpec {
  /** Side g of every patch after resizing. */
  patchSize: number;
  /** Number k of patches; patch i covers g·2^i input pixels. */
  scales: number;
}

/** Patch sides in input pixels: g, 2g, 4g, … */
export function patchSizes(spec: SensorSpec): number[] {
  return Array.from({ length: spec.scales }, (_, i) => spec.patchSize * 2 ** i);
}

/**
 * The weight-free retina ρ(x, l): k square patches centred at l ∈ [-1,1]² (x, y;
 * (-1,-1) is the top-left corner of the image), the first g×g, each next twice as
 * wide, each reduced to g×g and concatenated → [B, k·g·g].
 *
 * One batched cropAndResize per scale (no per-sample loop). Each patch is first
 * sampled at input resolution (one sample per pixel, bilinear for sub-pixel
 * centres, 0 outside the image) and then average-pooled, so coarse scales are a
 * true area average rather than an aliased point sample. The cost depends on
 * g, k and the batch only, not on the input size.
 *
 * `locations` are plain numbers (x0, y0, x1, y1, …): the location never carries a
 * gradient (the paper's stop-gradient at the sampled location), and building the
 * boxes in JS saves a dozen tiny kernels per glimpse.
 */
export function glimpseSensor(images: tf.Tensor4D, locations: ArrayLike<number>, spec: SensorSpec): tf.Tensor2D {
  const [batch, height, width] = images.shape;
  if (locations.length !== batch * 2) throw new RangeError(`glimpseSensor: ${batch} images but ${locations.length / 2} locations`);
  return tf.tidy(() => {
    const boxIndices = tf.range(0, batch, 1, 'int32') as tf.Tensor1D;
    const patches: tf.Tensor2D[] = [];
    for (const side of patchSizes(spec)) {
      const half = (side - 1) / 2;
      const boxes = new Float32Array(batch * 4);
      for (let i = 0; i < batch; i++) {
        // Centre in pixel-centre coordinates (pixel j has its centre at j);
        // cropAndResize maps normalised u to pixel u·(size−1).
        const cx = ((locations[2 * i]! + 1) * width) / 2 - 0.5;
        const cy = ((locations[2 * i + 1]! + 1) * height) / 2 - 0.5;
        boxes[4 * i] = (cy - half) / Math.max(height - 1, 1);
        boxes[4 * i + 1] = (cx - half) / Math.max(width - 1, 1);
        boxes[4 * i + 2] = (cy + half) / Math.max(height - 1, 1);
        boxes[4 * i + 3] = (cx + half) / Math.max(width - 1, 1);
      }
      let crop: tf.Tensor4D = tf.image.cropAndResize(images, tf.tensor2d(boxes, [batch, 4]), boxIndices, [side, side], 'bilinear', 0);
      const factor = side / spec.patchSize;
      if (factor > 1) crop = tf.avgPool(crop, factor, factor, 'valid');
      patches.push(crop.reshape([batch, spec.patchSize * spec.patchSize]));
    }
    return patches.length === 1 ? patches[0]! : tf.concat(patches, 1);
  });
}

/**
 * One axis of a patch as weights over image rows (or columns): output cell i of `cells` is the
 * mean over its `factor` samples of the bilinear sample at `origin + s` (s = i·factor … (i+1)·factor − 1),
 * a sample outside [0, size − 1] counting as 0 — cropAndResize's rule (whole sample zero, no clamping),
 * with its float32 arithmetic for the sample position. Weights of cell i start at image index
 * starts[i] and run over `span` = factor + 1 indices, in `weights[i·span …]`.
 */
function axisWeights(lo: number, hi: number, size: number, side: number, factor: number, cells: number, into: AxisWeights): AxisWeights {
  const span = factor + 1;
  if (into.starts.length < cells) into.starts = new Int32Array(cells);
  if (into.valid.length < cells) into.valid = new Uint8Array(cells);
  if (into.weights.length < cells * span) into.weights = new Float32Array(cells * span);
  const { starts, valid, weights } = into;
  valid.fill(0);
  weights.fill(0, 0, cells * span);
  let first = Infinity;
  let last = -Infinity;
  const f = Math.fround;
  // As CropAndResize computes it in float32: in = y1·(size − 1) + s·scale.
  const scale = side > 1 ? f(f(f(hi - lo) * (size - 1)) / (side - 1)) : 0;
  const base = f(lo * (size - 1));
  for (let i = 0; i < cells; i++) {
    let start = -Infinity;
    for (let k = 0; k < factor; k++) {
      const s = i * factor + k;
      const at = side > 1 ? f(base + f(s * scale)) : f(0.5 * f(lo + hi) * (size - 1));
      if (at < 0 || at > size - 1) continue;
      const top = Math.floor(at);
      const lerp = at - top;
      if (start === -Infinity) start = top - k; // samples are one pixel apart: index top − k is this cell's first
      const offset = top - start;
      // Clamp into the span (a rounding of `at` can shift the index by one at most).
      const o = Math.min(span - 1, Math.max(0, offset));
      weights[i * span + o]! += (1 - lerp) / factor;
      if (lerp > 0) weights[i * span + Math.min(span - 1, o + 1)]! += lerp / factor;
    }
    if (start === -Infinity) continue;
    starts[i] = start;
    valid[i] = 1;
    first = Math.min(first, start);
    last = Math.max(last, start + span - 1);
  }
  into.span = span;
  into.first = first;
  into.last = last;
  return into;
}

const emptyAxis = (): AxisWeights => ({ starts: new Int32Array(0), weights: new Float32Array(0), span: 0, valid: new Uint8Array(0), first: 0, last: -1 });

interface AxisWeights {
  /** First image index of each cell's weights (valid cells only). */
  starts: Int32Array;
  weights: Float32Array;
  span: number;
  /** 1 when any sample of the cell falls inside the image. */
  valid: Uint8Array;
  /** The image indices any valid cell reads (first > last when none). */
  first: number;
  last: number;
}

/**
 * glimpseSensor on plain pixels (row-major [B, height, width]) with plain-number output
 * [B, k·g·g]: the same values up to float rounding (glimpse-sensor.test.ts compares them),
 * for training, where the batch is a Float32Array anyway. Each patch is separable —
 * (rows' weights) · image · (columns' weights)ᵀ with at most factor + 1 image pixels per
 * output cell and axis — so it costs ~2,500 multiply-adds per image and glimpse at 3×8²,
 * cheaper in JS than three CropAndResize + AvgPool kernels on wasm (measured in
 * bench/ram-training.ts). Inference keeps glimpseSensor: its input is a tensor.
 */
export function glimpseSensorPixels(pixels: Float32Array, batch: number, height: number, width: number, locations: ArrayLike<number>, spec: SensorSpec): Float32Array {
  if (pixels.length !== batch * height * width) throw new RangeError(`glimpseSensorPixels: expected ${batch}×${height}×${width} pixels, got ${pixels.length}`);
  if (locations.length !== batch * 2) throw new RangeError(`glimpseSensorPixels: ${batch} images but ${locations.length / 2} locations`);
  const g = spec.patchSize;
  const cellsPerPatch = g * g;
  const out = new Float32Array(batch * spec.scales * cellsPerPatch);
  const f = Math.fround;
  let tmp = new Float32Array(0);
  const rowScratch = emptyAxis();
  const colScratch = emptyAxis();
  const sides = patchSizes(spec);
  for (let n = 0; n < batch; n++) {
    const image = n * height * width;
    const cx = ((locations[2 * n]! + 1) * width) / 2 - 0.5;
    const cy = ((locations[2 * n + 1]! + 1) * height) / 2 - 0.5;
    for (let scale = 0; scale < sides.length; scale++) {
      const side = sides[scale]!;
      const half = (side - 1) / 2;
      const factor = side / g;
      // The normalised box as glimpseSensor stores it (float32).
      const rows = axisWeights(f((cy - half) / Math.max(height - 1, 1)), f((cy + half) / Math.max(height - 1, 1)), height, side, factor, g, rowScratch);
      const cols = axisWeights(f((cx - half) / Math.max(width - 1, 1)), f((cx + half) / Math.max(width - 1, 1)), width, side, factor, g, colScratch);
      const span = rows.span;
      const target = n * spec.scales * cellsPerPatch + scale * cellsPerPatch;
      if (rows.first > rows.last || cols.first > cols.last) continue; // the patch lies wholly outside: zeros
      // Horizontal pass: for every image row a valid patch row reads, the g column cells.
      const rowCount = rows.last - rows.first + 1;
      if (tmp.length < rowCount * g) tmp = new Float32Array(rowCount * g);
      for (let r = 0; r < rowCount; r++) {
        const y = rows.first + r;
        const row = image + y * width;
        const inside = y >= 0 && y < height; // rows outside carry zero weight (see axisWeights)
        for (let j = 0; j < g; j++) {
          let v = 0;
          if (inside && cols.valid[j]) {
            const start = cols.starts[j]!;
            for (let k = 0; k < span; k++) {
              const w = cols.weights[j * span + k]!;
              if (w !== 0) v += w * pixels[row + start + k]!;
            }
          }
          tmp[r * g + j] = v;
        }
      }
      // Vertical pass.
      for (let i = 0; i < g; i++) {
        if (!rows.valid[i]) continue;
        const start = rows.starts[i]! - rows.first;
        for (let j = 0; j < g; j++) {
          let v = 0;
          for (let k = 0; k < span; k++) {
            const w = rows.weights[i * span + k]!;
            if (w !== 0) v += w * tmp[(start + k) * g + j]!;
          }
          out[target + i * g + j] = v;
        }
      }
    }
  }
  return out;
}
