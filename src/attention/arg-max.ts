/** The index of the largest value (the first of equal ones): a classification's `predicted` from its probabilities. */
export function argMax(values: ArrayLike<number>): number {
  if (values.length === 0) throw new RangeError('argMax of no values');
  let best = 0;
  for (let k = 1; k < values.length; k++) if (values[k]! > values[best]!) best = k;
  return best;
}
