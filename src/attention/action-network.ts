import type * as tf from '@tensorflow/tfjs';
import { Dense } from './dense.js';
import type { Parameters } from './parameters.js';

/** Class logits from the last core state; softmax is applied by the loss / classify. */
export class ActionNetwork {
  private readonly logits: Dense;

  constructor(params: Parameters, hiddenSize: number, classes: number) {
    this.logits = new Dense(params, 'action.logits', hiddenSize, classes);
  }

  apply(h: tf.Tensor2D): tf.Tensor2D {
    return this.logits.apply(h);
  }
}
