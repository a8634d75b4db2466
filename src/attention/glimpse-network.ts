import type * as tf from '@tensorflow/tfjs';
import { Dense } from './dense.js';
import type { Parameters } from './parameters.js';

/**
 * h_g = ReLU(Linear(ρ)), h_l = ReLU(Linear(l)), g = ReLU(Linear(h_g) + Linear(h_l)).
 * The last sum of two Linears is one Dense over [h_g, h_l] (see Dense).
 */
export class GlimpseNetwork {
  private readonly what: Dense;
  private readonly where: Dense;
  private readonly combine: Dense;

  constructor(params: Parameters, retinaSize: number, glimpseHidden: number, locationHidden: number, readonly outputs: number) {
    this.what = new Dense(params, 'glimpse.what', retinaSize, glimpseHidden, 'relu');
    this.where = new Dense(params, 'glimpse.where', 2, locationHidden, 'relu');
    this.combine = new Dense(params, 'glimpse.combine', glimpseHidden + locationHidden, outputs, 'relu');
  }

  apply(retina: tf.Tensor2D, location: tf.Tensor2D): tf.Tensor2D {
    return this.combine.apply([this.what.apply(retina), this.where.apply(location)]);
  }
}
