import { greedyPmf } from './greedy.js';

/**
 * Upper confidence bounds mean + α·σ (Li et al. 2010); all mass on the best bound,
 * shared among ties. `ucb` is scratch of length ≥ k.
 */
export function linUcbPmf(
  means: ArrayLike<number>,
  variances: ArrayLike<number>,
  k: number,
  alpha: number,
  ucb: Float64Array,
  out: Float64Array,
): void {
  for (let i = 0; i < k; i++) ucb[i] = means[i]! + alpha * Math.sqrt(Math.max(0, variances[i]!));
  greedyPmf(ucb, k, out);
}
