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
let phBuf = new Float64Array(16);
let idxBuf = new Int32Array(16);
let ptsBuf = new Float64Array(16 * (BREAKS.length + 2));

/**
 * Thompson sampling's PMF for independent Gaussian scores X_a ~ N(means[a], scale²·cov[a,a]):
 * P(a best) = ∫ φ_a(x) Π_{b≠a} Φ_b(x) dx. Actions that cannot win (their upper tail ends below another's
 * lower tail) get 0; for the rest the integral is cut at every contender's μ ± {0.5, 1.5, 3}σ, so
 * each one's scale is resolved however different the σs are, and each piece gets 2-point Gauss–Legendre.
 * The integrand of every action at a node comes from one product F = Π Φ_b (φ_a·F/Φ_a). The result is
 * normalised; its error against the exact integral is below 2e-3 (tested; 5e-5 with 9 cuts and 3 points
 * each, at twice the cost). Hand-written: this integral is
 * the strategy itself, and no library computes the maximum of independent Gaussians.
 */
export function thompsonIndependentPmf(means: ArrayLike<number>, cov: ArrayLike<number>, k: number, scale: number, out: Float64Array): void {
  if (sdBuf.length < k) {
    sdBuf = new Float64Array(k * 2);
    cdBuf = new Float64Array(k * 2);
    phBuf = new Float64Array(k * 2);
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
  const cd = cdBuf;
  const ph = phBuf;
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
      let f = 1;
      for (let t = 0; t < c; t++) {
        const a = idx[t]!;
        const s2 = sd[a]!;
        const z = (x - means[a]!) / s2;
        // Table lookups of Φ(z) and φ(z) (normal-table.ts), inlined.
        if (!(z > -zMax)) {
          cd[t] = 0;
          ph[t] = 0;
          f = 0;
        } else if (z >= zMax) {
          cd[t] = 1;
          ph[t] = 0;
        } else {
          const u = (z + zMax) * steps;
          const i = u | 0;
          const r = u - i;
          const p = cdf[i]! + r * (cdf[i + 1]! - cdf[i]!);
          cd[t] = p;
          ph[t] = (pdf[i]! + r * (pdf[i + 1]! - pdf[i]!)) / s2;
          f *= p;
        }
      }
      if (f === 0) continue;
      for (let t = 0; t < c; t++) {
        const p = cd[t]!;
        if (p > 0) out[idx[t]!] = out[idx[t]!]! + (half * ph[t]! * f) / p;
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
