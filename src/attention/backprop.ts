import * as tf from '@tensorflow/tfjs';
import { col2im3x3, CONV_NAMES, convSides, im2col3x3, im2col3x3Transposed } from './conv-glimpse.js';
import { glimpseSensorPixels } from './glimpse-sensor.js';
import { drawLocations, locationMean } from './location-network.js';
import type { RamNetwork } from './ram-network.js';
import type { Rng } from './rng.js';

/** The loss parts of one batch (as hybridLoss computes them) and the share classified correctly. */
export interface HybridLossValues {
  loss: number;
  classification: number;
  baseline: number;
  reinforce: number;
  accuracy: number;
}

export interface BackpropOptions {
  /** Source of the policy noise. */
  rng?: Rng;
  /** Reuse these draws (Rollout.draws of an earlier unroll) instead of new noise (tests). */
  replay?: Float32Array[];
}

const NAMES = {
  what: 'glimpse.what',
  where: 'glimpse.where',
  combine: 'glimpse.combine',
  location: 'location.mean',
  baseline: 'baseline.value',
  action: 'action.logits',
} as const;

/**
 * The hybrid loss's gradients, back-propagated by hand through the T glimpses, for
 * either core: the RNN's h_t = ReLU(W·[h_{t−1}; g_t] + b), or the LSTM's gates
 * [i, f, o, c̃] = W·[h_{t−1}; g_t] + b with c_t = σ(f)·c_{t−1} + σ(i)·tanh(c̃) and
 * h_t = σ(o)·tanh(c_t) (core-network.ts's lstmCell). The same function and the same gradients as
 * tf.variableGrads over RamNetwork.unroll + hybridLoss (ram-network.test.ts checks
 * both against finite differences and against each other), written out because on
 * the wasm backend the generic tape costs more than the arithmetic:
 *
 * - a weight used at every glimpse gets ONE gradient matMul over the T·B stacked
 *   rows, not T matMuls, T explicit transposes of the input and T−1 adds;
 * - each weight is transposed once per step for the backward pass, not once per
 *   glimpse (a matMul with a transposed operand is ~20× slower on wasm, so every
 *   transpose is explicit);
 * - the policy and baseline heads read a stopped h_t, so their gradients are closed
 *   forms (no tape through tanh, the Gaussian log-density or the MSE);
 * - no tape bookkeeping (saved tensors, identity and cast kernels);
 * - the retina is read from the batch's plain pixels (glimpseSensorPixels), cheaper than
 *   CropAndResize + AvgPool kernels on wasm; the same values up to float rounding;
 * - with the convolutional "what" pathway (RamConfig.glimpseConv, conv-glimpse.ts), each
 *   convolution is im2col (in plain numbers) and one fused matMul per glimpse; backward, one
 *   matMul per weight over all T glimpses' rows, the first layer's im2colᵀ built transposed in
 *   plain numbers, and the second layer's input gradient as col2im (one scatter-add kernel).
 *
 * The policy noise is drawn in the same order as unroll's, so a seed gives the same
 * training run on either path. Returns gradients keyed by parameter name (the caller
 * disposes them) and the loss values. Stop-gradients as in hybridLoss: the sampled
 * locations, h_t as read by the location and baseline networks, and the baseline
 * inside the advantage.
 */
export function handHybridGradients(
  network: RamNetwork,
  images: Float32Array,
  labels: Int32Array,
  options: BackpropOptions,
): { grads: Map<string, tf.Tensor>; result: HybridLossValues } {
  const c = network.config;
  if (c.core !== 'rnn' && c.core !== 'lstm') throw new Error(`handHybridGradients knows the rnn and lstm cores, not ${String(c.core)}`);
  if (!options.rng && !options.replay) throw new Error('handHybridGradients needs an rng or a replay');
  const lstm = c.core === 'lstm';
  const coreName = lstm ? 'core.lstm' : 'core.rnn';
  const size = c.imageSize;
  const batch = labels.length;
  if (images.length !== batch * size * size) throw new RangeError(`expected ${batch}×${size}×${size} pixels, got ${images.length}`);
  const steps = c.glimpses;
  const classes = c.classes.length;
  const std = network.location.std;
  const range = network.location.range;
  const weights = c.lossWeights;
  const p = (name: string): tf.Tensor2D => network.params.get(`${name}.weight`) as tf.Tensor2D;
  const bias = (name: string): tf.Tensor1D => network.params.get(`${name}.bias`) as tf.Tensor1D;
  const affine = (a: tf.Tensor2D, name: string, activation: 'linear' | 'relu' = 'linear'): tf.Tensor2D =>
    tf.fused.matMul({ a, b: p(name), bias: bias(name), activation }) as tf.Tensor2D;
  const hidden = c.hiddenSize;
  const retinaSize = c.scales * c.patchSize * c.patchSize;
  const glimpseHidden = c.glimpseHidden;
  // The convolutional pathway: each image's scales are `patches` patches of side0² → side1²·C1 → side2²·C2.
  const conv = c.glimpseConv?.channels;
  const stride = c.glimpseConv?.stride;
  const [side0, side1, side2] = convSides(c.patchSize, stride);
  const patches = batch * c.scales;

  const result: HybridLossValues = { loss: 0, classification: 0, baseline: 0, reinforce: 0, accuracy: 0 };
  const grads = new Map<string, tf.Tensor>();
  tf.tidy(() => {
    // Forward, keeping what the backward pass reads.
    // What glimpse.what reads: the retina, or the convolutional pathway's output.
    const whatInputs: tf.Tensor2D[] = [];
    // Convolutional pathway only: each layer's im2col matrix of all steps, transposed ([9·C_in, rows], rows ordered
    // step, image, scale, position) and with a last row of ones, so that one matMul gives the weight's gradient and
    // the bias's; and each step's outputs.
    const rows1 = steps * patches * side1 * side1;
    const rows2 = steps * patches * side2 * side2;
    const withOnes = (inputs: number, rows: number): Float32Array => new Float32Array((inputs + 1) * rows).fill(1, inputs * rows);
    const columns1T = conv ? withOnes(9, rows1) : null;
    const columns2T = conv ? withOnes(9 * conv[0], rows2) : null;
    const activations1: tf.Tensor2D[] = [];
    const activations2: tf.Tensor2D[] = [];
    const locationInputs: tf.Tensor2D[] = [];
    const whats: tf.Tensor2D[] = [];
    const wheres: tf.Tensor2D[] = [];
    const combineInputs: tf.Tensor2D[] = [];
    const gs: tf.Tensor2D[] = [];
    const coreInputs: tf.Tensor2D[] = [];
    const hs: tf.Tensor2D[] = [];
    // LSTM only, per step: the gate activations, the previous cell and tanh of the new one.
    const cells: { i: tf.Tensor2D; f: tf.Tensor2D; o: tf.Tensor2D; candidate: tf.Tensor2D; previous: tf.Tensor2D; tanhC: tf.Tensor2D }[] = [];
    const means: Float32Array[] = [];
    const samples: Float32Array[] = [];
    let location = new Float32Array(batch * 2);
    let h: tf.Tensor2D = tf.zeros([batch, hidden]);
    let cell: tf.Tensor2D = h;
    for (let t = 0; t < steps; t++) {
      const pixels = glimpseSensorPixels(images, batch, size, size, location, network.sensor);
      let whatInput: tf.Tensor2D;
      if (conv) {
        const [c1, c2] = conv;
        const a1 = affine(tf.tensor2d(im2col3x3(pixels, patches, side0, 1), [patches * side1 * side1, 9]), CONV_NAMES.conv1, 'relu');
        const a1Values = a1.dataSync() as Float32Array;
        const a2 = affine(tf.tensor2d(im2col3x3(a1Values, patches, side1, c1, stride), [patches * side2 * side2, 9 * c1]), CONV_NAMES.conv2, 'relu');
        im2col3x3Transposed(pixels, patches, side0, 1, columns1T!, t * patches * side1 * side1, rows1);
        im2col3x3Transposed(a1Values, patches, side1, c1, columns2T!, t * patches * side2 * side2, rows2, stride);
        activations1.push(a1);
        activations2.push(a2);
        whatInput = tf.reshape(a2, [batch, c.scales * side2 * side2 * c2]);
      } else {
        whatInput = tf.tensor2d(pixels, [batch, retinaSize]);
      }
      const l = tf.tensor2d(location, [batch, 2]);
      const what = affine(whatInput, NAMES.what, 'relu');
      const where = affine(l, NAMES.where, 'relu');
      const combineInput = tf.concat2d([what, where], 1);
      const g = affine(combineInput, NAMES.combine, 'relu');
      const coreInput = tf.concat2d([h, g], 1);
      if (lstm) {
        const [iPre, fPre, oPre, candidatePre] = tf.split(affine(coreInput, coreName), 4, 1) as tf.Tensor2D[];
        const i = tf.sigmoid(iPre!);
        const f = tf.sigmoid(fPre!);
        const o = tf.sigmoid(oPre!);
        const candidate = tf.tanh(candidatePre!);
        const next = tf.add<tf.Tensor2D>(tf.mul(f, cell), tf.mul(i, candidate));
        const tanhC = tf.tanh(next);
        h = tf.mul<tf.Tensor2D>(o, tanhC);
        cells.push({ i, f, o, candidate, previous: cell, tanhC });
        cell = next;
      } else {
        h = affine(coreInput, coreName, 'relu');
      }
      whatInputs.push(whatInput);
      locationInputs.push(l);
      whats.push(what);
      wheres.push(where);
      combineInputs.push(combineInput);
      gs.push(g);
      coreInputs.push(coreInput);
      hs.push(h);
      if (t === steps - 1) break;
      const mean = locationMean(affine(h, NAMES.location), range).dataSync() as Float32Array;
      const { sample, next } = drawLocations(mean, std, options.rng, options.replay?.[t]);
      means.push(mean);
      samples.push(sample);
      location = next;
    }
    const last = hs[steps - 1]!;
    const logits = affine(last, NAMES.action);
    const logitValues = logits.dataSync();

    // The loss and its gradient at the logits, in plain numbers (B × classes).
    const reward = new Float32Array(batch);
    const dLogits = new Float32Array(batch * classes);
    let crossEntropy = 0;
    for (let i = 0; i < batch; i++) {
      const row = i * classes;
      let best = 0;
      let max = -Infinity;
      for (let k = 0; k < classes; k++) {
        const v = logitValues[row + k]!;
        if (v > max) max = v;
        if (v > logitValues[row + best]!) best = k;
      }
      reward[i] = best === labels[i] ? 1 : 0;
      let sum = 0;
      for (let k = 0; k < classes; k++) sum += Math.exp(logitValues[row + k]! - max);
      const logSum = max + Math.log(sum);
      crossEntropy -= logitValues[row + labels[i]!]! - logSum;
      for (let k = 0; k < classes; k++) {
        const softmax = Math.exp(logitValues[row + k]! - logSum);
        dLogits[row + k] = (weights.classification * (softmax - (k === labels[i] ? 1 : 0))) / batch;
      }
    }
    crossEntropy /= batch;
    result.classification = crossEntropy;
    result.accuracy = reward.reduce((a, b) => a + b, 0) / batch;

    // Baseline (MSE to R) and REINFORCE (−mean Σ_t log π · (R − b_t)) for t = 1..T−1: their
    // gradients at the head pre-activations, [(T−1)·B, 1] and [(T−1)·B, 2], stacked by step.
    const policySteps = steps - 1;
    let baselineLoss = 0;
    let reinforceLoss = 0;
    let dBaseline: Float32Array | null = null;
    let dLocation: Float32Array | null = null;
    let readH: tf.Tensor2D | null = null;
    if (policySteps > 0) {
      readH = tf.concat2d(hs.slice(0, policySteps), 0);
      const baselineValues = affine(readH, NAMES.baseline).dataSync();
      dBaseline = new Float32Array(policySteps * batch);
      dLocation = new Float32Array(policySteps * batch * 2);
      const count = policySteps * batch;
      const logConstant = Math.log(std) + 0.5 * Math.log(2 * Math.PI);
      for (let t = 0; t < policySteps; t++) {
        const mean = means[t]!;
        const sample = samples[t]!;
        for (let i = 0; i < batch; i++) {
          const row = t * batch + i;
          const b = baselineValues[row]!;
          const error = b - reward[i]!;
          baselineLoss += error * error;
          dBaseline[row] = (weights.baseline * 2 * error) / count;
          const advantage = reward[i]! - b;
          for (let k = 0; k < 2; k++) {
            const mu = mean[2 * i + k]!;
            const z = (sample[2 * i + k]! - mu) / std;
            reinforceLoss -= (-0.5 * z * z - logConstant) * advantage;
            // d(−log π · A / B)/dμ = −A (s − μ) / (σ² B), then through μ = r·tanh(a): × r(1 − (μ/r)²) = (r² − μ²)/r.
            dLocation[2 * row + k] = ((-weights.reinforce * advantage * z) / (std * batch)) * (range === 1 ? 1 - mu * mu : (range * range - mu * mu) / range);
          }
        }
      }
      baselineLoss /= count;
      reinforceLoss /= batch;
    }
    result.baseline = baselineLoss;
    result.reinforce = reinforceLoss;
    result.loss = weights.classification * crossEntropy + weights.baseline * baselineLoss + weights.reinforce * reinforceLoss;

    // Backward through the action network and the recurrence: the gradients at each
    // layer's pre-activation, per step, to be stacked for one weight gradient each.
    const dLogitsT = tf.tensor2d(dLogits, [batch, classes]);
    // Each weight's rows split by the input they read ([h; g] for the core, [h_g; h_l] for the
    // combination), each block transposed once: the backward pass then needs no split of its
    // products, and the core's block for h_{t−1} is skipped at t = 0.
    const transposedRows = (name: string, from: number, rows: number): tf.Tensor2D => {
      const w = p(name);
      return tf.transpose(tf.slice(w, [from, 0], [rows, w.shape[1]]));
    };
    const coreHT = transposedRows(coreName, 0, hidden);
    const coreGT = transposedRows(coreName, hidden, c.glimpseOutput);
    const combineWhatT = transposedRows(NAMES.combine, 0, glimpseHidden);
    const combineWhereT = transposedRows(NAMES.combine, glimpseHidden, c.locationHidden);
    const dCore: tf.Tensor2D[] = new Array(steps);
    const dCombine: tf.Tensor2D[] = new Array(steps);
    const dWhat: tf.Tensor2D[] = new Array(steps);
    const dWhere: tf.Tensor2D[] = new Array(steps);
    let dh: tf.Tensor2D = tf.matMul(dLogitsT, tf.transpose(p(NAMES.action)));
    // LSTM: the cell's gradient carried to the step before, dc_t · σ(f_t).
    let dCarry: tf.Tensor2D | null = null;
    const one = tf.scalar(1);
    for (let t = steps - 1; t >= 0; t--) {
      let dz: tf.Tensor2D;
      if (lstm) {
        const { i, f, o, candidate, previous, tanhC } = cells[t]!;
        // σ' = σ(1 − σ), tanh' = 1 − tanh².
        let dc = tf.mul<tf.Tensor2D>(tf.mul(dh, o), tf.sub(one, tf.square(tanhC)));
        if (dCarry) dc = tf.add(dc, dCarry);
        dz = tf.concat2d(
          [
            tf.mul<tf.Tensor2D>(tf.mul(dc, candidate), tf.mul(i, tf.sub(one, i))),
            tf.mul<tf.Tensor2D>(tf.mul(dc, previous), tf.mul(f, tf.sub(one, f))),
            tf.mul<tf.Tensor2D>(tf.mul(dh, tanhC), tf.mul(o, tf.sub(one, o))),
            tf.mul<tf.Tensor2D>(tf.mul(dc, i), tf.sub(one, tf.square(candidate))),
          ],
          1,
        );
        dCarry = tf.mul<tf.Tensor2D>(dc, f);
      } else {
        dz = tf.mul<tf.Tensor2D>(dh, tf.step(hs[t]!));
      }
      dCore[t] = dz;
      const dzg = tf.mul<tf.Tensor2D>(tf.matMul(dz, coreGT), tf.step(gs[t]!));
      dCombine[t] = dzg;
      dWhat[t] = tf.mul<tf.Tensor2D>(tf.matMul(dzg, combineWhatT), tf.step(whats[t]!));
      dWhere[t] = tf.mul<tf.Tensor2D>(tf.matMul(dzg, combineWhereT), tf.step(wheres[t]!));
      if (t > 0) dh = tf.matMul(dz, coreHT);
    }
    const stackedGradient = (name: string, inputs: tf.Tensor2D[], dz: tf.Tensor2D[]): void => {
      const x2 = inputs.length === 1 ? inputs[0]! : tf.concat2d(inputs, 0);
      const d = dz.length === 1 ? dz[0]! : tf.concat2d(dz, 0);
      grads.set(`${name}.weight`, tf.keep(tf.matMul(tf.transpose(x2), d)));
      // The bias gradient (column sums) as a product with a row of ones: a reduction over
      // axis 0 is a transpose and a reduce on wasm, several times slower.
      grads.set(`${name}.bias`, tf.keep(tf.reshape(tf.matMul(tf.ones([1, d.shape[0]]), d), [d.shape[1]])));
    };
    stackedGradient(NAMES.action, [last], [dLogitsT]);
    stackedGradient(coreName, coreInputs, dCore);
    stackedGradient(NAMES.combine, combineInputs, dCombine);
    const stack = (parts: tf.Tensor2D[]): tf.Tensor2D => (parts.length === 1 ? parts[0]! : tf.concat2d(parts, 0));
    const dWhatAll = stack(dWhat);
    stackedGradient(NAMES.what, whatInputs, [dWhatAll]);
    if (conv) {
      // Back through the two convolutions, all T glimpses' rows at once (rows: step, image, scale, position).
      const [c1, c2] = conv;
      const allPatches = steps * patches;
      const dFeatures = tf.matMul(dWhatAll, tf.transpose(p(NAMES.what)));
      const dz2 = tf.mul<tf.Tensor2D>(tf.reshape(dFeatures, [rows2, c2]), tf.step(stack(activations2)));
      // The im2col matrices come transposed from the forward pass, written so in plain numbers: a transpose
      // kernel of the second one ([rows2, 9·C1]) would cost more than its gradient matMul. Their row of ones gives
      // the bias gradient in the same product (a separate ones-row matMul would pack dz once more).
      const convGradient = (name: string, columnsT: Float32Array, inputs: number, dz: tf.Tensor2D): void => {
        const both = tf.matMul(tf.tensor2d(columnsT, [inputs + 1, dz.shape[0]]), dz);
        const outputs = dz.shape[1];
        grads.set(`${name}.weight`, tf.keep(tf.slice(both, [0, 0], [inputs, outputs])));
        grads.set(`${name}.bias`, tf.keep(tf.reshape(tf.slice(both, [inputs, 0], [1, outputs]), [outputs])));
      };
      convGradient(CONV_NAMES.conv2, columns2T!, 9 * c1, dz2);
      const dA1 = col2im3x3(tf.matMul(dz2, tf.transpose(p(CONV_NAMES.conv2))), allPatches, side1, c1, stride);
      const dz1 = tf.mul<tf.Tensor2D>(dA1, tf.step(stack(activations1)));
      convGradient(CONV_NAMES.conv1, columns1T!, 9, dz1);
    }
    stackedGradient(NAMES.where, locationInputs, dWhere);
    // With one glimpse no location is chosen: the policy and the baseline get no gradient (as on the tape).
    if (readH && dBaseline && dLocation) {
      // Both heads read the same stopped h_t: one product for the two, split by column.
      const rows = policySteps * batch;
      const dHeads = new Float32Array(rows * 3);
      for (let r = 0; r < rows; r++) {
        dHeads[3 * r] = dLocation[2 * r]!;
        dHeads[3 * r + 1] = dLocation[2 * r + 1]!;
        dHeads[3 * r + 2] = dBaseline[r]!;
      }
      const d = tf.tensor2d(dHeads, [rows, 3]);
      const weight = tf.matMul(tf.transpose(readH), d);
      const biasGradient = tf.reshape(tf.matMul(tf.ones([1, rows]), d), [3]);
      grads.set(`${NAMES.location}.weight`, tf.keep(tf.slice(weight, [0, 0], [hidden, 2])));
      grads.set(`${NAMES.baseline}.weight`, tf.keep(tf.slice(weight, [0, 2], [hidden, 1])));
      grads.set(`${NAMES.location}.bias`, tf.keep(tf.slice(biasGradient, [0], [2])));
      grads.set(`${NAMES.baseline}.bias`, tf.keep(tf.slice(biasGradient, [2], [1])));
    }
  });
  return { grads, result };
}
