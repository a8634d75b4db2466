import * as tf from '@tensorflow/tfjs';
import { Dense } from './dense.js';
import type { Parameters } from './parameters.js';

/** The optional convolutional "what" pathway (RamConfig.glimpseConv, resolved by ram-config.ts). */
export interface GlimpseConvConfig {
  /** Output channels of the two 3×3 convolutions, [C1, C2]. */
  channels: [number, number];
  /**
   * Stride of the second convolution (1 or 2; left out when 1). At 2 a larger patch costs what a small one does:
   * a 12×12 patch → 10×10×C1 → 4×4×C2, as many features as an 8×8 patch at stride 1.
   */
  stride?: number;
}

export interface ConvGlimpseSpec {
  patchSize: number;
  scales: number;
  channels: readonly [number, number];
  /** Stride of the second convolution; 1 when absent. */
  stride?: number;
}

/** Output side of a 3×3 'valid' convolution of a side × side input at `stride`. */
export function convOutputSide(side: number, stride = 1): number {
  return Math.floor((side - 3) / stride) + 1;
}

/** Parameter names of the pathway's two convolutions (each `.weight` [9·C_in, C_out] and `.bias` [C_out]). */
export const CONV_NAMES = { conv1: 'glimpse.conv1', conv2: 'glimpse.conv2' } as const;

/**
 * Sides of the patch before and after each 3×3 'valid' convolution: g, g − 2, and g − 4 at the second one's stride
 * 1 (⌊(g − 5) / s⌋ + 1 at stride s).
 */
export function convSides(patchSize: number, stride = 1): [number, number, number] {
  return [patchSize, patchSize - 2, convOutputSide(patchSize - 2, stride)];
}

/** Values per image the pathway hands to glimpse.what: scales · side2² · C2 (side2 = g − 4 at stride 1). */
export function convFeatureSize(spec: ConvGlimpseSpec): number {
  return spec.scales * convSides(spec.patchSize, spec.stride)[2] ** 2 * spec.channels[1];
}

/**
 * For a 3×3 'valid' convolution of a side × side patch at `stride`: entry (p·9 + k) is the input position
 * (row-major in the patch) that output position p = (i, j) reads at offset k = (dy, dx), i.e.
 * (i·stride + dy)·side + (j·stride + dx).
 */
function offsets3x3(side: number, stride: number): Int32Array {
  const out = convOutputSide(side, stride);
  const index = new Int32Array(out * out * 9);
  for (let i = 0; i < out; i++) {
    for (let j = 0; j < out; j++) {
      for (let dy = 0; dy < 3; dy++) {
        for (let dx = 0; dx < 3; dx++) index[(i * out + j) * 9 + dy * 3 + dx] = (i * stride + dy) * side + j * stride + dx;
      }
    }
  }
  return index;
}

/**
 * im2col of a 3×3 'valid' convolution, in plain numbers: `values` holds `patches` patches of side × side positions
 * (row-major) × `channels` values each, i.e. a [patches·side², channels] matrix with rows (patch, i, j). Returns the
 * [patches·out², 9·channels] matrix (out = side − 2 at stride 1, convOutputSide) whose row (patch, i, j) is the 3×3
 * window at output position (i, j), its columns ordered (dy, dx, channel): the convolution is then one plain matMul
 * by a [9·channels, C_out] weight. The retina [B, scales·g²] (glimpseSensorPixels' layout: per image, each scale's
 * g×g patch row-major) is such a matrix with B·scales patches and one channel.
 */
export function im2col3x3(values: Float32Array, patches: number, side: number, channels: number, stride = 1): Float32Array {
  const inSize = side * side * channels;
  if (values.length !== patches * inSize) throw new RangeError(`im2col3x3: expected ${patches}×${side}²×${channels} values, got ${values.length}`);
  const out = convOutputSide(side, stride);
  // Each window row (dy) is 3·channels consecutive input values.
  const run = 3 * channels;
  const columns = new Float32Array(patches * out * out * 3 * run);
  let at = 0;
  for (let n = 0; n < patches; n++) {
    const base = n * inSize;
    for (let i = 0; i < out; i++) {
      for (let j = 0; j < out; j++) {
        for (let dy = 0; dy < 3; dy++) {
          const from = base + ((i * stride + dy) * side + j * stride) * channels;
          for (let e = 0; e < run; e++) columns[at + e] = values[from + e]!;
          at += run;
        }
      }
    }
  }
  return columns;
}

/**
 * im2col3x3's matrix transposed, [9·channels, rows], written into the first 9·channels rows of `out` (a matrix of
 * `totalRows` columns) from column `rowOffset` on: a backward pass stacks several im2col matrices' transposes this
 * way with no transpose kernel (which on wasm costs more than the gradient matMul that reads it).
 */
export function im2col3x3Transposed(values: Float32Array, patches: number, side: number, channels: number, out: Float32Array, rowOffset: number, totalRows: number, stride = 1): void {
  const inSize = side * side * channels;
  if (values.length !== patches * inSize) throw new RangeError(`im2col3x3Transposed: expected ${patches}×${side}²×${channels} values, got ${values.length}`);
  const size = convOutputSide(side, stride);
  const step = stride * channels;
  if (out.length < 9 * channels * totalRows || rowOffset + patches * size * size > totalRows) throw new RangeError('im2col3x3Transposed: the output does not fit');
  for (let dy = 0; dy < 3; dy++) {
    for (let dx = 0; dx < 3; dx++) {
      for (let c = 0; c < channels; c++) {
        let at = ((dy * 3 + dx) * channels + c) * totalRows + rowOffset;
        for (let n = 0; n < patches; n++) {
          const base = n * inSize + c;
          for (let i = 0; i < size; i++) {
            let from = base + ((i * stride + dy) * side + dx) * channels;
            for (let j = 0; j < size; j++, from += step) out[at++] = values[from]!;
          }
        }
      }
    }
  }
}

/**
 * The adjoint of im2col3x3 on tensors (col2im): the gradient at the [patches·side², channels] input from the
 * gradient at its [patches·out², 9·channels] columns, each column block scatter-added back to the
 * position it was read from (a position is read by up to 9 windows; at stride 2 some by none, which get 0). One
 * ScatterNd kernel, which sums duplicate indices: measured on wasm faster than pad/slice/add over the 9 offsets, a
 * gather + sum, or Conv2DBackpropInput.
 */
export function col2im3x3(columns: tf.Tensor2D, patches: number, side: number, channels: number, stride = 1): tf.Tensor2D {
  const index = offsets3x3(side, stride);
  const inPositions = side * side;
  const target = new Int32Array(patches * index.length);
  for (let n = 0, at = 0; n < patches; n++) {
    const base = n * inPositions;
    for (let e = 0; e < index.length; e++) target[at++] = base + index[e]!;
  }
  return tf.tidy(() => {
    const updates = tf.reshape(columns, [patches * index.length, channels]);
    return tf.scatterND(tf.tensor2d(target, [target.length, 1], 'int32'), updates, [patches * inPositions, channels]) as tf.Tensor2D;
  });
}

/**
 * im2col3x3 as a tensor op the tape can differentiate: the forward in plain numbers (the values are read back,
 * as everything is synchronous on the wasm backend anyway), the gradient col2im3x3. tf.gather would need no
 * read-back but is ~10× slower on wasm here, and its gradient (UnsortedSegmentSum) has no wasm kernel.
 */
function im2colOp(x: tf.Tensor2D, patches: number, side: number, channels: number, stride = 1): tf.Tensor2D {
  const out = convOutputSide(side, stride);
  const op = tf.customGrad(((input: tf.Tensor2D) => ({
    value: tf.tensor2d(im2col3x3(input.dataSync() as Float32Array, patches, side, channels, stride), [patches * out * out, 9 * channels]),
    gradFunc: (dy: tf.Tensor2D) => col2im3x3(dy, patches, side, channels, stride),
  })) as unknown as Parameters_<typeof tf.customGrad>[0]) as unknown as (input: tf.Tensor2D) => tf.Tensor2D;
  return op(x);
}
type Parameters_<F> = F extends (...args: infer A) => unknown ? A : never;

/**
 * The convolutional "what" pathway: each scale's g×g patch through two 3×3 'valid' convolutions with ReLU
 * (g×g×1 → (g−2)²×C1 → (g−4)²×C2 at the second one's stride 1, or ⌊(g−5)/2⌋+1 per side at stride 2), weights shared across scales and glimpses, flattened per image in the order
 * (scale, position, channel). Each convolution is im2col followed by one Dense (a fused matMul + bias + ReLU with
 * rows batch·scales·positions), so the weights are `glimpse.conv1.weight` [9, C1] and `glimpse.conv2.weight`
 * [9·C1, C2], rows ordered (dy, dx, input channel), He-initialised as Dense does (fan-in 9·C_in).
 */
export class ConvGlimpse {
  readonly conv1: Dense;
  readonly conv2: Dense;
  /** Values per image of the output, scales · side2² · C2 (side2 = g − 4 at stride 1). */
  readonly outputs: number;

  constructor(
    params: Parameters,
    readonly spec: ConvGlimpseSpec,
  ) {
    const [c1, c2] = spec.channels;
    this.conv1 = new Dense(params, CONV_NAMES.conv1, 9, c1, 'relu');
    this.conv2 = new Dense(params, CONV_NAMES.conv2, 9 * c1, c2, 'relu');
    this.outputs = convFeatureSize(spec);
  }

  /** [B, scales·g²] retina → [B, scales·side2²·C2] features. */
  apply(retina: tf.Tensor2D): tf.Tensor2D {
    const { patchSize, scales, channels } = this.spec;
    const { stride } = this.spec;
    const [side0, side1] = convSides(patchSize, stride);
    const batch = retina.shape[0];
    const patches = batch * scales;
    const a1 = this.conv1.apply(im2colOp(tf.reshape(retina, [patches * side0 * side0, 1]), patches, side0, 1));
    const a2 = this.conv2.apply(im2colOp(a1, patches, side1, channels[0], stride));
    return tf.reshape(a2, [batch, this.outputs]);
  }
}
