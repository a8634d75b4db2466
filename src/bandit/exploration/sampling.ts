import type { Rng } from '../random/seeded-rng.js';

/**
 * Draws an index from a PMF. Never returns an index with zero mass, even when
 * round-off leaves the cumulative sum a hair under the uniform draw.
 */
export function sample(pmf: ArrayLike<number>, rng: Rng, k = pmf.length): number {
  const u = rng.next();
  let cum = 0;
  let last = -1;
  for (let i = 0; i < k; i++) {
    const p = pmf[i]!;
    if (p <= 0) continue;
    cum += p;
    last = i;
    if (u < cum) return i;
  }
  if (last < 0) throw new RangeError('cannot sample from a PMF with no positive mass');
  return last;
}
