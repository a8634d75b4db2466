import * as tf from '@tensorflow/tfjs';
import type { LossWeights } from './ram-config.js';
import { detach, type Rollout } from './ram-network.js';

export interface LossParts {
  total: tf.Scalar;
  classification: tf.Scalar;
  baseline: tf.Scalar;
  reinforce: tf.Scalar;
  /** Share of the batch classified correctly (the mean reward). */
  accuracy: number;
}

/**
 * The hybrid loss of RAM, all in one place:
 *   classification · CE(softmax(logits), y)           → action, core, glimpse networks
 * + baseline       · MSE(b_t, R)                       → baseline network
 * + reinforce      · −mean Σ_t log π(l_t) · (R − b_t)  → location network
 * R is 1 when the final prediction is right, else 0. Stop-gradients: the sampled
 * location l_t (unroll cuts it), and the baseline inside the advantage (R − b_t)
 * so REINFORCE does not move the baseline. R itself is a constant.
 */
export function hybridLoss(rollout: Rollout, labels: Int32Array, weights: LossWeights): LossParts {
  const batch = labels.length;
  const classes = rollout.logits.shape[1];
  const logits = rollout.logits.dataSync();
  const reward = new Float32Array(batch);
  for (let i = 0; i < batch; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[i * classes + k]! > logits[i * classes + best]!) best = k;
    reward[i] = best === labels[i] ? 1 : 0;
  }
  const accuracy = reward.reduce((a, b) => a + b, 0) / batch;

  const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
  const classification = tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(rollout.logits)), 1))) as tf.Scalar;

  let baseline: tf.Scalar = tf.scalar(0);
  let reinforce: tf.Scalar = tf.scalar(0);
  if (rollout.baselines) {
    const r = tf.tensor2d(reward, [batch, 1]);
    baseline = tf.mean<tf.Scalar>(tf.square(tf.sub(rollout.baselines, r)));
    if (rollout.logPi) {
      const advantage = tf.sub(r, detach(rollout.baselines));
      reinforce = tf.neg(tf.mean<tf.Scalar>(tf.sum(tf.mul(rollout.logPi, advantage), 1)));
    }
  }
  const total = tf.addN([
    classification.mul(weights.classification),
    baseline.mul(weights.baseline),
    reinforce.mul(weights.reinforce),
  ]) as tf.Scalar;
  return { total, classification, baseline, reinforce, accuracy };
}
