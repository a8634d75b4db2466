/**
 * A floor on every action's probability (VW's `enforce_minimum_probability`), so that
 * a log written by a strategy that puts all its mass on one action (greedy, LinUCB)
 * still gives every action a known, positive propensity and stays evaluable.
 *
 * Unlike VW's single pass, the mass above the floor is rescaled until no rescaled
 * entry falls below the floor (at most k rounds), so the floor holds exactly:
 * every p ≥ min, Σp = 1, and the order of the entries is kept. A floor of 1/k or
 * more gives the uniform PMF; a PMF with every entry above the floor is left unchanged.
 */
export function enforceMinimumProbability(pmf: Float64Array | number[], k: number, min: number): void {
  if (!(min > 0) || k === 0) return;
  if (min * k >= 1) {
    for (let i = 0; i < k; i++) pmf[i] = 1 / k;
    return;
  }
  for (let round = 0; round < k; round++) {
    let floored = 0;
    let rest = 0;
    for (let i = 0; i < k; i++) {
      if (pmf[i]! <= min) floored++;
      else rest += pmf[i]!;
    }
    // Nothing at or under the floor: the PMF is left as the strategy gave it (rescaling by Σp, 1 up to round-off,
    // only turned a uniform 0.1 into 0.10000000000000002: 16 more digits in every answer and log row).
    if (floored === 0) return;
    const scale = (1 - floored * min) / rest;
    let moved = false;
    for (let i = 0; i < k; i++) {
      if (pmf[i]! <= min) pmf[i] = min;
      else {
        pmf[i] = pmf[i]! * scale;
        if (pmf[i]! < min) moved = true;
      }
    }
    if (!moved) return;
  }
}
