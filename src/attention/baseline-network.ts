import * as tf from '@tensorflow/tfjs';
import { Dense } from './dense.js';
import type { Parameters } from './parameters.js';

/** b_t = Linear(h_t): the expected reward, subtracted in REINFORCE to cut variance. */
export class BaselineNetwork {
  private readonly value: Dense;

  constructor(params: Parameters, hiddenSize: number) {
    this.value = new Dense(params, 'baseline.value', hiddenSize, 1);
  }

  /** [B] */
  apply(h: tf.Tensor2D): tf.Tensor1D {
    return tf.reshape(this.value.apply(h), [-1]);
  }
}
