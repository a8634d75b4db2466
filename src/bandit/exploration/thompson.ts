import { greedyPmf } from './greedy.js';
import { CDF, PDF, STEPS, Z_MAX } from './normal-table.js';
import { addArgmaxVote } from './ties.js';
import type { Rng } from '../random/seeded-rng.js';

/** Posterior draws per decision when the scores are correlated: enough for a PMF resolution of 1/256. */
export const THOMPSON_DRAWS = 256;

/**
 * P(action is best under a posterior draw) for the joint Gaussian N(means, scale²·cov) over the k scores
 * (Agrawal & Goyal 2013). Sampling then draws from this PMF, so the logged probability is exactly the PMF's.
 *
 * Independent scores (a diagonal covariance: per-action posteriors) get the probabilities by quadrature,
 * deterministic and accurate to about 1e-5 (thompsonIndependentPmf); correlated ones are estimated from
 * `draws` seeded draws. `chol` and `z` are scratch of sizes ≥ k² and ≥ 2k.
 */
export function thompsonPmf(
  means: ArrayLike<number>,
  cov: ArrayLike<number>,
  k: number,
  scale: number,
  draws: number,
  rng: Rng,
  chol: Float64Array,
  z: Float64Array,
  out: Float64Array,
): void {
  if (isDiagonal(cov, k)) {
    thompsonIndependentPmf(means, cov, k, scale, out);
    return;
  }
  choleskyPsd(cov, k, chol);
  for (let i = 0; i < k; i++) out[i] = 0;
  // Win counts first, divided once at the end, so an always-winning action gets exactly 1.
  for (let d = 0; d < draws; d++) {
    for (let i = 0; i < k; i++) z[i] = rng.normal();
    for (let i = 0; i < k; i++) {
      let s = means[i]!;
      const row = i * k;
      for (let j = 0; j <= i; j++) s += scale * chol[row + j]! * z[j]!;
      z[k + i] = s;
    }
    addArgmaxVote(z, k, k, out);
  }
  for (let i = 0; i < k; i++) out[i] = out[i]! / draws;
}

function isDiagonal(cov: ArrayLike<number>, k: number): boolean {
  for (let i = 0; i < k; i++) {
    const row = i * k;
    for (let j = 0; j < k; j++) if (j !== i && cov[row + j] !== 0) return false;
  }
  return true;
}

/** Where each contender's density is cut into pieces for the quadrature (in its standard deviations). */
const BREAKS = [-3, -1.5, -0.5, 0.5, 1.5, 3];
/** 2-point Gauss–Legendre on [−1, 1] (weights 1). */
const GL_X = 1 / Math.sqrt(3);
/** Scores further than this many standard deviations below the best lower bound never win (P < 1e-8). */
const TAIL = 6;

let sdBuf = new Float64Array(16);
let cdBuf = new Float64Array(16);
let idxBuf = new Int32Array(16);
let ptsBuf = new Float64Array(16 * (BREAKS.length + 2));

/**
 * Thompson sampling's PMF for independent Gaussian scores X_a ~ N(means[a], scale²·cov[a,a]):
 * P(a best) = ∫ φ_a(x) Π_{b≠a} Φ_b(x) dx. Actions that cannot win (their upper tail ends below another's
 * lower tail) get 0; for the rest the integral is cut at every contender's μ ± {0.5, 1.5, 3}σ, so
 * each one's scale is resolved however different the σs are, and each piece gets 2-point Gauss–Legendre.
 * The integrand of every action at a node comes from one product F = Π Φ_b (φ_a·F/Φ_a); nodes where F is
 * negligible (the maximum almost surely lies above) are skipped. The result is normalised; its error against
 * the exact integral is below 2e-3 (tested; 5e-5 with 9 cuts and 3 points each, at twice the cost).
 * Hand-written: this integral is the strategy itself, and no library computes it.
 */
export function thompsonIndependentPmf(means: ArrayLike<number>, cov: ArrayLike<number>, k: number, scale: number, out: Float64Array): void {
  if (sdBuf.length < k) {
    sdBuf = new Float64Array(k * 2);
    cdBuf = new Float64Array(k * 2);
    idxBuf = new Int32Array(k * 2);
    ptsBuf = new Float64Array(k * 2 * (BREAKS.length + 2));
  }
  const sd = sdBuf;
  let maxSd = 0;
  for (let a = 0; a < k; a++) {
    const v = cov[a * k + a]!;
    sd[a] = v > 0 ? scale * Math.sqrt(v) : 0;
    if (sd[a]! > maxSd) maxSd = sd[a]!;
  }
  if (!(maxSd > 0) || !Number.isFinite(maxSd)) {
    greedyPmf(means, k, out);
    return;
  }
  // A certain score becomes a very narrow Gaussian (its quadrature pieces shrink with it).
  const minSd = maxSd * 1e-6;
  let lower = -Infinity;
  for (let a = 0; a < k; a++) {
    if (sd[a]! < minSd) sd[a] = minSd;
    const lo = means[a]! - TAIL * sd[a]!;
    if (lo > lower) lower = lo;
  }
  const idx = idxBuf;
  let c = 0;
  let upper = lower;
  for (let a = 0; a < k; a++) {
    out[a] = 0;
    const hi = means[a]! + TAIL * sd[a]!;
    if (hi > lower) {
      idx[c++] = a;
      if (hi > upper) upper = hi;
    }
  }
  if (c === 1) {
    out[idx[0]!] = 1;
    return;
  }
  const pts = ptsBuf;
  let n = 0;
  pts[n++] = lower;
  pts[n++] = upper;
  for (let t = 0; t < c; t++) {
    const a = idx[t]!;
    for (let b = 0; b < BREAKS.length; b++) {
      const x = means[a]! + BREAKS[b]! * sd[a]!;
      if (x > lower && x < upper) pts[n++] = x;
    }
  }
  // Insertion sort: a few dozen points, no allocation.
  for (let i = 1; i < n; i++) {
    const v = pts[i]!;
    let j = i - 1;
    while (j >= 0 && pts[j]! > v) {
      pts[j + 1] = pts[j]!;
      j--;
    }
    pts[j + 1] = v;
  }
  // Cuts closer than a third of the narrowest contender's σ add nothing that contender needs: many similar
  // posteriors (a fresh model) would otherwise interleave their cuts far more finely than any of them varies.
  let narrowest = Infinity;
  for (let t = 0; t < c; t++) if (sd[idx[t]!]! < narrowest) narrowest = sd[idx[t]!]!;
  const gap = narrowest / 3;
  let kept = 1;
  for (let i = 1; i < n - 1; i++) {
    if (pts[i]! - pts[kept - 1]! >= gap) pts[kept++] = pts[i]!;
  }
  pts[kept++] = pts[n - 1]!;
  n = kept;
  const cd = cdBuf;
  // Imported bindings copied to locals: under a CommonJS transform (tsx) every read of one is a getter call.
  const cdf = CDF;
  const pdf = PDF;
  const zMax = Z_MAX;
  const steps = STEPS;
  for (let s = 0; s + 1 < n; s++) {
    const lo = pts[s]!;
    const hi = pts[s + 1]!;
    if (!(hi > lo)) continue;
    const half = 0.5 * (hi - lo);
    const mid = 0.5 * (hi + lo);
    for (let g = -1; g <= 1; g += 2) {
      const x = mid + g * half * GL_X;
      // F = Π Φ_b(x) first: where the maximum almost surely lies above x, no action's integrand matters.
      let f = 1;
      for (let t = 0; t < c; t++) {
        const a = idx[t]!;
        const z = (x - means[a]!) / sd[a]!;
        // Table lookup of Φ(z) (normal-table.ts), inlined.
        let p: number;
        if (!(z > -zMax)) p = 0;
        else if (z >= zMax) p = 1;
        else {
          const u = (z + zMax) * steps;
          const i = u | 0;
          p = cdf[i]! + (u - i) * (cdf[i + 1]! - cdf[i]!);
        }
        cd[t] = p;
        f *= p;
      }
      if (!(f > 1e-12)) continue;
      for (let t = 0; t < c; t++) {
        const p = cd[t]!;
        const a = idx[t]!;
        const s2 = sd[a]!;
        const z = (x - means[a]!) / s2;
        if (!(z > -zMax) || z >= zMax) continue;
        const u = (z + zMax) * steps;
        const i = u | 0;
        const ph = (pdf[i]! + (u - i) * (pdf[i + 1]! - pdf[i]!)) / s2;
        out[a] = out[a]! + (half * ph * f) / p;
      }
    }
  }
  let total = 0;
  for (let t = 0; t < c; t++) total += out[idx[t]!]!;
  if (!(total > 0) || !Number.isFinite(total)) {
    greedyPmf(means, k, out);
    return;
  }
  for (let t = 0; t < c; t++) out[idx[t]!] = out[idx[t]!]! / total;
}

/**
 * Lower Cholesky factor of a symmetric positive semi-definite matrix; pivots that
 * are not positive (rank deficiency, round-off) give a zero column instead of NaN.
 */
export function choleskyPsd(a: ArrayLike<number>, k: number, l: Float64Array): void {
  for (let i = 0; i < k * k; i++) l[i] = 0;
  for (let j = 0; j < k; j++) {
    let d = a[j * k + j]!;
    for (let m = 0; m < j; m++) d -= l[j * k + m]! * l[j * k + m]!;
    if (!(d > 1e-14)) continue;
    const ljj = Math.sqrt(d);
    l[j * k + j] = ljj;
    for (let i = j + 1; i < k; i++) {
      let s = a[i * k + j]!;
      for (let m = 0; m < j; m++) s -= l[i * k + m]! * l[j * k + m]!;
      l[i * k + j] = s / ljj;
    }
  }
}
