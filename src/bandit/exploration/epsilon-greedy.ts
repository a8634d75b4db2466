import { maxAndTies } from './ties.js';

/**
 * ε spread uniformly, 1−ε on the best action (shared among ties). Every action
 * keeps at least ε/k, the floor that bounds IPS weights by k/ε.
 */
export function epsilonGreedyPmf(scores: ArrayLike<number>, k: number, epsilon: number, out: Float64Array): void {
  const { max, ties } = maxAndTies(scores, k);
  const floor = epsilon / k;
  const best = floor + (1 - epsilon) / ties;
  for (let i = 0; i < k; i++) out[i] = scores[i] === max ? best : floor;
}
