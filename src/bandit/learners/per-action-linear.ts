/**
 * Per-action Bayesian linear regression (disjoint LinUCB/LinTS, Li et al. 2010; Riquelme et al. 2018's
 * LinFullPost): every action id has its own posterior over the weights of the example's features, so no
 * feature is folded into a space shared with other actions and no context × action crossing is needed.
 *
 * Every feature learned gets its own dense dimension (a slot, shared by the heads' dictionary), in the order
 * features are first learned, up to `dims` slots; beyond that, new features are hashed into the existing slots
 * (the hashing trick). A head covers the slots up to the largest it has learned; covering a new one is exact:
 * the prior is independent across weights, so a new dimension is a row and column that are zero but for 1/λ
 * on the diagonal.
 *
 * The posterior is the Normal–inverse-gamma one: w | σ² ~ N(θ, σ²·A⁻¹) with A = λI + Σ w·x xᵀ, kept with
 * exact rank-one Sherman–Morrison updates of A⁻¹ (hand-written: this recursive least squares update is the
 * learner's algorithm, O(d²) per event where a library solve would be O(d³)); σ² is estimated per action
 * from the residuals, its prior worth two observations of variance `noise`:
 * σ̂² = (2·noise + Σ w·e²/(1 + w·xᵀA⁻¹x)) / (2 + Σ w), with e the residual before the update (the RLS identity
 * for yᵀy − θᵀXᵀy). So the scores' uncertainty follows the rewards' own scale: [0, 1], [−1, 1] or [1, 50].
 */
import type { Example } from '../features/example.js';
import { SnapshotFormatError, type SnapshotReader, type SnapshotWriter } from '../serialization/snapshot-codec.js';
import type { PosteriorLearner } from './learner.js';

export interface PerActionLinearOptions {
  /** Most slots (dense dimensions) per action. */
  dims: number;
  /** Prior precision λ of the weights (relative to σ²). */
  prior: number;
  /** Prior guess of the reward noise variance σ². */
  noise: number;
}

/** Prior weight of `noise`, in observations. */
const NOISE_PRIOR_COUNT = 2;

class Head {
  /** Slots (of the learner's dictionary) this head covers, [0, d), and allocated (A⁻¹ has row stride `cap`). */
  d = 0;
  cap: number;
  theta: Float64Array;
  /** A⁻¹'s upper triangle (entry (i, j), i ≤ j, at i·cap + j): a rank-one update then touches d²/2 entries. */
  ainv: Float64Array;
  /** Σ w and Σ w·e²/(1 + w·q): the residual statistics of σ̂². */
  count = 0;
  sse = 0;

  constructor(cap: number) {
    this.cap = cap;
    this.theta = new Float64Array(cap);
    this.ainv = new Float64Array(cap * cap);
  }

  /** Covers slots [0, d): new ones start at the prior (zero mean, 1/λ on the diagonal, independent of the rest). */
  cover(d: number, prior: number): void {
    if (d <= this.d) return;
    if (d > this.cap) {
      const cap = Math.max(d, this.cap * 2);
      const ainv = new Float64Array(cap * cap);
      for (let i = 0; i < this.d; i++) ainv.set(this.ainv.subarray(i * this.cap, i * this.cap + this.d), i * cap);
      const theta = new Float64Array(cap);
      theta.set(this.theta.subarray(0, this.d));
      this.ainv = ainv;
      this.theta = theta;
      this.cap = cap;
    }
    for (let i = this.d; i < d; i++) this.ainv[i * this.cap + i] = 1 / prior;
    this.d = d;
  }
}

export class PerActionLinearLearner implements PosteriorLearner {
  readonly kind = 'bayes-linear-per-action';
  private readonly opts: PerActionLinearOptions;
  private heads = new Map<string, Head>();
  /**
   * Feature hash → slot, shared by the heads (a head covers the slots up to the largest it has learned; the
   * rest are at its prior). One dictionary lets a decision look the context's features up once for every action.
   */
  private slots = new Map<number, number>();
  private hashes = new Int32Array(64);
  private d = 0;
  /** Scratch: the slot of each feature of the example being scored or learned (−1: a feature never learned). */
  private pos = new Int32Array(64);
  private u = new Float64Array(64);
  private readonly lastIdx = new Int32Array(256);
  private lastContextEnd = -1;

  constructor(opts: PerActionLinearOptions) {
    this.opts = opts;
  }

  /** σ̂² of a head (the prior guess for an action never learned). */
  private noise(head: Head | undefined): number {
    if (head === undefined) return this.opts.noise;
    return (NOISE_PRIOR_COUNT * this.opts.noise + head.sse) / (NOISE_PRIOR_COUNT + head.count);
  }

  /**
   * The slot of each feature of `ex` from `from` on, into this.pos. Learning (`grow`) gives unseen features new
   * slots while the dictionary has room (`dims`); once it is full every unseen feature is hashed into the slots.
   * Scoring leaves a feature never learned at −1 while there is room (its weight is still the prior's).
   */
  private locate(ex: Example, grow: boolean, from = 0): void {
    const n = ex.n;
    if (this.pos.length < n) {
      const pos = new Int32Array(n * 2);
      pos.set(this.pos.subarray(0, from));
      this.pos = pos;
    }
    const pos = this.pos;
    const dims = this.opts.dims;
    for (let t = from; t < n; t++) {
      const h = ex.idx[t]!;
      const s = this.slots.get(h);
      if (s !== undefined) {
        pos[t] = s;
      } else if (this.d >= dims) {
        pos[t] = (h >>> 0) % dims;
      } else if (grow) {
        if (this.d === this.hashes.length) {
          const hashes = new Int32Array(Math.min(dims, this.d * 2));
          hashes.set(this.hashes);
          this.hashes = hashes;
        }
        this.hashes[this.d] = h;
        this.slots.set(h, this.d);
        pos[t] = this.d++;
      } else {
        pos[t] = -1;
      }
    }
  }

  /** Mean and xᵀA⁻¹x of one example under a head (pos filled by locate). */
  private meanAndSpread(head: Head | undefined, ex: Example, out: Float64Array): void {
    const n = ex.n;
    const pos = this.pos;
    const val = ex.val;
    const unseen = 1 / this.opts.prior;
    let m = 0;
    let q = 0;
    if (head !== undefined) {
      const { theta, ainv, cap, d } = head;
      for (let i = 0; i < n; i++) {
        const si = pos[i]!;
        const xi = val[i]!;
        // A slot the head does not cover is at its prior: independent of the rest, variance 1/λ.
        if (si < 0 || si >= d) {
          q += xi * xi * unseen;
          continue;
        }
        m += theta[si]! * xi;
        let s = 0;
        for (let j = 0; j < n; j++) {
          const sj = pos[j]!;
          if (sj >= 0 && sj < d) s += (si <= sj ? ainv[si * cap + sj]! : ainv[sj * cap + si]!) * val[j]!;
        }
        q += xi * s;
      }
    } else {
      for (let i = 0; i < n; i++) q += val[i]! * val[i]! * unseen;
    }
    out[0] = m;
    out[1] = q > 0 ? q : 0;
  }

  private readonly pair = new Float64Array(2);

  predict(ex: Example): number {
    const head = this.heads.get(ex.actionId);
    this.lastContextEnd = -1;
    this.locate(ex, false);
    this.meanAndSpread(head, ex, this.pair);
    return this.pair[0]!;
  }

  learn(ex: Example, label: number, weight: number): void {
    let head = this.heads.get(ex.actionId);
    if (head === undefined) {
      head = new Head(Math.min(this.opts.dims, Math.max(8, 2 * ex.n)));
      this.heads.set(ex.actionId, head);
    }
    this.lastContextEnd = -1;
    this.locate(ex, true);
    const n = ex.n;
    const pos = this.pos;
    const val = ex.val;
    let top = 0;
    for (let t = 0; t < n; t++) if (pos[t]! >= top) top = pos[t]! + 1;
    head.cover(top, this.opts.prior);
    const { theta, ainv, cap, d } = head;
    if (this.u.length < d) this.u = new Float64Array(cap);
    const u = this.u;
    // u = A⁻¹x: column s of A⁻¹ is its upper triangle's column s above the diagonal, row s from it on.
    u.fill(0, 0, d);
    let pred = 0;
    for (let t = 0; t < n; t++) {
      const x = val[t]!;
      const s = pos[t]!;
      pred += theta[s]! * x;
      for (let i = 0; i < s; i++) u[i] = u[i]! + x * ainv[i * cap + s]!;
      const row = s * cap;
      for (let i = s; i < d; i++) u[i] = u[i]! + x * ainv[row + i]!;
    }
    let q = 0;
    for (let t = 0; t < n; t++) q += val[t]! * u[pos[t]!]!;
    if (!(q >= 0) || !Number.isFinite(q)) return;
    // Sherman–Morrison: (A + w·x xᵀ)⁻¹ = A⁻¹ − w·u uᵀ/(1 + w·xᵀu).
    const gain = weight / (1 + weight * q);
    const err = label - pred;
    if (!(gain > 0) || !Number.isFinite(gain * err)) return;
    for (let i = 0; i < d; i++) theta[i] = theta[i]! + gain * u[i]! * err;
    // The upper triangle of A⁻¹ −= gain·u uᵀ.
    for (let i = 0; i < d; i++) {
      const gi = gain * u[i]!;
      if (gi === 0) continue;
      const row = i * cap;
      for (let j = i; j < d; j++) ainv[row + j] = ainv[row + j]! - gi * u[j]!;
    }
    // An overflowing residual (rewards near the float range) leaves the noise estimate as it was.
    const sse = head.sse + (weight * err * err) / (1 + weight * q);
    if (Number.isFinite(sse)) {
      head.count += weight;
      head.sse = sse;
    }
  }

  posterior(examples: readonly Example[], k: number, means: Float64Array, cov: Float64Array): void {
    const pair = this.pair;
    for (let i = 0; i < k * k; i++) cov[i] = 0;
    for (let a = 0; a < k; a++) {
      const ex = examples[a]!;
      const head = this.heads.get(ex.actionId);
      // The examples of one decision share the context's features: look them up once.
      const end = ex.contextEnd;
      let from = 0;
      if (end === this.lastContextEnd && end <= this.lastIdx.length) {
        from = end;
        for (let t = 0; t < end; t++) {
          if (ex.idx[t] !== this.lastIdx[t]) {
            from = 0;
            break;
          }
        }
      }
      this.locate(ex, false, from);
      if (from === 0 && end <= this.lastIdx.length) {
        for (let t = 0; t < end; t++) this.lastIdx[t] = ex.idx[t]!;
        this.lastContextEnd = end;
      }
      this.meanAndSpread(head, ex, pair);
      means[a] = pair[0]!;
      // Heads are independent: the score covariance is diagonal (action ids are unique per decision;
      // two examples of one id would share a head, and are then fully correlated).
      cov[a * k + a] = this.noise(head) * pair[1]!;
      for (let b = 0; b < a; b++) {
        if (examples[b]!.actionId === ex.actionId) {
          const c = Math.sqrt(cov[a * k + a]! * cov[b * k + b]!);
          cov[a * k + b] = c;
          cov[b * k + a] = c;
        }
      }
    }
  }

  /** Number of actions with a head, slots in the dictionary, and the slots each head covers (for tests). */
  shape(): { actions: number; slots: number; covered: number[] } {
    return { actions: this.heads.size, slots: this.d, covered: [...this.heads.values()].map((h) => h.d) };
  }

  write(w: SnapshotWriter): void {
    w.u32(this.opts.dims);
    w.u32(this.d);
    for (let i = 0; i < this.d; i++) w.u32(this.hashes[i]! >>> 0);
    w.u32(this.heads.size);
    for (const [id, head] of this.heads) {
      w.string(id);
      const { d, cap } = head;
      w.u32(d);
      w.f64(head.count);
      w.f64(head.sse);
      w.f64Array(head.theta.subarray(0, d));
      const tri = new Float64Array((d * (d + 1)) / 2);
      let p = 0;
      for (let i = 0; i < d; i++) for (let j = i; j < d; j++) tri[p++] = head.ainv[i * cap + j]!;
      w.f64Array(tri);
    }
  }

  read(r: SnapshotReader): void {
    const dims = r.u32();
    if (dims !== this.opts.dims) throw new SnapshotFormatError(`snapshot has ${dims} dimensions, config has ${this.opts.dims}`);
    const slotCount = r.u32();
    if (slotCount > dims) throw new SnapshotFormatError(`snapshot has ${slotCount} slots, more than ${dims}`);
    const slots = new Map<number, number>();
    const hashes = new Int32Array(Math.max(64, slotCount));
    for (let i = 0; i < slotCount; i++) {
      const hash = r.u32() | 0;
      hashes[i] = hash;
      slots.set(hash, i);
    }
    if (slots.size !== slotCount) throw new SnapshotFormatError('snapshot lists a feature twice');
    const count = r.u32();
    const heads = new Map<string, Head>();
    for (let h = 0; h < count; h++) {
      const id = r.string();
      const d = r.u32();
      if (d > slotCount) throw new SnapshotFormatError(`action ${JSON.stringify(id)} covers ${d} slots, more than ${slotCount}`);
      const head = new Head(Math.max(d, 8));
      head.d = d;
      head.count = r.f64();
      head.sse = r.f64();
      head.theta.set(r.f64Array(d));
      const tri = r.f64Array((d * (d + 1)) / 2);
      let p = 0;
      const cap = head.cap;
      for (let i = 0; i < d; i++) {
        for (let j = i; j < d; j++) head.ainv[i * cap + j] = tri[p++]!;
      }
      heads.set(id, head);
    }
    this.slots = slots;
    this.hashes = hashes;
    this.d = slotCount;
    this.heads = heads;
    this.lastContextEnd = -1;
  }
}
