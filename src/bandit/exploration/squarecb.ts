import { maxAndTies } from './ties.js';

/**
 * Inverse-gap weighting (Foster & Rakhlin 2020, as in VW's cb_explore_adf_squarecb):
 * a non-best action gets 1/(k + γ·gap), the best actions share the rest.
 */
export function squareCbPmf(scores: ArrayLike<number>, k: number, gamma: number, out: Float64Array): void {
  const { max, ties } = maxAndTies(scores, k);
  let rest = 0;
  for (let i = 0; i < k; i++) {
    const s = scores[i]!;
    if (s === max) continue;
    const p = 1 / (k + gamma * (max - s));
    out[i] = p;
    rest += p;
  }
  const best = (1 - rest) / ties;
  for (let i = 0; i < k; i++) if (scores[i] === max) out[i] = best;
}

/** γ_t = γ0·t^exponent, t = number of learning updates so far (VW's default exponent is 0.5). */
export function squareCbGamma(gamma0: number, exponent: number, updates: number): number {
  return gamma0 * Math.pow(updates, exponent);
}
