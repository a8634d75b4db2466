import * as tf from '@tensorflow/tfjs';
import type { Adam } from './adam.js';
import { labelsOf, renderExamples, type DigitSet, type TaskSpec } from './mnist-dataset.js';
import type { RamNetwork } from './ram-network.js';
import type { Rng } from './rng.js';
import { shiftedBatch, shiftOffsets } from './test-shifts.js';
import { trainStep } from './training-step.js';

export interface Schedule {
  epochs: number;
  learningRate: number;
  minLearningRate: number;
}

/** Cosine decay from learningRate to minLearningRate over `epochs` (progress in epochs, fractional). */
export function learningRateAt(schedule: Schedule, progress: number): number {
  const p = Math.min(1, Math.max(0, progress / schedule.epochs));
  return schedule.minLearningRate + 0.5 * (schedule.learningRate - schedule.minLearningRate) * (1 + Math.cos(Math.PI * p));
}

export interface EpochReport {
  /** Mean hybrid loss (its REINFORCE term may be negative). */
  loss: number;
  /** Mean cross-entropy of the classifier. */
  crossEntropy: number;
  accuracy: number;
  seconds: number;
  learningRate: number;
}

export interface EpochOptions {
  network: RamNetwork;
  optimizer: Adam;
  set: DigitSet;
  indices: number[];
  spec: TaskSpec;
  batchSize: number;
  schedule: Schedule;
  /** Completed epochs before this one (for the learning-rate schedule). */
  epoch: number;
  /** Data order, augmentation and clutter. */
  dataRng: Rng;
  /** Location sampling. */
  policyRng: Rng;
  onProgress?: (step: number, steps: number, crossEntropy: number, accuracy: number) => void;
}

/** One pass over `indices` in a fresh random order. */
export function trainEpoch(o: EpochOptions): EpochReport {
  const start = performance.now();
  const order = o.dataRng.shuffle([...o.indices]);
  const steps = Math.floor(order.length / o.batchSize);
  let lossSum = 0;
  let ceSum = 0;
  let accSum = 0;
  let lr = o.schedule.learningRate;
  for (let s = 0; s < steps; s++) {
    const batch = order.slice(s * o.batchSize, (s + 1) * o.batchSize);
    const images = renderExamples(o.set, batch, o.spec, o.dataRng);
    lr = learningRateAt(o.schedule, o.epoch + s / steps);
    const r = trainStep(o.network, o.optimizer, images, labelsOf(o.set, batch), lr, o.policyRng);
    lossSum += r.loss;
    ceSum += r.classification;
    accSum += r.accuracy;
    o.onProgress?.(s + 1, steps, ceSum / (s + 1), accSum / (s + 1));
  }
  return { loss: lossSum / steps, crossEntropy: ceSum / steps, accuracy: accSum / steps, seconds: (performance.now() - start) / 1000, learningRate: lr };
}

export interface EvaluationOptions {
  batchSize?: number;
  /** 1: location means (deterministic); >1: average of that many sampled rollouts. */
  samples?: number;
  glimpses?: number;
  /** Renders the examples (placement/clutter of the translated and cluttered tasks). */
  dataRng: Rng;
  policyRng?: Rng;
  /** Called after each batch with the examples done so far (a command line's progress bar). */
  onProgress?: (done: number, total: number) => void;
  /**
   * A second network read on the same canvases at its location means: the error is that of the mean of the two
   * networks' probabilities (an ensemble of two, compared before serving one; models/README.md rule 24).
   */
  averageWith?: RamNetwork;
  /**
   * Each image is read at this many positions (src/attention/test-shifts.ts: 1, 5 or 9), and the probabilities of
   * the copies and of their sampled rollouts are averaged (models/README.md rule 28). 1 or absent: as it is.
   */
  shifts?: number;
}

/** Classification error on `indices`, in [0, 1]. */
export function evaluateError(network: RamNetwork, set: DigitSet, indices: number[], spec: TaskSpec, o: EvaluationOptions): number {
  const batchSize = o.batchSize ?? 250;
  const samples = o.samples ?? 1;
  const size = spec.imageSize;
  const classes = network.config.classes.length;
  const shifts = o.shifts ?? 1;
  // Refuses a count with no offsets (0, 3…) before any work: with shifts ≤ 1 shiftedBatch alone would never see it.
  shiftOffsets(shifts);
  if (shifts > 1 && o.averageWith) throw new Error('evaluateError: shifts and averageWith are measured one at a time, not together');
  if (o.averageWith) {
    const c = o.averageWith.config;
    if (c.imageSize !== size || c.classes.join('\u0000') !== network.config.classes.join('\u0000')) {
      throw new Error(`averageWith: a ${c.imageSize}×${c.imageSize} network with classes ${c.classes.join(',')} cannot be averaged with a ${size}×${size} one with ${network.config.classes.join(',')}`);
    }
  }
  let wrong = 0;
  for (let start = 0; start < indices.length; start += batchSize) {
    const batch = indices.slice(start, start + batchSize);
    const pixels = renderExamples(set, batch, spec, o.dataRng);
    const labels = labelsOf(set, batch);
    const probs = tf.tidy(() => {
      // An image's shifted copies, then each copy's sampled rollouts, sit in consecutive rows.
      const copies = batch.length * shifts;
      const input = tf.tensor4d(shifts > 1 ? shiftedBatch(pixels, batch.length, size, shifts) : pixels, [copies, size, size, 1]);
      const x: tf.Tensor4D = samples > 1 ? tf.reshape(tf.tile(tf.expandDims(input, 1), [1, samples, 1, 1, 1]), [copies * samples, size, size, 1]) : input;
      const rollout = network.unroll(x, { glimpses: o.glimpses, mode: samples > 1 ? 'sample' : 'mean', rng: o.policyRng });
      const own = tf.mean(tf.reshape(tf.softmax(rollout.logits), [batch.length, shifts * samples, classes]), 1);
      if (!o.averageWith) return own.dataSync();
      // averageWith is refused with shifts, so `input` is the batch as it is.
      const other = tf.softmax(o.averageWith.unroll(input, { mode: 'mean' }).logits);
      return tf.mul(tf.add(own, other), 0.5).dataSync();
    });
    for (let i = 0; i < batch.length; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (probs[i * classes + k]! > probs[i * classes + best]!) best = k;
      if (best !== labels[i]) wrong++;
    }
    o.onProgress?.(start + batch.length, indices.length);
  }
  return wrong / indices.length;
}
