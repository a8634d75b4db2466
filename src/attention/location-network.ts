import * as tf from '@tensorflow/tfjs';
import { Dense } from './dense.js';
import type { Parameters } from './parameters.js';
import type { Rng } from './rng.js';

/**
 * The policy's mean from its pre-activation: range·tanh(z). With range 1 (the shipped models') it is tanh itself,
 * which can saturate at the canvas's border; a range below 1 keeps the mean's limit inside the canvas
 * (RamConfig.locationRange, models/README.md rule 26). Shared by the unroll, the hand-written backward pass and the
 * serving path, so that all three compute the same float32 steps.
 */
export function locationMean(z: tf.Tensor2D, range: number): tf.Tensor2D {
  const t = tf.tanh<tf.Tensor2D>(z);
  return range === 1 ? t : tf.mul<tf.Tensor2D>(t, tf.scalar(range));
}

/** Gaussian location policy: mean range·tanh(Linear(h_t)) (range 1 unless configured), fixed standard deviation. */
export class LocationNetwork {
  private readonly mean: Dense;

  constructor(params: Parameters, hiddenSize: number, readonly std: number, readonly range = 1) {
    this.mean = new Dense(params, 'location.mean', hiddenSize, 2);
  }

  /** Mean location in [-range, range]², [B, 2]. */
  apply(h: tf.Tensor2D): tf.Tensor2D {
    return locationMean(this.mean.apply(h), this.range);
  }

  /** log N(sample; mean, std²) summed over x and y, [B]. */
  logProbability(mean: tf.Tensor2D, sample: tf.Tensor2D): tf.Tensor1D {
    const z = tf.sub(sample, mean).div(this.std);
    const constant = Math.log(this.std) + 0.5 * Math.log(2 * Math.PI);
    return tf.sum(tf.square(z).mul(-0.5).sub(constant), 1) as tf.Tensor1D;
  }
}

/**
 * The policy's draws for a batch of mean locations: `sample` = mean + std·N(0, 1), one draw per
 * coordinate in order (or the `replay`ed draws), and `next`, the sample clipped to [-1, 1], where
 * the next glimpse looks. log π is taken at the unclipped sample, the point the Gaussian produced.
 * The one place the draw is made, for the unroll, the hand-written backward pass and the serving
 * path, which must draw alike for a given seed.
 */
export function drawLocations(mean: ArrayLike<number>, std: number, rng: Rng | undefined, replay?: ArrayLike<number>): { sample: Float32Array<ArrayBuffer>; next: Float32Array<ArrayBuffer> } {
  if (!replay && !rng) throw new Error('drawLocations needs an rng or the draws to replay');
  const sample = replay ? Float32Array.from(replay) : new Float32Array(mean.length);
  const next = new Float32Array(mean.length);
  for (let i = 0; i < sample.length; i++) {
    if (!replay) sample[i] = mean[i]! + std * rng!.normal();
    next[i] = Math.min(1, Math.max(-1, sample[i]!));
  }
  return { sample, next };
}
