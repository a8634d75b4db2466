/**
 * Neural-linear (Riquelme, Tucker & Snoek 2018): a small MLP body turns the
 * context (and action features) into a representation z; each action id has a
 * Bayesian linear head on [z, 1] with an exact posterior (Sherman–Morrison),
 * which Thompson sampling draws from. The body learns by SGD through the heads'
 * posterior means (AdaGrad); the heads forget slowly (factor `forget`) so their posteriors
 * follow the moving representation.
 *
 * Body input: the example's linear features (no interactions), L2-normalised so
 * pre-activations stay O(1) whatever the number of features. Weight rows of the
 * hashed input table are initialised deterministically from their index, so only
 * rows that were ever updated need to be stored in a snapshot.
 */
import type { Example } from '../features/example.js';
import { Xoshiro128 } from '../random/seeded-rng.js';
import { SnapshotFormatError, type SnapshotReader, type SnapshotWriter } from '../serialization/snapshot-codec.js';
import type { PosteriorLearner } from './learner.js';

export interface NeuralLinearOptions {
  hidden: number;
  /** Hash bits of the body's input table. */
  bits: number;
  /** Body SGD step size. */
  bodyRate: number;
  prior: number;
  noise: number;
  /** Per-update forgetting factor of the heads' precision (1 = never forget). */
  forget: number;
}

/** One action's Bayesian linear head on [z, 1]. */
class Head {
  theta: Float64Array;
  /** M⁻¹ with M = prior·I + Σ x xᵀ (forgetting applied); weight covariance is noise·M⁻¹. */
  minv: Float64Array;
  constructor(dims: number, prior: number) {
    this.theta = new Float64Array(dims);
    this.minv = new Float64Array(dims * dims);
    for (let i = 0; i < dims; i++) this.minv[i * dims + i] = 1 / prior;
  }
}

export class NeuralLinearLearner implements PosteriorLearner {
  readonly kind = 'neural-linear';
  private readonly h: number;
  private readonly dims: number;
  private readonly mask: number;
  private readonly opts: NeuralLinearOptions;
  /** Input table: row i (hashed feature) holds its h weights. */
  private readonly w1: Float32Array;
  private readonly touched: Uint8Array;
  private readonly b1: Float64Array;
  /** AdaGrad accumulators of the input table and the biases. */
  private readonly g2: Float32Array;
  private readonly b2: Float64Array;
  private heads = new Map<string, Head>();
  private readonly priorHead: Head;
  // Scratch.
  private readonly pre: Float64Array;
  private readonly z: Float64Array;
  private readonly u: Float64Array;
  private readonly grad: Float64Array;
  private zs = new Float64Array(0);

  constructor(opts: NeuralLinearOptions) {
    this.opts = opts;
    this.h = opts.hidden;
    this.dims = opts.hidden + 1;
    const rows = 2 ** opts.bits;
    this.mask = rows - 1;
    this.w1 = new Float32Array(rows * this.h);
    this.touched = new Uint8Array(rows);
    for (let r = 0; r < rows; r++) this.initRow(r);
    this.b1 = new Float64Array(this.h);
    this.g2 = new Float32Array(rows * this.h);
    this.b2 = new Float64Array(this.h);
    this.priorHead = new Head(this.dims, opts.prior);
    this.pre = new Float64Array(this.h);
    this.z = new Float64Array(this.dims);
    this.u = new Float64Array(this.dims);
    this.grad = new Float64Array(this.h);
  }

  private initRow(r: number): void {
    // N(0, 1) weights seeded by the row index: the input is unit-norm, so pre-activations start ~N(0, 1).
    const rng = new Xoshiro128(r ^ 0x6e6e6e6e);
    const base = r * this.h;
    for (let j = 0; j < this.h; j++) this.w1[base + j] = rng.normal();
  }

  /** Body forward pass into `z` (length h+1, last entry the bias 1); returns the input's L2 norm. */
  private forward(ex: Example, z: Float64Array, zOff: number): number {
    const h = this.h;
    const pre = this.pre;
    const w1 = this.w1;
    const mask = this.mask;
    pre.fill(0);
    let norm2 = 0;
    // Skip the constant (index 0) and the action id (first action feature): heads are per action already.
    for (let t = 1; t < ex.linearEnd; t++) {
      if (t === ex.contextEnd) continue;
      const x = ex.val[t]!;
      norm2 += x * x;
      const base = (ex.idx[t]! & mask) * h;
      for (let j = 0; j < h; j++) pre[j] = pre[j]! + x * w1[base + j]!;
    }
    const inv = norm2 > 0 ? 1 / Math.sqrt(norm2) : 0;
    for (let j = 0; j < h; j++) {
      const a = pre[j]! * inv + this.b1[j]!;
      pre[j] = a;
      z[zOff + j] = a > 0 ? a : 0;
    }
    z[zOff + h] = 1;
    return inv;
  }

  private head(id: string): Head {
    return this.heads.get(id) ?? this.priorHead;
  }

  predict(ex: Example): number {
    this.forward(ex, this.z, 0);
    const th = this.head(ex.actionId).theta;
    let s = 0;
    for (let i = 0; i < this.dims; i++) s += th[i]! * this.z[i]!;
    return s;
  }

  learn(ex: Example, label: number, weight: number): void {
    const d = this.dims;
    const z = this.z;
    const inv = this.forward(ex, z, 0);
    let head = this.heads.get(ex.actionId);
    if (head === undefined) {
      head = new Head(d, this.opts.prior);
      this.heads.set(ex.actionId, head);
    }
    const { theta, minv } = head;
    let pred = 0;
    for (let i = 0; i < d; i++) pred += theta[i]! * z[i]!;

    // Body: one SGD step on (pred − label)² through the head's mean, before the head moves.
    const err = pred - label;
    const g = this.grad;
    let gnorm = 0;
    for (let j = 0; j < this.h; j++) {
      g[j] = this.pre[j]! > 0 ? err * theta[j]! : 0;
      gnorm += g[j]! * g[j]!;
    }
    // Clip the gradient so a large importance weight or a stale head cannot blow the body up.
    const clip = gnorm > 1 ? 1 / Math.sqrt(gnorm) : 1;
    const step = this.opts.bodyRate * Math.min(weight, 10);
    if (step > 0 && gnorm > 0 && Number.isFinite(gnorm)) {
      const h = this.h;
      // AdaGrad per weight: rare input features still move quickly, frequent ones settle.
      const g2 = this.g2;
      for (let t = 1; t < ex.linearEnd; t++) {
        if (t === ex.contextEnd) continue;
        const r = ex.idx[t]! & this.mask;
        this.touched[r] = 1;
        const xs = ex.val[t]! * inv;
        const base = r * h;
        for (let j = 0; j < h; j++) {
          const gj = xs * g[j]! * clip;
          if (gj === 0) continue;
          g2[base + j] = g2[base + j]! + gj * gj;
          // Read back the float32 value: a gradient whose square underflows must not divide by 0.
          const acc = g2[base + j]!;
          if (!(acc > 0) || !Number.isFinite(acc)) continue;
          this.w1[base + j] = this.w1[base + j]! - (step * gj) / Math.sqrt(acc);
        }
      }
      for (let j = 0; j < h; j++) {
        const gj = g[j]! * clip;
        if (gj === 0) continue;
        this.b2[j] = this.b2[j]! + gj * gj;
        if (!(this.b2[j]! > 0) || !Number.isFinite(this.b2[j]!)) continue;
        this.b1[j] = this.b1[j]! - (step * gj) / Math.sqrt(this.b2[j]!);
      }
    }

    // Head: forgetting, then a Sherman–Morrison update with the (pre-step) representation.
    const rho = this.opts.forget;
    if (rho < 1) for (let i = 0; i < d * d; i++) minv[i] = minv[i]! / rho;
    const u = this.u;
    let q = 0;
    for (let i = 0; i < d; i++) {
      let s = 0;
      const row = i * d;
      for (let j = 0; j < d; j++) s += minv[row + j]! * z[j]!;
      u[i] = s;
      q += s * z[i]!;
    }
    const gain = weight / (1 + weight * q);
    const e = label - pred;
    for (let i = 0; i < d; i++) theta[i] = theta[i]! + gain * u[i]! * e;
    for (let i = 0; i < d; i++) {
      const gi = gain * u[i]!;
      const row = i * d;
      for (let j = 0; j < d; j++) minv[row + j] = minv[row + j]! - gi * u[j]!;
    }
  }

  posterior(examples: readonly Example[], k: number, means: Float64Array, cov: Float64Array): void {
    const d = this.dims;
    if (this.zs.length < d) this.zs = new Float64Array(d);
    const z = this.zs;
    for (let i = 0; i < k * k; i++) cov[i] = 0;
    for (let a = 0; a < k; a++) {
      const ex = examples[a]!;
      this.forward(ex, z, 0);
      const head = this.head(ex.actionId);
      let m = 0;
      let v = 0;
      for (let i = 0; i < d; i++) {
        m += head.theta[i]! * z[i]!;
        let s = 0;
        const row = i * d;
        for (let j = 0; j < d; j++) s += head.minv[row + j]! * z[j]!;
        v += s * z[i]!;
      }
      means[a] = m;
      // Heads are independent per action id, except two actions sharing an id (same head).
      cov[a * k + a] = v * this.opts.noise;
      for (let b = 0; b < a; b++) {
        if (examples[b]!.actionId === ex.actionId) {
          cov[a * k + b] = cov[b * k + b]!;
          cov[b * k + a] = cov[b * k + b]!;
        }
      }
    }
  }

  write(w: SnapshotWriter): void {
    w.u32(this.h);
    w.u32(this.mask + 1);
    w.f64Array(this.b1);
    w.f64Array(this.b2);
    let rows = 0;
    for (let r = 0; r <= this.mask; r++) if (this.touched[r]) rows++;
    w.u32(rows);
    for (let r = 0; r <= this.mask; r++) {
      if (!this.touched[r]) continue;
      w.u32(r);
      const base = r * this.h;
      for (let j = 0; j < this.h; j++) w.f32(this.w1[base + j]!);
      for (let j = 0; j < this.h; j++) w.f32(this.g2[base + j]!);
    }
    w.u32(this.heads.size);
    for (const [id, head] of this.heads) {
      w.string(id);
      w.f64Array(head.theta);
      w.f64Array(head.minv);
    }
  }

  read(r: SnapshotReader): void {
    if (r.u32() !== this.h || r.u32() !== this.mask + 1) throw new SnapshotFormatError('neural-linear snapshot has another shape');
    this.b1.set(r.f64Array(this.h));
    this.b2.set(r.f64Array(this.h));
    for (let row = 0; row <= this.mask; row++) {
      if (this.touched[row]) {
        this.initRow(row);
        this.g2.fill(0, row * this.h, (row + 1) * this.h);
        this.touched[row] = 0;
      }
    }
    const rows = r.u32();
    for (let k = 0; k < rows; k++) {
      const row = r.u32();
      if (row > this.mask) throw new SnapshotFormatError('row index out of range');
      this.touched[row] = 1;
      const base = row * this.h;
      for (let j = 0; j < this.h; j++) this.w1[base + j] = r.f32();
      for (let j = 0; j < this.h; j++) this.g2[base + j] = r.f32();
    }
    const count = r.u32();
    this.heads = new Map();
    for (let k = 0; k < count; k++) {
      const id = r.string();
      const head = new Head(this.dims, this.opts.prior);
      head.theta = r.f64Array(this.dims);
      head.minv = r.f64Array(this.dims * this.dims);
      this.heads.set(id, head);
    }
  }
}
