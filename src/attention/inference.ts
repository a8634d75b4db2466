import * as tf from '@tensorflow/tfjs';
import { argMax } from './arg-max.js';
import { CONV_NAMES, convSides, im2col3x3 } from './conv-glimpse.js';
import { lstmCell } from './core-network.js';
import { patchSizes } from './glimpse-sensor.js';
import { drawLocations, locationMean } from './location-network.js';
import type { RamNetwork } from './ram-network.js';
import type { Rng } from './rng.js';
import type { Classification } from './types.js';

/**
 * Deterministic classification (the location means, as RamNetwork.unroll in 'mean' mode) with far fewer
 * TensorFlow.js kernels per glimpse: the serving path of the image workers.
 *
 * On the wasm backend a kernel launch costs tens of microseconds whatever its size, and the training-shaped
 * unroll launches about 25 per glimpse (a crop-and-resize, pool and reshape per scale, the boxes, a concat per
 * Dense, the detach, the location head, the gradient wrappers). Here, per glimpse:
 * - the retina is sampled in JavaScript (a few thousand bilinear samples, exactly the arithmetic of the wasm
 *   CropAndResize kernel, float32 step by step, then the average pooling);
 * - the glimpse network's "what" and "where" layers run as ONE fused matMul over [retina, location] with a
 *   block-diagonal weight [[W_what, 0], [0, W_where]], whose output is already their concatenation;
 * - the combine layer and the core are one fused matMul each (the core over concat([h, g]));
 * - h is read back once, and the location head (256 × 2) runs in JavaScript, as do the class logits after the
 *   last glimpse.
 * Five kernels and one read per glimpse instead of about 25. The matMuls stay on the backend: plain
 * JavaScript multiplies a 512 × 256 weight several times slower than wasm's SIMD kernels.
 *
 * The results equal the tfjs unroll's to float32 rounding (inference.test.ts: within 1e-5 on the shipped
 * models). Weights are re-read whenever a parameter changed (online learning, new weights from the learner):
 * tfjs gives an assigned variable a new dataId, checked on every call. Both cores are served: the LSTM's gates
 * are one fused matMul over concat([h, g]) and its cell update is LstmCore's own (lstmCell).
 *
 * Monte-Carlo rollouts (`?samples=N`, classifySampled) run as one batch of N copies of the image whose next
 * locations are drawn from the Gaussian policy, in the unroll's order of draws: with the same seed they are the
 * unroll's 'sample' mode, without its baseline and log-probability kernels (0.70 of its time for 10 rollouts of a
 * 60×60 canvas, bench:ram).
 *
 * With the convolutional glimpse pathway (config.glimpseConv), the retina first goes through its two 3×3
 * convolutions, each an im2col in JavaScript and one fused matMul, as in training; the block matMul then reads
 * [convolved retina, location]. Two more kernels and one more read per glimpse.
 */
export class RamInference {
  private readonly network: RamNetwork;
  private readonly sizes: number[];
  private readonly retinaSize: number;
  /** Rows of glimpse.what: the retina's values, or the convolutional pathway's. */
  private readonly whatInputs: number;
  private readonly names: string[];
  private seen: unknown[] = [];
  private block: tf.Tensor2D | undefined;
  private blockBias: tf.Tensor1D | undefined;

  /** The networks this path serves: an RNN or LSTM core, with or without the convolutional glimpse pathway. */
  static supports(network: RamNetwork): boolean {
    return network.config.core === 'rnn' || network.config.core === 'lstm';
  }

  constructor(network: RamNetwork) {
    if (!RamInference.supports(network)) throw new Error(`RamInference: core ${String(network.config.core)} is not supported (rnn or lstm)`);
    this.network = network;
    this.sizes = patchSizes(network.sensor);
    this.retinaSize = network.sensor.patchSize ** 2 * network.sensor.scales;
    // The convolutional pathway's output size, as the network built it.
    this.whatInputs = network.glimpse.conv?.outputs ?? this.retinaSize;
    this.names = ['glimpse.what', 'glimpse.where', 'glimpse.combine', 'location.mean', 'action.logits']
      .flatMap((n) => [`${n}.weight`, `${n}.bias`]);
  }

  private param(name: string): tf.Variable {
    return this.network.params.get(name);
  }

  /** Rebuilds the derived weights when a parameter has been assigned since the last call. */
  private refresh(): void {
    const ids = this.names.map((n) => this.param(n).dataId);
    if (this.block && ids.every((id, i) => id === this.seen[i])) return;
    this.seen = ids;
    this.block?.dispose();
    this.blockBias?.dispose();
    const c = this.network.config;
    const what = this.param('glimpse.what.weight').dataSync() as Float32Array;
    const where = this.param('glimpse.where.weight').dataSync() as Float32Array;
    const inputs = this.whatInputs + 2;
    const outputs = c.glimpseHidden + c.locationHidden;
    const block = new Float32Array(inputs * outputs);
    for (let i = 0; i < this.whatInputs; i++) block.set(what.subarray(i * c.glimpseHidden, (i + 1) * c.glimpseHidden), i * outputs);
    for (let i = 0; i < 2; i++) block.set(where.subarray(i * c.locationHidden, (i + 1) * c.locationHidden), (this.whatInputs + i) * outputs + c.glimpseHidden);
    const bias = new Float32Array(outputs);
    bias.set(this.param('glimpse.what.bias').dataSync() as Float32Array, 0);
    bias.set(this.param('glimpse.where.bias').dataSync() as Float32Array, c.glimpseHidden);
    this.block = tf.tensor2d(block, [inputs, outputs]);
    this.blockBias = tf.tensor1d(bias);
  }

  /**
   * The mean class probabilities of `samples` rollouts of one image whose locations after the first are drawn from
   * the policy (mean + std·N(0, 1), clipped to [-1, 1]) with `rng`, as AttentionModel.classify with samples > 1;
   * the glimpses reported are the first rollout's. One sample is the deterministic classification (the location
   * means), as in classify and the API's `samples=1`.
   */
  classifySampled(pixels: Float32Array, options: { samples: number; rng: Rng; glimpses?: number }): Classification {
    const { samples } = options;
    if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`samples must be a positive integer, got ${samples}`);
    if (samples === 1) return this.classifyMany([pixels], options.glimpses)[0]!;
    const rollouts = this.classifyMany(Array.from({ length: samples }, () => pixels), options.glimpses, options.rng);
    const k = this.network.config.classes.length;
    const probabilities = new Array<number>(k).fill(0);
    // Float32 sums in the order tf.mean reduces a [samples, k] column: the unroll's figures to rounding.
    for (const r of rollouts) r.probabilities.forEach((p, j) => { probabilities[j] = f(probabilities[j]! + p); });
    for (let j = 0; j < k; j++) probabilities[j] = f(probabilities[j]! / samples);
    return { probabilities, predicted: argMax(probabilities), glimpses: rollouts[0]!.glimpses };
  }

  /**
   * Classifies `images` (each imageSize² values, row-major) with `glimpses` glimpses (default: the model's), at
   * the location means, or with `policy` at locations drawn from the Gaussian policy (classifySampled).
   */
  classifyMany(images: readonly Float32Array[], glimpses = this.network.config.glimpses, policy?: Rng): Classification[] {
    const c = this.network.config;
    const side = c.imageSize;
    if (!Number.isInteger(glimpses) || glimpses < 1) throw new RangeError(`glimpses must be a positive integer, got ${glimpses}`);
    for (const pixels of images) {
      if (pixels.length !== side * side) throw new RangeError(`classifyMany: expected ${side * side} pixels, got ${pixels.length}`);
    }
    const n = images.length;
    if (n === 0) return [];
    this.refresh();
    // Without a convolutional pathway the block matMul reads [retina, location] rows; with one, the retinas go
    // through the pathway on their own, so they are written to a buffer of their own.
    const conv = c.glimpseConv !== undefined;
    const inputs = conv ? this.retinaSize : this.retinaSize + 2;
    const x = new Float32Array(n * inputs);
    let location: Float32Array = new Float32Array(n * 2);
    const locations: Float32Array[] = [];
    const lstm = c.core === 'lstm';
    let h: tf.Tensor2D = tf.zeros([n, c.hiddenSize]);
    // The LSTM's cell (absent for the RNN core).
    let cell: tf.Tensor2D | undefined = lstm ? tf.zeros([n, c.hiddenSize]) : undefined;
    const combineW = this.param('glimpse.combine.weight') as tf.Tensor2D;
    const combineB = this.param('glimpse.combine.bias') as tf.Tensor1D;
    const coreW = this.param(`core.${c.core}.weight`) as tf.Tensor2D;
    const coreB = this.param(`core.${c.core}.bias`) as tf.Tensor1D;
    const locationW = this.param('location.mean.weight') as tf.Tensor2D;
    const locationB = this.param('location.mean.bias') as tf.Tensor1D;
    let all: Float32Array;
    try {
      for (let t = 0; t < glimpses; t++) {
        locations.push(location);
        for (let i = 0; i < n; i++) {
          retina(images[i]!, side, location[2 * i]!, location[2 * i + 1]!, this.sizes, c.patchSize, x, i * inputs);
          if (conv) continue;
          x[i * inputs + this.retinaSize] = location[2 * i]!;
          x[i * inputs + this.retinaSize + 1] = location[2 * i + 1]!;
        }
        const next = tf.tidy(() => {
          const features = tf.fused.matMul({ a: this.glimpseInput(x, location, n), b: this.block!, bias: this.blockBias, activation: 'relu' });
          const g = tf.fused.matMul({ a: features, b: combineW, bias: combineB, activation: 'relu' });
          if (!lstm) return { h: tf.fused.matMul({ a: tf.concat([h, g], 1), b: coreW, bias: coreB, activation: 'relu' }) as tf.Tensor2D };
          // LstmCore.step: gates i, f, o, c̃ from [h, g], then its cell update.
          const next = lstmCell(tf.fused.matMul({ a: tf.concat([h, g], 1), b: coreW, bias: coreB }) as tf.Tensor2D, cell!);
          return { h: next.h, cell: next.c };
        });
        h.dispose();
        cell?.dispose();
        h = next.h;
        cell = next.cell;
        if (t === glimpses - 1) break;
        // The location head on the backend too: its float32 rounding is the unroll's, and the policy's
        // locations feed back into the retina, where a last-bit difference can grow over the glimpses.
        location = read(tf.tidy(() => locationMean(tf.fused.matMul({ a: h, b: locationW, bias: locationB }) as tf.Tensor2D, this.network.location.range)));
        if (policy) {
          // RamNetwork.unroll's 'sample' mode: the draws in the same order, the same float32 steps.
          location = drawLocations(location, this.network.location.std, policy).next;
        }
      }
      const logits = this.param('action.logits.weight') as tf.Tensor2D;
      const bias = this.param('action.logits.bias') as tf.Tensor1D;
      all = read(tf.tidy(() => tf.softmax(tf.fused.matMul({ a: h, b: logits, bias }))));
    } finally {
      h.dispose();
      cell?.dispose();
    }
    const k = c.classes.length;
    return images.map((_, i) => {
      const probabilities = Array.from(all.subarray(i * k, (i + 1) * k));
      const predicted = argMax(probabilities);
      const steps = locations.map((xy, t) => ({ step: t + 1, x: xy[2 * i]!, y: xy[2 * i + 1]!, sizes: [...this.sizes] }));
      return { probabilities, predicted, glimpses: steps };
    });
  }

  /**
   * What the block matMul reads, [n, whatInputs + 2]. Without a convolutional pathway `x` holds those rows
   * ([retina, location] per image) as they are; with one, `x` holds the retinas alone, which go through the
   * pathway (ConvGlimpse.apply's arithmetic) before `locations` ([n, 2]) is joined on. Call inside tf.tidy.
   */
  private glimpseInput(x: Float32Array, locations: Float32Array, n: number): tf.Tensor2D {
    const conv = this.network.config.glimpseConv;
    if (!conv) return tf.tensor2d(x, [n, this.retinaSize + 2]);
    const { patchSize, scales } = this.network.sensor;
    const stride = conv.stride;
    const [side0, side1, side2] = convSides(patchSize, stride);
    const patches = n * scales;
    const layer = (columns: Float32Array, rows: number, name: string): tf.Tensor2D =>
      tf.fused.matMul({
        a: tf.tensor2d(columns, [rows, columns.length / rows]),
        b: this.param(`${name}.weight`) as tf.Tensor2D,
        bias: this.param(`${name}.bias`) as tf.Tensor1D,
        activation: 'relu',
      }) as tf.Tensor2D;
    const a1 = read(layer(im2col3x3(x, patches, side0, 1), patches * side1 * side1, CONV_NAMES.conv1));
    const a2 = layer(im2col3x3(a1, patches, side1, conv.channels[0], stride), patches * side2 * side2, CONV_NAMES.conv2);
    return tf.concat2d([tf.reshape(a2, [n, this.whatInputs]), tf.tensor2d(locations, [n, 2])], 1);
  }

  dispose(): void {
    this.block?.dispose();
    this.blockBias?.dispose();
    this.block = undefined;
    this.blockBias = undefined;
  }
}

/** The values of `t`, which is disposed. */
function read(t: tf.Tensor): Float32Array {
  const values = t.dataSync() as Float32Array;
  t.dispose();
  return values;
}

const f = Math.fround;

/**
 * The retina of one image at (lx, ly) into out[offset …]: for each patch side, glimpse-sensor.ts's box, sampled
 * as the wasm backend's CropAndResize samples it (bilinear, 0 outside the image; every step rounded to float32
 * as its C++ does, including its row-copy shortcut), then average-pooled down to patchSize × patchSize.
 */
export function retina(image: Float32Array, side: number, lx: number, ly: number, sizes: number[], patch: number, out: Float32Array, offset: number): void {
  const m1 = side - 1;
  const denominator = Math.max(side - 1, 1);
  let at = offset;
  for (const crop of sizes) {
    const half = (crop - 1) / 2;
    const cx = ((lx + 1) * side) / 2 - 0.5;
    const cy = ((ly + 1) * side) / 2 - 0.5;
    const y1 = f((cy - half) / denominator);
    const x1 = f((cx - half) / denominator);
    const y2 = f((cy + half) / denominator);
    const x2 = f((cx + half) / denominator);
    const heightScale = crop > 1 ? f(f(f(y2 - y1) * m1) / (crop - 1)) : 0;
    const widthScale = crop > 1 ? f(f(f(x2 - x1) * m1) / (crop - 1)) : 0;
    // The kernel copies whole rows (from column 0) when the box is pixel-aligned and as wide as the crop.
    const sizeEqual = crop === f(1 + f(f(x2 - x1) * m1));
    const yFactor = f(f(y1 * side) + heightScale);
    const xFactor = f(f(x1 * m1) + widthScale);
    const interpolates = yFactor - Math.floor(yFactor) !== 0 || xFactor - Math.floor(xFactor) !== 0;
    const copyRows = x2 > x1 && x1 >= 0 && sizeEqual && !interpolates;
    // Zero outside the image: samples that fall outside are left as they are.
    const sampled = new Float32Array(crop * crop);
    // The columns do not depend on the row: their indices and weights once per patch.
    const lefts = new Int32Array(crop);
    const rights = new Int32Array(crop);
    const lerps = new Float32Array(crop);
    const inside = new Uint8Array(crop);
    for (let x = 0; x < crop; x++) {
      const xIndex = f(f(x1 * m1) + f(x * widthScale));
      if (xIndex < 0 || xIndex > m1) continue;
      inside[x] = 1;
      lefts[x] = Math.floor(xIndex);
      rights[x] = Math.min(m1, Math.ceil(xIndex));
      lerps[x] = f(xIndex - Math.floor(xIndex));
    }
    for (let y = 0; y < crop; y++) {
      const yIndex = f(f(y1 * m1) + f(y * heightScale));
      if (yIndex < 0 || yIndex > m1) continue; // extrapolation value 0
      if (copyRows) {
        const row = Math.trunc(yIndex) * side;
        for (let x = 0; x < crop; x++) sampled[y * crop + x] = image[row + x]!;
        continue;
      }
      const top = Math.floor(yIndex) * side;
      const bottom = Math.min(m1, Math.ceil(yIndex)) * side;
      const yLerp = f(yIndex - Math.floor(yIndex));
      for (let x = 0; x < crop; x++) {
        if (!inside[x]) continue;
        const tl = image[top + lefts[x]!]!;
        const tr = image[top + rights[x]!]!;
        const bl = image[bottom + lefts[x]!]!;
        const br = image[bottom + rights[x]!]!;
        // Four black pixels give exactly 0 (the common case on a digit's background).
        if (tl === 0 && tr === 0 && bl === 0 && br === 0) continue;
        const xLerp = lerps[x]!;
        const upper = f(tl + f(f(tr - tl) * xLerp));
        const lower = f(bl + f(f(br - bl) * xLerp));
        sampled[y * crop + x] = f(upper + f(f(lower - upper) * yLerp));
      }
    }
    const factor = crop / patch;
    if (factor === 1) {
      out.set(sampled, at);
    } else {
      const scale = f(1 / (factor * factor));
      const window = new Float32Array(9 + 8 * Math.max(0, Math.ceil((factor * factor - 9) / 8)));
      for (let py = 0; py < patch; py++) {
        for (let px = 0; px < patch; px++) {
          // The window column by column, the order of XNNPACK's indirection buffer.
          for (let dx = 0; dx < factor; dx++) {
            for (let dy = 0; dy < factor; dy++) window[dx * factor + dy] = sampled[(py * factor + dy) * crop + px * factor + dx]!;
          }
          out[at + py * patch + px] = f(poolSum(window) * scale);
        }
      }
    }
    at += patch * patch;
  }
}

/**
 * The float32 sum of a pooling window (`v`, padded with zeros to 9 + 8k values) as XNNPACK's average-pooling
 * kernels add it: the first 9 values in one pass, then 8 more per pass onto the running sum, each pass in its
 * fixed pairing.
 */
function poolSum(v: Float32Array): number {
  let sum = f(f(f(v[2]! + v[3]!) + f(v[4]! + v[5]!)) + f(f(f(v[0]! + v[1]!) + v[8]!) + f(v[6]! + v[7]!)));
  for (let i = 9; i < v.length; i += 8) {
    sum = f(f(f(v[i + 2]! + v[i + 3]!) + f(v[i + 4]! + v[i + 5]!)) + f(f(f(v[i]! + v[i + 1]!) + sum) + f(v[i + 6]! + v[i + 7]!)));
  }
  return sum;
}
