/**
 * Neural-linear (Riquelme, Tucker & Snoek 2018): a small network (two hidden ReLU layers of `hidden` units) turns the example's
 * features into a representation z; every action id has an exact Bayesian linear head on [z, 1]
 * (Normal–inverse-gamma: its own noise variance), which Thompson sampling draws from.
 *
 * As in the paper, the network and the heads are fitted on the events seen so far rather than one step at a
 * time: the learner keeps the last `memory` events, and every `trainEvery` events (and at events 1, 2, 4, 8, …
 * before that) it trains the network on random draws of them (RMSProp on the squared error of a per-action
 * output layer, the paper's NeuralBanditModel), then rebuilds every head from scratch on the new
 * representation of the kept events. Between retrains the network is frozen and the heads take each event
 * exactly (Sherman–Morrison), so a head never describes a representation that has moved under it.
 *
 * Scale: rewards are standardised with the kept events' mean and standard deviation at each retrain (network
 * targets and heads alike, scores mapped back), and inputs are divided by the largest magnitude each feature
 * has shown (VW's normalised updates), so rewards on [0, 1] or [1, 50] and features of any range behave alike.
 *
 * Hand-written (no tfjs): a 2-layer network on a few sparse inputs is a few thousand flops per example,
 * far below the cost of a tensor call, and the linear algebra of the heads (rank-one updates, a Cholesky
 * inverse of a (h+1)² matrix) is the algorithm itself. Deterministic: training draws come from a generator
 * seeded by the event count, so replaying the same events rebuilds the same state.
 */
import type { Example } from '../features/example.js';
import { Xoshiro128 } from '../random/seeded-rng.js';
import { SnapshotFormatError, type SnapshotReader, type SnapshotWriter } from '../serialization/snapshot-codec.js';
import type { PosteriorLearner } from './learner.js';

export interface NeuralLinearOptions {
  hidden: number;
  /** Hash bits of the network's input table. */
  bits: number;
  /** RMSProp step size of the network. */
  bodyRate: number;
  /** Prior precision λ of the heads. */
  prior: number;
  /** Per-event forgetting factor of the heads' precision between retrains (1 = never forget). */
  forget: number;
  /** Events kept for retraining. */
  memory: number;
  /** Events between retrains. */
  trainEvery: number;
}

/** Network updates (single examples) per retrain. */
const TRAIN_SAMPLES = 1600;
/** RMSProp decay of the squared-gradient average. */
const RMS_DECAY = 0.9;
const RMS_EPS = 1e-8;
/** Largest standardised error a network update follows (a Huber-like clip). */
const ERROR_CLIP = 5;
/**
 * Weight of a head's prior guess of its noise variance, in events (the paper's inverse-gamma prior a0 = 6 is
 * worth 2·a0 − 2 = 10). The guess is the rewards' mean square E[r²] (the paper's b0/(a0 − 1) = 1.2 for rewards
 * around 1): until the residuals say otherwise, a reward is as uncertain as rewards are large, which keeps
 * Thompson sampling exploring where the representation is new. Scales with the rewards, as everything here.
 */
const NOISE_PRIOR_COUNT = 10;
const SNAPSHOT_VERSION = 2;

/** One action's Bayesian linear head on [z, 1], and its output weights in the network. */
class Head {
  /** Posterior mean and M⁻¹ (M = λI + Σ w·z zᵀ); the weight covariance is σ̂²·M⁻¹. */
  theta: Float64Array;
  minv: Float64Array;
  count = 0;
  sse = 0;
  /** The network's output layer for this action ([h weights, bias]) and its RMSProp averages. */
  out: Float64Array;
  outG2: Float64Array;

  constructor(d: number, prior: number) {
    this.theta = new Float64Array(d);
    this.minv = new Float64Array(d * d);
    for (let i = 0; i < d; i++) this.minv[i * d + i] = 1 / prior;
    this.out = new Float64Array(d);
    this.outG2 = new Float64Array(d);
  }

  resetPosterior(d: number, prior: number): void {
    this.theta.fill(0);
    this.minv.fill(0);
    for (let i = 0; i < d; i++) this.minv[i * d + i] = 1 / prior;
    this.count = 0;
    this.sse = 0;
  }

  /** σ̂² in standardised units, from the residuals and the prior guess `prior` (worth NOISE_PRIOR_COUNT events). */
  noise(prior: number): number {
    return (NOISE_PRIOR_COUNT * prior + this.sse) / (NOISE_PRIOR_COUNT + this.count);
  }
}

/** A kept event: the network's input (hashed rows and raw values), the action, the reward and its weight. */
interface Kept {
  rows: Int32Array;
  vals: Float64Array;
  action: string;
  reward: number;
  weight: number;
}

export class NeuralLinearLearner implements PosteriorLearner {
  readonly kind = 'neural-linear';
  private readonly h: number;
  private readonly dims: number;
  private readonly mask: number;
  private readonly opts: NeuralLinearOptions;
  /** Input table: row r (a hashed feature) holds its h weights; `ready` rows have their seeded initial values. */
  private readonly w1: Float32Array;
  private readonly ready: Uint8Array;
  /** Rows the network has trained (only these go into a snapshot), their RMSProp averages and input scales. */
  private readonly touched: Uint8Array;
  private readonly g2: Float32Array;
  private readonly scale: Float32Array;
  private readonly b1: Float64Array;
  private readonly b1G2: Float64Array;
  /** Second layer: h×h weights (row i: from hidden unit i of layer 1), biases, RMSProp averages. */
  private readonly w2: Float64Array;
  private readonly w2G2: Float64Array;
  private readonly b2: Float64Array;
  private readonly b2G2: Float64Array;
  private heads = new Map<string, Head>();
  private readonly priorHead: Head;
  private kept: Kept[] = [];
  /** Next slot of the ring of kept events. */
  private next = 0;
  private events = 0;
  private rewardMean = 0;
  private rewardSd = 1;
  /** The heads' prior noise variance, E[r²]/sd² (standardised units), as of the last retrain. */
  private noisePrior = 1;
  // Scratch.
  private readonly pre: Float64Array;
  private readonly pre2: Float64Array;
  private readonly a1: Float64Array;
  private readonly grad1: Float64Array;
  private readonly z: Float64Array;
  private readonly u: Float64Array;
  private readonly grad: Float64Array;
  private readonly cacheRows: Int32Array;
  private readonly cacheVals: Float64Array;
  private cacheN = -1;

  constructor(opts: NeuralLinearOptions) {
    this.opts = opts;
    this.h = opts.hidden;
    this.dims = opts.hidden + 1;
    const rows = 2 ** opts.bits;
    this.mask = rows - 1;
    this.w1 = new Float32Array(rows * this.h);
    this.ready = new Uint8Array(rows);
    this.touched = new Uint8Array(rows);
    this.g2 = new Float32Array(rows * this.h);
    this.scale = new Float32Array(rows);
    this.b1 = new Float64Array(this.h);
    this.b1G2 = new Float64Array(this.h);
    // Biases spread over [−1, 1]: the units' hyperplanes start at different offsets, not all through 0.
    const rng = new Xoshiro128(0x6e6c6231);
    for (let j = 0; j < this.h; j++) this.b1[j] = 2 * rng.next() - 1;
    // He initialisation of the second layer.
    this.w2 = new Float64Array(this.h * this.h);
    for (let i = 0; i < this.h * this.h; i++) this.w2[i] = rng.normal() * Math.sqrt(2 / this.h);
    this.w2G2 = new Float64Array(this.h * this.h);
    this.b2 = new Float64Array(this.h);
    this.b2G2 = new Float64Array(this.h);
    this.pre2 = new Float64Array(this.h);
    this.a1 = new Float64Array(this.h);
    this.grad1 = new Float64Array(this.h);
    this.priorHead = new Head(this.dims, opts.prior);
    this.pre = new Float64Array(this.h);
    this.z = new Float64Array(this.dims);
    this.u = new Float64Array(this.dims);
    this.grad = new Float64Array(this.h);
    this.cacheRows = new Int32Array(256);
    this.cacheVals = new Float64Array(256);
  }

  private initRow(r: number): void {
    // N(0, 1) weights seeded by the row index: inputs are scaled into [−1, 1].
    const rng = new Xoshiro128(r ^ 0x6e6e6e6e);
    const base = r * this.h;
    for (let j = 0; j < this.h; j++) this.w1[base + j] = rng.normal();
    this.ready[r] = 1;
  }

  /** The network's input of an example: its linear features but the constant and the action id (the heads are per action). */
  private input(ex: Example): { rows: Int32Array; vals: Float64Array } {
    let n = 0;
    for (let t = 1; t < ex.linearEnd; t++) if (t !== ex.contextEnd && ex.val[t] !== 0) n++;
    const rows = new Int32Array(n);
    const vals = new Float64Array(n);
    n = 0;
    for (let t = 1; t < ex.linearEnd; t++) {
      if (t === ex.contextEnd || ex.val[t] === 0) continue;
      rows[n] = ex.idx[t]! & this.mask;
      vals[n] = ex.val[t]!;
      n++;
    }
    return { rows, vals };
  }

  /** Forward pass of rows/vals[0..n) into z (length h+1, last entry 1); pre-activations into this.pre and this.pre2. */
  private forward(rows: ArrayLike<number>, vals: ArrayLike<number>, n: number, z: Float64Array): void {
    const h = this.h;
    const pre = this.pre;
    const w1 = this.w1;
    for (let j = 0; j < h; j++) pre[j] = this.b1[j]!;
    for (let t = 0; t < n; t++) {
      const r = rows[t]!;
      if (!this.ready[r]) this.initRow(r);
      const x = vals[t]!;
      const s = Math.max(this.scale[r]!, Math.abs(x));
      const xs = x / s;
      const base = r * h;
      for (let j = 0; j < h; j++) pre[j] = pre[j]! + xs * w1[base + j]!;
    }
    const a1 = this.a1;
    for (let j = 0; j < h; j++) a1[j] = pre[j]! > 0 ? pre[j]! : 0;
    const pre2 = this.pre2;
    const w2 = this.w2;
    for (let j = 0; j < h; j++) pre2[j] = this.b2[j]!;
    for (let i = 0; i < h; i++) {
      const ai = a1[i]!;
      if (ai === 0) continue;
      const row = i * h;
      for (let j = 0; j < h; j++) pre2[j] = pre2[j]! + ai * w2[row + j]!;
    }
    for (let j = 0; j < h; j++) z[j] = pre2[j]! > 0 ? pre2[j]! : 0;
    z[h] = 1;
  }

  /** Forward pass of an example, reusing the last one's z when its input is the same (actions without features). */
  private forwardExample(ex: Example, z: Float64Array): void {
    let n = 0;
    let same = true;
    const rows = this.cacheRows;
    const vals = this.cacheVals;
    for (let t = 1; t < ex.linearEnd; t++) {
      if (t === ex.contextEnd || ex.val[t] === 0) continue;
      const r = ex.idx[t]! & this.mask;
      const v = ex.val[t]!;
      if (n >= rows.length) {
        // Too many features to cache: plain pass.
        const { rows: rr, vals: vv } = this.input(ex);
        this.cacheN = -1;
        this.forward(rr, vv, rr.length, z);
        return;
      }
      if (same && (n >= this.cacheN || rows[n] !== r || vals[n] !== v)) same = false;
      rows[n] = r;
      vals[n] = v;
      n++;
    }
    if (same && n === this.cacheN) {
      z.set(this.z.subarray(0, this.dims));
      return;
    }
    this.forward(rows, vals, n, z);
    this.z.set(z.subarray(0, this.dims));
    this.cacheN = n;
  }

  private head(id: string): Head {
    return this.heads.get(id) ?? this.priorHead;
  }

  private headFor(id: string): Head {
    let head = this.heads.get(id);
    if (head === undefined) {
      head = new Head(this.dims, this.opts.prior);
      this.heads.set(id, head);
    }
    return head;
  }

  predict(ex: Example): number {
    const z = this.u;
    this.forwardExample(ex, z);
    const th = this.head(ex.actionId).theta;
    let s = 0;
    for (let i = 0; i < this.dims; i++) s += th[i]! * z[i]!;
    return this.rewardMean + this.rewardSd * s;
  }

  learn(ex: Example, label: number, weight: number): void {
    const { rows, vals } = this.input(ex);
    for (let t = 0; t < rows.length; t++) {
      const r = rows[t]!;
      const a = Math.abs(vals[t]!);
      if (a > this.scale[r]!) this.scale[r] = a;
    }
    const event: Kept = { rows, vals, action: ex.actionId, reward: label, weight };
    if (this.kept.length < this.opts.memory) this.kept.push(event);
    else this.kept[this.next] = event;
    this.next = (this.next + 1) % this.opts.memory;
    this.events++;
    this.cacheN = -1;
    const t = this.events;
    if (((t & (t - 1)) === 0 && t < this.opts.trainEvery) || t % this.opts.trainEvery === 0) {
      this.retrain();
      return;
    }
    // Between retrains: the frozen network's z, one exact update of the action's head.
    const z = this.u;
    this.forward(rows, vals, rows.length, z);
    this.updateHead(this.headFor(ex.actionId), z, (label - this.rewardMean) / this.rewardSd, weight, true);
  }

  /** Sherman–Morrison update of a head with [z, 1] and a standardised target. */
  private updateHead(head: Head, z: Float64Array, y: number, weight: number, forget: boolean): void {
    const d = this.dims;
    const { theta, minv } = head;
    const rho = this.opts.forget;
    if (forget && rho < 1) for (let i = 0; i < d * d; i++) minv[i] = minv[i]! / rho;
    const g = this.grad.length >= d ? this.grad : new Float64Array(d);
    let q = 0;
    let pred = 0;
    for (let i = 0; i < d; i++) {
      let s = 0;
      const row = i * d;
      for (let j = 0; j < d; j++) s += minv[row + j]! * z[j]!;
      g[i] = s;
      q += s * z[i]!;
      pred += theta[i]! * z[i]!;
    }
    if (!(q >= 0) || !Number.isFinite(q)) return;
    const gain = weight / (1 + weight * q);
    const e = y - pred;
    if (!(gain > 0) || !Number.isFinite(gain * e)) return;
    for (let i = 0; i < d; i++) theta[i] = theta[i]! + gain * g[i]! * e;
    // M⁻¹ −= s sᵀ with s = √gain·M⁻¹z: each product s_i·s_j is one float, so M⁻¹ stays exactly symmetric.
    const root = Math.sqrt(gain);
    for (let i = 0; i < d; i++) g[i] = root * g[i]!;
    for (let i = 0; i < d; i++) {
      const si = g[i]!;
      const row = i * d;
      for (let j = 0; j < d; j++) minv[row + j] = minv[row + j]! - si * g[j]!;
    }
    head.count += weight;
    head.sse += (weight * e * e) / (1 + weight * q);
  }

  /** The i-th oldest kept event (every pass goes oldest first, so a restored ring sums and draws alike). */
  private keptAt(i: number): Kept {
    const n = this.kept.length;
    const oldest = n < this.opts.memory ? 0 : this.next;
    return this.kept[(oldest + i) % n]!;
  }

  /** Trains the network on draws of the kept events, then rebuilds the reward scale and every head. */
  private retrain(): void {
    const n = this.kept.length;
    let mean = 0;
    for (let i = 0; i < n; i++) mean += this.keptAt(i).reward / n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (this.keptAt(i).reward - mean) ** 2 / n;
    // Rewards near the float range would overflow the scale: keep the last one.
    if (Number.isFinite(v) && Number.isFinite(mean * mean)) {
      this.rewardMean = mean;
      // A floor relative to the mean's magnitude: constant rewards must not divide by ~0.
      this.rewardSd = Math.max(Math.sqrt(v), 1e-3 * Math.max(1, Math.abs(mean)));
      this.noisePrior = (v + mean * mean) / (this.rewardSd * this.rewardSd);
    }
    this.train();
    this.rebuildHeads();
  }

  private train(): void {
    const n = this.kept.length;
    const h = this.h;
    const d = this.dims;
    const z = this.u;
    const pre = this.pre;
    const grad = this.grad;
    const rate = this.opts.bodyRate;
    if (!(rate > 0)) return;
    const rng = new Xoshiro128(Math.imul(this.events, 0x9e3779b1) ^ 0x7472616e);
    for (let s = 0; s < TRAIN_SAMPLES; s++) {
      const e = this.keptAt(Math.floor(rng.next() * n));
      this.forward(e.rows, e.vals, e.rows.length, z);
      const head = this.headFor(e.action);
      const out = head.out;
      let o = 0;
      for (let i = 0; i < d; i++) o += out[i]! * z[i]!;
      const y = (e.reward - this.rewardMean) / this.rewardSd;
      if (!Number.isFinite(y) || !Number.isFinite(o)) continue;
      let err = o - y;
      if (err > ERROR_CLIP) err = ERROR_CLIP;
      else if (err < -ERROR_CLIP) err = -ERROR_CLIP;
      err *= Math.min(e.weight, 10);
      // Backward through the output layer and the second layer into the first, then RMSProp on every weight touched.
      const pre2 = this.pre2;
      const a1 = this.a1;
      const w2 = this.w2;
      const grad1 = this.grad1;
      for (let j = 0; j < h; j++) grad1[j] = pre2[j]! > 0 ? err * out[j]! : 0;
      for (let i = 0; i < h; i++) {
        let s = 0;
        const row = i * h;
        for (let j = 0; j < h; j++) s += w2[row + j]! * grad1[j]!;
        grad[i] = pre[i]! > 0 ? s : 0;
      }
      const w2g2 = this.w2G2;
      for (let i = 0; i < h; i++) {
        const ai = a1[i]!;
        if (ai === 0) continue;
        const row = i * h;
        for (let j = 0; j < h; j++) {
          const g = ai * grad1[j]!;
          if (g === 0) continue;
          w2g2[row + j] = RMS_DECAY * w2g2[row + j]! + (1 - RMS_DECAY) * g * g;
          w2[row + j] = w2[row + j]! - (rate * g) / (Math.sqrt(w2g2[row + j]!) + RMS_EPS);
        }
      }
      for (let j = 0; j < h; j++) {
        const g = grad1[j]!;
        if (g === 0) continue;
        this.b2G2[j] = RMS_DECAY * this.b2G2[j]! + (1 - RMS_DECAY) * g * g;
        this.b2[j] = this.b2[j]! - (rate * g) / (Math.sqrt(this.b2G2[j]!) + RMS_EPS);
      }
      const og2 = head.outG2;
      for (let i = 0; i < d; i++) {
        const g = err * z[i]!;
        og2[i] = RMS_DECAY * og2[i]! + (1 - RMS_DECAY) * g * g;
        out[i] = out[i]! - (rate * g) / (Math.sqrt(og2[i]!) + RMS_EPS);
      }
      for (let j = 0; j < h; j++) {
        const g = grad[j]!;
        if (g === 0) continue;
        this.b1G2[j] = RMS_DECAY * this.b1G2[j]! + (1 - RMS_DECAY) * g * g;
        this.b1[j] = this.b1[j]! - (rate * g) / (Math.sqrt(this.b1G2[j]!) + RMS_EPS);
      }
      const g2 = this.g2;
      const w1 = this.w1;
      for (let t = 0; t < e.rows.length; t++) {
        const r = e.rows[t]!;
        this.touched[r] = 1;
        const xs = e.vals[t]! / Math.max(this.scale[r]!, Math.abs(e.vals[t]!));
        const base = r * h;
        for (let j = 0; j < h; j++) {
          const g = xs * grad[j]!;
          if (g === 0) continue;
          const acc = RMS_DECAY * g2[base + j]! + (1 - RMS_DECAY) * g * g;
          g2[base + j] = acc;
          // Read back the float32 value: a gradient whose square underflows must not divide by ~0.
          const stored = g2[base + j]!;
          if (!(stored > 0) || !Number.isFinite(stored)) continue;
          w1[base + j] = w1[base + j]! - (rate * g) / (Math.sqrt(stored) + RMS_EPS);
        }
      }
    }
  }

  /** Every head from scratch on the kept events' new representation: M = λI + Σ w·z zᵀ, θ = M⁻¹Σ w·z·y. */
  private rebuildHeads(): void {
    const d = this.dims;
    const z = this.u;
    const acc = new Map<string, { m: Float64Array; b: Float64Array; yy: number; count: number }>();
    for (let k = 0; k < this.kept.length; k++) {
      const e = this.keptAt(k);
      let a = acc.get(e.action);
      if (a === undefined) {
        a = { m: new Float64Array(d * d), b: new Float64Array(d), yy: 0, count: 0 };
        acc.set(e.action, a);
      }
      const y = (e.reward - this.rewardMean) / this.rewardSd;
      // A reward beyond the scale's reach (near the float range) is left out of the heads, as updateHead does.
      if (!Number.isFinite(y * y)) continue;
      this.forward(e.rows, e.vals, e.rows.length, z);
      const w = e.weight;
      const m = a.m;
      for (let i = 0; i < d; i++) {
        const wz = w * z[i]!;
        if (wz === 0) continue;
        const row = i * d;
        for (let j = i; j < d; j++) m[row + j] = m[row + j]! + wz * z[j]!;
        a.b[i] = a.b[i]! + wz * y;
      }
      a.yy += w * y * y;
      a.count += w;
    }
    for (const head of this.heads.values()) head.resetPosterior(d, this.opts.prior);
    for (const [action, a] of acc) {
      const head = this.headFor(action);
      const m = a.m;
      for (let i = 0; i < d; i++) {
        m[i * d + i] = m[i * d + i]! + this.opts.prior;
        for (let j = 0; j < i; j++) m[i * d + j] = m[j * d + i]!;
      }
      if (!invertSpd(m, d, head.minv)) continue;
      let fit = 0;
      for (let i = 0; i < d; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += head.minv[i * d + j]! * a.b[j]!;
        head.theta[i] = s;
        fit += s * a.b[i]!;
      }
      head.count = a.count;
      // Σ residuals of the ridge fit: yᵀy − θᵀZᵀy (what the rank-one updates accumulate one event at a time).
      head.sse = Math.max(0, a.yy - fit);
    }
  }

  posterior(examples: readonly Example[], k: number, means: Float64Array, cov: Float64Array): void {
    const d = this.dims;
    const z = this.u;
    const sd2 = this.rewardSd * this.rewardSd;
    for (let i = 0; i < k * k; i++) cov[i] = 0;
    for (let a = 0; a < k; a++) {
      const ex = examples[a]!;
      this.forwardExample(ex, z);
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
      means[a] = this.rewardMean + this.rewardSd * m;
      cov[a * k + a] = Math.max(0, v) * head.noise(this.noisePrior) * sd2;
      // Heads are independent per action id (two examples of one id share a head: fully correlated).
      for (let b = 0; b < a; b++) {
        if (examples[b]!.actionId === ex.actionId) {
          const c = Math.sqrt(cov[a * k + a]! * cov[b * k + b]!);
          cov[a * k + b] = c;
          cov[b * k + a] = c;
        }
      }
    }
  }

  write(w: SnapshotWriter): void {
    w.u32(SNAPSHOT_VERSION);
    w.u32(this.h);
    w.u32(this.mask + 1);
    w.f64(this.events);
    w.f64(this.rewardMean);
    w.f64(this.rewardSd);
    w.f64(this.noisePrior);
    w.f64Array(this.b1);
    w.f64Array(this.b1G2);
    w.f64Array(this.w2);
    w.f64Array(this.w2G2);
    w.f64Array(this.b2);
    w.f64Array(this.b2G2);
    let rows = 0;
    for (let r = 0; r <= this.mask; r++) if (this.touched[r] || this.scale[r] !== 0) rows++;
    w.u32(rows);
    for (let r = 0; r <= this.mask; r++) {
      if (!this.touched[r] && this.scale[r] === 0) continue;
      w.u32(r);
      w.u32(this.touched[r]!);
      w.f32(this.scale[r]!);
      if (!this.touched[r]) continue;
      const base = r * this.h;
      for (let j = 0; j < this.h; j++) w.f32(this.w1[base + j]!);
      for (let j = 0; j < this.h; j++) w.f32(this.g2[base + j]!);
    }
    w.u32(this.heads.size);
    for (const [id, head] of this.heads) {
      w.string(id);
      w.f64(head.count);
      w.f64(head.sse);
      w.f64Array(head.theta);
      w.f64Array(head.minv);
      w.f64Array(head.out);
      w.f64Array(head.outG2);
    }
    // The kept events, oldest first.
    w.u32(this.kept.length);
    for (let i = 0; i < this.kept.length; i++) {
      const e = this.keptAt(i);
      w.string(e.action);
      w.f64(e.reward);
      w.f64(e.weight);
      w.u32(e.rows.length);
      for (let t = 0; t < e.rows.length; t++) w.u32(e.rows[t]!);
      w.f64Array(e.vals);
    }
  }

  read(r: SnapshotReader): void {
    if (r.u32() !== SNAPSHOT_VERSION) throw new SnapshotFormatError('neural-linear snapshot of another version');
    if (r.u32() !== this.h || r.u32() !== this.mask + 1) throw new SnapshotFormatError('neural-linear snapshot has another shape');
    this.events = r.f64();
    this.rewardMean = r.f64();
    this.rewardSd = r.f64();
    this.noisePrior = r.f64();
    this.b1.set(r.f64Array(this.h));
    this.b1G2.set(r.f64Array(this.h));
    this.w2.set(r.f64Array(this.h * this.h));
    this.w2G2.set(r.f64Array(this.h * this.h));
    this.b2.set(r.f64Array(this.h));
    this.b2G2.set(r.f64Array(this.h));
    this.w1.fill(0);
    this.ready.fill(0);
    this.touched.fill(0);
    this.g2.fill(0);
    this.scale.fill(0);
    const rows = r.u32();
    for (let k = 0; k < rows; k++) {
      const row = r.u32();
      if (row > this.mask) throw new SnapshotFormatError('row index out of range');
      const touched = r.u32();
      this.scale[row] = r.f32();
      if (!touched) continue;
      this.touched[row] = 1;
      this.ready[row] = 1;
      const base = row * this.h;
      for (let j = 0; j < this.h; j++) this.w1[base + j] = r.f32();
      for (let j = 0; j < this.h; j++) this.g2[base + j] = r.f32();
    }
    const count = r.u32();
    this.heads = new Map();
    for (let k = 0; k < count; k++) {
      const id = r.string();
      const head = new Head(this.dims, this.opts.prior);
      head.count = r.f64();
      head.sse = r.f64();
      head.theta = r.f64Array(this.dims);
      head.minv = r.f64Array(this.dims * this.dims);
      head.out = r.f64Array(this.dims);
      head.outG2 = r.f64Array(this.dims);
      this.heads.set(id, head);
    }
    const n = r.u32();
    if (n > this.opts.memory) throw new SnapshotFormatError(`snapshot keeps ${n} events, memory is ${this.opts.memory}`);
    this.kept = [];
    for (let i = 0; i < n; i++) {
      const action = r.string();
      const reward = r.f64();
      const weight = r.f64();
      const len = r.u32();
      const rowsOf = new Int32Array(len);
      for (let t = 0; t < len; t++) {
        rowsOf[t] = r.u32();
        if (rowsOf[t]! > this.mask) throw new SnapshotFormatError('row index out of range');
      }
      const vals = r.f64Array(len);
      this.kept.push({ rows: rowsOf, vals, action, reward, weight });
    }
    this.next = n % this.opts.memory;
    this.cacheN = -1;
  }
}

/**
 * Inverse of a symmetric positive-definite d×d matrix by Cholesky (a = L Lᵀ, then L⁻¹ and L⁻ᵀL⁻¹), into
 * `out`; false (out untouched) if a pivot is not positive. Hand-written: one small dense inverse per head
 * and retrain, the regression's closed form.
 */
export function invertSpd(a: Float64Array, d: number, out: Float64Array): boolean {
  const l = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    let s = a[j * d + j]!;
    for (let m = 0; m < j; m++) s -= l[j * d + m]! * l[j * d + m]!;
    if (!(s > 0) || !Number.isFinite(s)) return false;
    const ljj = Math.sqrt(s);
    l[j * d + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      let t = a[i * d + j]!;
      for (let m = 0; m < j; m++) t -= l[i * d + m]! * l[j * d + m]!;
      l[i * d + j] = t / ljj;
    }
  }
  // inv(L), lower triangular.
  const li = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    li[j * d + j] = 1 / l[j * d + j]!;
    for (let i = j + 1; i < d; i++) {
      let s = 0;
      for (let m = j; m < i; m++) s -= l[i * d + m]! * li[m * d + j]!;
      li[i * d + j] = s / l[i * d + i]!;
    }
  }
  // a⁻¹ = L⁻ᵀL⁻¹: entry (i, j) = Σ_{m ≥ max(i,j)} li[m,i]·li[m,j]; computed once per pair, mirrored.
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      let s = 0;
      for (let m = j; m < d; m++) s += li[m * d + i]! * li[m * d + j]!;
      out[i * d + j] = s;
      out[j * d + i] = s;
    }
  }
  return true;
}
