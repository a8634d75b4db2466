/**
 * Two models' probabilities read as one (an ensemble of two, compared before serving one: models/README.md
 * rule 24). Used by eval:ram and eval:photos --average-with.
 */

/** The element-wise mean of two probability vectors of the same length. */
export function meanOf(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new RangeError(`meanOf: ${a.length} probabilities against ${b.length}`);
  return a.map((p, k) => (p + b[k]!) / 2);
}

/** The index of the largest value (the first of equal ones), as the models' own `predicted`. */
export function argMax(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('argMax of no values');
  let best = 0;
  for (let k = 1; k < values.length; k++) if (values[k]! > values[best]!) best = k;
  return best;
}
