/**
 * Off-policy value estimates of a target policy from logged bandit events:
 * IPS, self-normalised IPS, doubly robust, and the effective sample size of the
 * importance weights (how many on-policy events the log is worth).
 */

export interface OffPolicyRecord {
  /** Probability the logging policy gave the logged action. */
  loggedProbability: number;
  /** Probability the evaluated policy gives the logged action. */
  targetProbability: number;
  reward: number;
  /** Optional: the evaluated policy's expected reward under the learner's model (for DR). */
  targetPredicted?: number;
  /** Optional: the learner's predicted reward of the logged action (for DR). */
  loggedPredicted?: number;
}

export interface OffPolicyEstimate {
  n: number;
  ips: number;
  snips: number;
  /** Doubly robust, when predictions were supplied. */
  dr?: number;
  /** Effective sample size of the importance weights. */
  effectiveSampleSize: number;
}

export function offPolicyEstimate(records: readonly OffPolicyRecord[]): OffPolicyEstimate {
  const n = records.length;
  let sumW = 0;
  let sumW2 = 0;
  let sumWR = 0;
  let sumDr = 0;
  let hasDr = n > 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    if (!(r.loggedProbability > 0 && r.loggedProbability <= 1)) {
      throw new RangeError(`records[${i}].loggedProbability must be in (0, 1]`);
    }
    if (!(r.targetProbability >= 0 && r.targetProbability <= 1)) {
      throw new RangeError(`records[${i}].targetProbability must be in [0, 1]`);
    }
    if (!Number.isFinite(r.reward)) throw new RangeError(`records[${i}].reward must be finite`);
    const w = r.targetProbability / r.loggedProbability;
    sumW += w;
    sumW2 += w * w;
    sumWR += w * r.reward;
    if (r.targetPredicted !== undefined && r.loggedPredicted !== undefined) {
      // DR: the model's value plus the importance-weighted correction of its error.
      sumDr += r.targetPredicted + w * (r.reward - r.loggedPredicted);
    } else {
      hasDr = false;
    }
  }
  const estimate: OffPolicyEstimate = {
    n,
    ips: n > 0 ? sumWR / n : 0,
    snips: sumW > 0 ? sumWR / sumW : 0,
    effectiveSampleSize: sumW2 > 0 ? (sumW * sumW) / sumW2 : 0,
  };
  if (hasDr) estimate.dr = sumDr / n;
  return estimate;
}
