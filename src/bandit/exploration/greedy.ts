import { maxAndTies } from './ties.js';

/** All mass on the best-scoring action; tied best actions share it equally. */
export function greedyPmf(scores: ArrayLike<number>, k: number, out: Float64Array): void {
  const { max, ties } = maxAndTies(scores, k);
  const p = 1 / ties;
  for (let i = 0; i < k; i++) out[i] = scores[i] === max ? p : 0;
}
