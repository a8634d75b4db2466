import * as tf from '@tensorflow/tfjs';
import type { Adam } from './adam.js';
import { hybridLoss } from './hybrid-loss.js';
import type { RamNetwork } from './ram-network.js';
import type { Rng } from './rng.js';
import { handHybridGradients } from './backprop.js';

export interface StepResult {
  loss: number;
  classification: number;
  baseline: number;
  reinforce: number;
  accuracy: number;
}

/**
 * Gradients of the hybrid loss by parameter name, plus the loss parts. Caller disposes the grads.
 * Both cores (the RNN of `ram-mnist`, the LSTM of `ram-translated` and `ram-cluttered`) take the hand-written
 * backward pass of backprop.ts, measured faster on wasm; tapeHybridGradients, the generic tape, is what it is checked against.
 */
export function hybridGradients(
  network: RamNetwork,
  images: Float32Array,
  labels: Int32Array,
  rng: Rng,
): { grads: Map<string, tf.Tensor>; result: StepResult } {
  return handHybridGradients(network, images, labels, { rng });
}

/** hybridGradients through tf.variableGrads over RamNetwork.unroll and hybridLoss: any core. */
export function tapeHybridGradients(
  network: RamNetwork,
  images: Float32Array,
  labels: Int32Array,
  rng: Rng,
): { grads: Map<string, tf.Tensor>; result: StepResult } {
  const size = network.config.imageSize;
  const batch = labels.length;
  if (images.length !== batch * size * size) throw new RangeError(`expected ${batch}×${size}×${size} pixels, got ${images.length}`);
  const result: StepResult = { loss: 0, classification: 0, baseline: 0, reinforce: 0, accuracy: 0 };
  const entries = network.params.entries();
  const { value, grads } = tf.variableGrads(() => {
    const x = tf.tensor4d(images, [batch, size, size, 1]);
    const rollout = network.unroll(x, { mode: 'sample', rng });
    const parts = hybridLoss(rollout, labels, network.config.lossWeights);
    result.classification = parts.classification.dataSync()[0]!;
    result.baseline = parts.baseline.dataSync()[0]!;
    result.reinforce = parts.reinforce.dataSync()[0]!;
    result.accuracy = parts.accuracy;
    return parts.total;
  }, entries.map(([, v]) => v));
  result.loss = value.dataSync()[0]!;
  value.dispose();
  const byName = new Map<string, tf.Tensor>();
  for (const [name, variable] of entries) {
    const g = grads[variable.name];
    if (g) byName.set(name, g);
  }
  return { grads: byName, result };
}

/** One optimisation step of the hybrid loss on a batch. Leaves no tensors behind. */
export function trainStep(
  network: RamNetwork,
  optimizer: Adam,
  images: Float32Array,
  labels: Int32Array,
  learningRate: number,
  rng: Rng,
): StepResult {
  const { grads, result } = hybridGradients(network, images, labels, rng);
  optimizer.apply(grads, learningRate);
  for (const g of grads.values()) g.dispose();
  return result;
}
