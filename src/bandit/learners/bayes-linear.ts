/**
 * Dense Bayesian linear regression: hashed features are folded into a small
 * dense space of `dims` dimensions; the inverse covariance A⁻¹ is kept exactly
 * with Sherman–Morrison rank-one updates (recursive least squares). Gives the
 * posterior mean and covariance of scores, which linucb and thompson need.
 * Prior w ~ N(0, I/prior), reward noise variance `noise`.
 */
import { Example } from '../features/example.js';
import type { SnapshotReader, SnapshotWriter } from '../serialization/snapshot-codec.js';
import type { PosteriorLearner } from './learner.js';

export interface BayesLinearOptions {
  dims: number;
  prior: number;
  noise: number;
}

/** A folded example: dense values for the nonzero dims only. */
class Folded {
  pos: Int32Array;
  val: Float64Array;
  n = 0;
  constructor(cap: number) {
    this.pos = new Int32Array(cap);
    this.val = new Float64Array(cap);
  }
}

export class BayesLinearLearner implements PosteriorLearner {
  readonly kind = 'bayes-linear';
  readonly dims: number;
  private readonly noise: number;
  /** Row-major M⁻¹ with M = prior·I + Σ w·x xᵀ; the weight posterior covariance is noise·M⁻¹. */
  private ainv: Float64Array;
  private theta: Float64Array;
  private readonly dense: Float64Array;
  private readonly u: Float64Array;
  private folded: Folded[] = [];
  private vs = new Float64Array(0);

  constructor(opts: BayesLinearOptions) {
    const d = opts.dims;
    this.dims = d;
    this.noise = opts.noise;
    this.ainv = new Float64Array(d * d);
    const diag = 1 / opts.prior;
    for (let i = 0; i < d; i++) this.ainv[i * d + i] = diag;
    this.theta = new Float64Array(d);
    this.dense = new Float64Array(d);
    this.u = new Float64Array(d);
  }

  /** Folds hashed features into the dense space (collisions add up). */
  private fold(ex: Example, out: Folded): Folded {
    const d = this.dims;
    const dense = this.dense;
    if (out.pos.length < Math.min(ex.n, d)) {
      out.pos = new Int32Array(Math.min(ex.n, d) * 2);
      out.val = new Float64Array(Math.min(ex.n, d) * 2);
    }
    out.n = 0;
    for (let i = 0; i < ex.n; i++) {
      const j = (ex.idx[i]! >>> 0) % d;
      if (dense[j] === 0) out.pos[out.n++] = j;
      dense[j] = dense[j]! + ex.val[i]!;
      // An exact cancellation to 0 would re-add j; keep a marker so each dim is listed once.
      if (dense[j] === 0) dense[j] = Number.MIN_VALUE;
    }
    for (let t = 0; t < out.n; t++) {
      const j = out.pos[t]!;
      out.val[t] = dense[j] === Number.MIN_VALUE ? 0 : dense[j]!;
      dense[j] = 0;
    }
    return out;
  }

  private scratchFold = new Folded(64);

  predict(ex: Example): number {
    const f = this.fold(ex, this.scratchFold);
    let s = 0;
    for (let t = 0; t < f.n; t++) s += this.theta[f.pos[t]!]! * f.val[t]!;
    return s;
  }

  learn(ex: Example, label: number, weight: number): void {
    const f = this.fold(ex, this.scratchFold);
    if (f.n === 0) return;
    const d = this.dims;
    const ainv = this.ainv;
    const u = this.u;
    // u = A⁻¹x (A⁻¹ symmetric, so rows serve as columns).
    u.fill(0);
    for (let t = 0; t < f.n; t++) {
      const row = f.pos[t]! * d;
      const x = f.val[t]!;
      if (x === 0) continue;
      for (let i = 0; i < d; i++) u[i] = u[i]! + x * ainv[row + i]!;
    }
    let q = 0;
    let pred = 0;
    for (let t = 0; t < f.n; t++) {
      q += f.val[t]! * u[f.pos[t]!]!;
      pred += f.val[t]! * this.theta[f.pos[t]!]!;
    }
    // Sherman–Morrison: (M + w·x xᵀ)⁻¹ = M⁻¹ − w·u uᵀ/(1 + w·xᵀu).
    const gain = weight / (1 + weight * q);
    const err = label - pred;
    for (let i = 0; i < d; i++) this.theta[i] = this.theta[i]! + gain * u[i]! * err;
    for (let i = 0; i < d; i++) {
      const gi = gain * u[i]!;
      if (gi === 0) continue;
      const row = i * d;
      for (let j = 0; j < d; j++) ainv[row + j] = ainv[row + j]! - gi * u[j]!;
    }
  }

  posterior(examples: readonly Example[], k: number, means: Float64Array, cov: Float64Array): void {
    const d = this.dims;
    while (this.folded.length < k) this.folded.push(new Folded(64));
    if (this.vs.length < k * d) this.vs = new Float64Array(k * d);
    const vs = this.vs;
    const ainv = this.ainv;
    for (let a = 0; a < k; a++) {
      const f = this.fold(examples[a]!, this.folded[a]!);
      let m = 0;
      const base = a * d;
      for (let i = 0; i < d; i++) vs[base + i] = 0;
      for (let t = 0; t < f.n; t++) {
        const x = f.val[t]!;
        m += x * this.theta[f.pos[t]!]!;
        if (x === 0) continue;
        const row = f.pos[t]! * d;
        for (let i = 0; i < d; i++) vs[base + i] = vs[base + i]! + x * ainv[row + i]!;
      }
      means[a] = m;
    }
    for (let a = 0; a < k; a++) {
      const base = a * d;
      for (let b = a; b < k; b++) {
        const f = this.folded[b]!;
        let s = 0;
        for (let t = 0; t < f.n; t++) s += f.val[t]! * vs[base + f.pos[t]!]!;
        cov[a * k + b] = s * this.noise;
        cov[b * k + a] = s * this.noise;
      }
    }
  }

  write(w: SnapshotWriter): void {
    w.f64Array(this.theta);
    w.f64Array(this.ainv);
  }

  read(r: SnapshotReader): void {
    this.theta = r.f64Array(this.dims);
    this.ainv = r.f64Array(this.dims * this.dims);
  }
}
