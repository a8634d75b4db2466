/**
 * The regression oracle behind every strategy: it scores an example (one
 * context × action) and learns from a logged reward. Explorers only turn these
 * scores into a PMF; a learner learns the same whichever explorer sits on top.
 */
import type { Example } from '../features/example.js';
import type { SnapshotReader, SnapshotWriter } from '../serialization/snapshot-codec.js';

export interface Learner {
  /** Tag written into snapshots so state is never read into a different kind of learner. */
  readonly kind: string;
  /** Predicted reward of one example. Must not change learned state. */
  predict(ex: Example): number;
  /**
   * Optional, the same numbers as predict() for each of k examples of one context (out[at + a]), with less work:
   * the encoder's examples of one context share their first `contextEnd` features (the constant and the context).
   */
  predictContext?(examples: readonly Example[], k: number, out: Float64Array, at: number): void;
  /** One update toward `label` with importance `weight` (> 0). Deterministic. */
  learn(ex: Example, label: number, weight: number): void;
  write(w: SnapshotWriter): void;
  read(r: SnapshotReader): void;
}

/**
 * A learner with a Gaussian posterior over its scores (linucb, thompson,
 * neural-linear): the joint mean and covariance of the scores of k examples.
 */
export interface PosteriorLearner extends Learner {
  /** Fills means[0..k) and the row-major k×k covariance of the scores. Must not change learned state. */
  posterior(examples: readonly Example[], k: number, means: Float64Array, cov: Float64Array): void;
}

export function isPosteriorLearner(l: Learner): l is PosteriorLearner {
  return typeof (l as Partial<PosteriorLearner>).posterior === 'function';
}
