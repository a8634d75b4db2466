import { addArgmaxVote } from './ties.js';
import type { Rng } from '../random/seeded-rng.js';

/** Posterior draws per decision: enough for a PMF resolution of 1/256, cheap at k=10. */
export const THOMPSON_DRAWS = 256;

/**
 * P(action is best under a posterior draw), estimated from seeded draws of the
 * joint Gaussian N(means, scale²·cov) over the k scores (Agrawal & Goyal 2013).
 * Sampling then draws from this PMF, so the logged probability is exactly the PMF's.
 * `chol` and `z` are scratch of sizes ≥ k² and ≥ 2k.
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
