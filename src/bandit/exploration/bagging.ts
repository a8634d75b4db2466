import { addArgmaxVote } from './ties.js';

/**
 * Vote share of bootstrap replicas: each bag's argmax gets one vote (split among
 * its ties). `bagScores` is row-major bags × k.
 */
export function baggingPmf(bagScores: ArrayLike<number>, bags: number, k: number, out: Float64Array): void {
  for (let i = 0; i < k; i++) out[i] = 0;
  for (let b = 0; b < bags; b++) {
    addArgmaxVote(bagScores, b * k, k, out);
  }
  // Votes are counted first and divided once, so a unanimous action gets exactly 1.
  for (let i = 0; i < k; i++) out[i] = out[i]! / bags;
}
