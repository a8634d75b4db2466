/**
 * Two models' probabilities read as one (an ensemble of two, compared before serving one: models/README.md
 * rule 24). Used by eval:ram and eval:photos --average-with.
 */

/** The element-wise mean of two probability vectors of the same length. */
export function meanOf(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new RangeError(`meanOf: ${a.length} probabilities against ${b.length}`);
  return a.map((p, k) => (p + b[k]!) / 2);
}

/** The models' own `predicted` rule (src/attention/arg-max.ts), for the pair's mean. */
export { argMax } from '../../src/attention/arg-max.js';
