/**
 * Counterfactual (off-policy) value estimators with 95% intervals, computed in one
 * streaming pass: IPS, self-normalised IPS, the direct method and doubly robust
 * (Dudík et al. 2011), plus the effective sample size of the importance weights.
 *
 * Each event contributes one `EvaluationTerm` per evaluated policy: its importance
 * weight w = π(a|x)/μ(a|x) on the logged action, the logged reward, the reward
 * model's value of the policy Σ_a π(a|x)·q̂(x,a), and q̂(x, logged action).
 *
 * Interval: bootstrap percentile (as Open Bandit Pipeline's `estimate_confidence_interval_by_bootstrap`),
 * done as an *online Poisson bootstrap* (Oza & Russell 2001; Chamandy et al. 2012, "Estimating
 * uncertainty for massive data streams"): every replicate gives each event a Poisson(1) multiplicity
 * instead of resampling n indices, which is asymptotically the same resampling distribution but
 * needs O(replicates) memory instead of keeping the n per-event terms, so an evaluation's memory
 * does not grow with the log. Why a bootstrap rather than a normal or empirical-Bernstein interval:
 * importance-weighted rewards are skewed (a few large weights), where the percentile interval
 * follows the skew and a symmetric CLT interval does not; empirical-Bernstein bounds are valid
 * but far wider than 95% (they hold for every n), which makes "best by lower bound" pick the
 * logging policy almost always. The multiplicities come from an RNG seeded by the caller (the
 * evaluation's seed) and drawn in event order, so the same request over the same events gives
 * the same numbers; the caller shares one draw per event across all policies (a paired
 * bootstrap: differences between policies are resampled consistently).
 */
import { Xoshiro128 } from '../random/seeded-rng.js';

export interface EvaluationTerm {
  /** Importance weight π(a|x)/μ(a|x) of the logged action (≥ 0). */
  weight: number;
  reward: number;
  /** Σ_a π(a|x)·q̂(x,a): the reward model's value of the evaluated policy at this event. */
  modelValue: number;
  /** q̂(x, logged action). */
  modelLogged: number;
}

export const ESTIMATOR_NAMES = ['ips', 'snips', 'dr', 'dm'] as const;
export type EstimatorName = (typeof ESTIMATOR_NAMES)[number];

export interface Estimate {
  value: number;
  /** 95% bootstrap-percentile interval. */
  ci: [number, number];
}

export interface PolicyEstimates {
  events: number;
  estimates: Record<EstimatorName, Estimate>;
  /** (Σw)²/Σw²: how many on-policy events the log is worth for this policy. */
  effectiveSampleSize: number;
  /** Mean importance weight (≈ 1 when the logging policy covers the evaluated one). */
  meanWeight: number;
  maxWeight: number;
}

/** DR's per-event term: the reward model's value plus the importance-weighted correction of its error on the logged action. */
export function doublyRobustTerm(t: EvaluationTerm): number {
  return t.modelValue + t.weight * (t.reward - t.modelLogged);
}

/** Bootstrap replicates: 200 left the 2.5% tail resting on 5 replicates and covered 91–94% in the tests; 500 gives 94–96%. */
export const DEFAULT_REPLICATES = 500;

/** Cumulative distribution of Poisson(1) up to 12 (the remaining mass, ~1e-10, maps to 12). */
const POISSON1_CDF: Float64Array = (() => {
  const cdf = new Float64Array(13);
  let p = Math.exp(-1);
  let c = 0;
  for (let k = 0; k < 13; k++) {
    c += p;
    cdf[k] = c;
    p /= k + 1;
  }
  cdf[12] = 1;
  return cdf;
})();

/** One event's draw: the replicates that include it (sparse: about 37% of them draw 0) and how often. */
export interface BootstrapDraw {
  /** How many replicates include the event: entries [0, size) of `replicate` and `count` are valid. */
  size: number;
  replicate: Uint16Array;
  count: Uint8Array;
}

/**
 * Draws each event's Poisson(1) multiplicity in every bootstrap replicate, from a seeded
 * stream, and keeps each replicate's total multiplicity (its resample size, shared by
 * every policy weighed on the same events).
 */
export class PoissonBootstrap {
  readonly totals: Float64Array;
  private readonly draw: BootstrapDraw;
  private readonly rng: Xoshiro128;

  constructor(readonly replicates: number = DEFAULT_REPLICATES, seed = 0) {
    if (!Number.isInteger(replicates) || replicates < 1 || replicates > 65535) throw new RangeError('replicates must be an integer in [1, 65535]');
    this.totals = new Float64Array(replicates);
    this.draw = { size: 0, replicate: new Uint16Array(replicates), count: new Uint8Array(replicates) };
    this.rng = new Xoshiro128(seed);
  }

  /** The next event's multiplicities (the same object, overwritten). */
  next(): BootstrapDraw {
    const d = this.draw;
    let size = 0;
    for (let b = 0; b < this.replicates; b++) {
      const u = this.rng.nextUint32() / 4294967296;
      let k = 0;
      while (u >= POISSON1_CDF[k]!) k++;
      if (k === 0) continue;
      d.replicate[size] = b;
      d.count[size] = k;
      size++;
      this.totals[b] = this.totals[b]! + k;
    }
    d.size = size;
    return d;
  }
}

/** One policy's running sums: the full-sample estimates and each bootstrap replicate's. */
export class PolicyValueAccumulator {
  private n = 0;
  private sumW = 0;
  private sumW2 = 0;
  private maxW = 0;
  private sumWR = 0;
  private sumDm = 0;
  private sumDr = 0;
  /** Per replicate: Σk·w, Σk·w·r, Σk·dm, Σk·dr (Σk is the bootstrap's own `totals`). */
  private readonly bootW: Float64Array;
  private readonly bootWR: Float64Array;
  private readonly bootDm: Float64Array;
  private readonly bootDr: Float64Array;

  constructor(readonly replicates: number = DEFAULT_REPLICATES) {
    this.bootW = new Float64Array(replicates);
    this.bootWR = new Float64Array(replicates);
    this.bootDm = new Float64Array(replicates);
    this.bootDr = new Float64Array(replicates);
  }

  /** Adds one event; `draw` is the event's draw from the PoissonBootstrap shared by every policy. */
  add(t: EvaluationTerm, draw: BootstrapDraw): void {
    const w = t.weight;
    if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`importance weight must be finite and >= 0, got ${w}`);
    if (!Number.isFinite(t.reward)) throw new RangeError('reward must be finite');
    const wr = w * t.reward;
    const dm = t.modelValue;
    const dr = doublyRobustTerm(t);
    this.n++;
    this.sumW += w;
    this.sumW2 += w * w;
    if (w > this.maxW) this.maxW = w;
    this.sumWR += wr;
    this.sumDm += dm;
    this.sumDr += dr;
    const { bootW, bootWR, bootDm, bootDr } = this;
    const { replicate, count } = draw;
    for (let j = 0; j < draw.size; j++) {
      const b = replicate[j]!;
      const k = count[j]!;
      bootW[b] = bootW[b]! + k * w;
      bootWR[b] = bootWR[b]! + k * wr;
      bootDm[b] = bootDm[b]! + k * dm;
      bootDr[b] = bootDr[b]! + k * dr;
    }
  }

  get events(): number {
    return this.n;
  }

  /** `totals`: the shared bootstrap's resample sizes (PoissonBootstrap.totals). */
  result(totals: Float64Array): PolicyEstimates {
    const n = this.n;
    const point: Record<EstimatorName, number> = {
      ips: n > 0 ? this.sumWR / n : 0,
      snips: this.sumW > 0 ? this.sumWR / this.sumW : 0,
      dr: n > 0 ? this.sumDr / n : 0,
      dm: n > 0 ? this.sumDm / n : 0,
    };
    const reps: Record<EstimatorName, number[]> = { ips: [], snips: [], dr: [], dm: [] };
    for (let b = 0; b < this.replicates; b++) {
      const k = totals[b]!;
      if (k === 0) continue;
      reps.ips.push(this.bootWR[b]! / k);
      if (this.bootW[b]! > 0) reps.snips.push(this.bootWR[b]! / this.bootW[b]!);
      reps.dm.push(this.bootDm[b]! / k);
      reps.dr.push(this.bootDr[b]! / k);
    }
    const estimates = {} as Record<EstimatorName, Estimate>;
    for (const name of ESTIMATOR_NAMES) estimates[name] = { value: point[name], ci: percentileInterval(reps[name], point[name]) };
    return {
      events: n,
      estimates,
      effectiveSampleSize: this.sumW2 > 0 ? (this.sumW * this.sumW) / this.sumW2 : 0,
      meanWeight: n > 0 ? this.sumW / n : 0,
      maxWeight: this.maxW,
    };
  }
}

/** 2.5% and 97.5% quantiles (linear interpolation, numpy's default); the point value when there are no replicates. */
export function percentileInterval(values: number[], fallback: number): [number, number] {
  if (values.length === 0) return [fallback, fallback];
  const sorted = Float64Array.from(values).sort();
  return [quantile(sorted, 0.025), quantile(sorted, 0.975)];
}

function quantile(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Estimates for a batch of terms (tests, small logs): one PoissonBootstrap shared by nothing else. */
export function estimatePolicyValue(terms: Iterable<EvaluationTerm>, options: { replicates?: number; seed?: number } = {}): PolicyEstimates {
  const replicates = options.replicates ?? DEFAULT_REPLICATES;
  const bootstrap = new PoissonBootstrap(replicates, options.seed ?? 0);
  const acc = new PolicyValueAccumulator(replicates);
  for (const t of terms) acc.add(t, bootstrap.next());
  return acc.result(bootstrap.totals);
}
