import type * as tf from '@tensorflow/tfjs';
import { ConvGlimpse, type ConvGlimpseSpec } from './conv-glimpse.js';
import { Dense } from './dense.js';
import type { Parameters } from './parameters.js';

/**
 * h_g = ReLU(Linear(ρ)), h_l = ReLU(Linear(l)), g = ReLU(Linear(h_g) + Linear(h_l)).
 * The last sum of two Linears is one Dense over [h_g, h_l] (see Dense).
 * With a convolutional pathway (RamConfig.glimpseConv), h_g = ReLU(Linear(conv(ρ))): each scale's patch through
 * two 3×3 convolutions (conv-glimpse.ts) before glimpse.what.
 */
export class GlimpseNetwork {
  /** The convolutional "what" pathway, when configured. */
  readonly conv: ConvGlimpse | undefined;
  private readonly what: Dense;
  private readonly where: Dense;
  private readonly combine: Dense;

  constructor(
    params: Parameters,
    retinaSize: number,
    glimpseHidden: number,
    locationHidden: number,
    readonly outputs: number,
    conv?: ConvGlimpseSpec,
  ) {
    this.conv = conv ? new ConvGlimpse(params, conv) : undefined;
    this.what = new Dense(params, 'glimpse.what', this.conv ? this.conv.outputs : retinaSize, glimpseHidden, 'relu');
    this.where = new Dense(params, 'glimpse.where', 2, locationHidden, 'relu');
    this.combine = new Dense(params, 'glimpse.combine', glimpseHidden + locationHidden, outputs, 'relu');
  }

  apply(retina: tf.Tensor2D, location: tf.Tensor2D): tf.Tensor2D {
    const features = this.conv ? this.conv.apply(retina) : retina;
    return this.combine.apply([this.what.apply(features), this.where.apply(location)]);
  }
}
