import * as tf from '@tensorflow/tfjs';
import { Dense } from './dense.js';
import type { Parameters } from './parameters.js';

/** Gaussian location policy: mean tanh(Linear(h_t)), fixed standard deviation. */
export class LocationNetwork {
  private readonly mean: Dense;

  constructor(params: Parameters, hiddenSize: number, readonly std: number) {
    this.mean = new Dense(params, 'location.mean', hiddenSize, 2);
  }

  /** Mean location in [-1, 1]², [B, 2]. */
  apply(h: tf.Tensor2D): tf.Tensor2D {
    return tf.tanh<tf.Tensor2D>(this.mean.apply(h));
  }

  /** log N(sample; mean, std²) summed over x and y, [B]. */
  logProbability(mean: tf.Tensor2D, sample: tf.Tensor2D): tf.Tensor1D {
    const z = tf.sub(sample, mean).div(this.std);
    const constant = Math.log(this.std) + 0.5 * Math.log(2 * Math.PI);
    return tf.sum(tf.square(z).mul(-0.5).sub(constant), 1) as tf.Tensor1D;
  }
}
