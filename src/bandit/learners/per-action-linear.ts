/**
 * Per-action Bayesian linear regression (disjoint LinUCB/LinTS, Li et al. 2010; Riquelme et al. 2018's
 * LinFullPost): every action id has its own posterior over the weights of the example's features, so no
 * feature is folded into a space shared with other actions and no context × action crossing is needed.
 *
 * Each head gives every feature it learns its own dense dimension (a slot), in the order it first learns
 * them, up to `dims` slots; beyond that, new features are hashed into the existing slots (the hashing trick,
 * per action). A new slot is exact: the prior is independent across weights, so adding a dimension appends
 * a row and column that are zero but for 1/λ on the diagonal.
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
  /** Feature hash → slot. */
  readonly slots = new Map<number, number>();
  /** Slot → feature hash (snapshots list the slots in order). */
  hashes: Int32Array;
  /** Slots in use and allocated (A⁻¹ is stored with row stride `cap`). */
  d = 0;
  cap: number;
  theta: Float64Array;
  ainv: Float64Array;
  /** Σ w and Σ w·e²/(1 + w·q): the residual statistics of σ̂². */
  count = 0;
  sse = 0;

  constructor(cap: number) {
    this.cap = cap;
    this.hashes = new Int32Array(cap);
    this.theta = new Float64Array(cap);
    this.ainv = new Float64Array(cap * cap);
  }

  /** Makes room for `d` slots, keeping A⁻¹'s entries in place. */
  reserve(d: number): void {
    if (d <= this.cap) return;
    const cap = Math.max(d, this.cap * 2);
    const ainv = new Float64Array(cap * cap);
    for (let i = 0; i < this.d; i++) ainv.set(this.ainv.subarray(i * this.cap, i * this.cap + this.d), i * cap);
    const theta = new Float64Array(cap);
    theta.set(this.theta.subarray(0, this.d));
    const hashes = new Int32Array(cap);
    hashes.set(this.hashes.subarray(0, this.d));
    this.ainv = ainv;
    this.theta = theta;
    this.hashes = hashes;
    this.cap = cap;
  }
}

export class PerActionLinearLearner implements PosteriorLearner {
  readonly kind = 'bayes-linear-per-action';
  private readonly opts: PerActionLinearOptions;
  private heads = new Map<string, Head>();
  /** Scratch: the slots of one example's features (−1: a feature the head has not learned). */
  private pos = new Int32Array(64);
  private u = new Float64Array(64);

  constructor(opts: PerActionLinearOptions) {
    this.opts = opts;
  }

  /** σ̂² of a head (the prior guess for an action never learned). */
  private noise(head: Head | undefined): number {
    if (head === undefined) return this.opts.noise;
    return (NOISE_PRIOR_COUNT * this.opts.noise + head.sse) / (NOISE_PRIOR_COUNT + head.count);
  }

  /**
   * The slot of each feature of `ex` into this.pos. Learning (`grow`) gives unseen features new slots while
   * the head has room; once it is full every unseen feature is hashed into the slots. Scoring leaves a
   * feature the head never learned at −1 while it has room (its weight is still the prior's).
   */
  private locate(head: Head | undefined, ex: Example, grow: boolean): void {
    const n = ex.n;
    if (this.pos.length < n) this.pos = new Int32Array(n * 2);
    const pos = this.pos;
    const dims = this.opts.dims;
    for (let t = 0; t < n; t++) {
      if (head === undefined) {
        pos[t] = -1;
        continue;
      }
      const h = ex.idx[t]!;
      const s = head.slots.get(h);
      if (s !== undefined) {
        pos[t] = s;
      } else if (head.d >= dims) {
        pos[t] = (h >>> 0) % dims;
      } else if (grow) {
        const slot = head.d;
        head.reserve(slot + 1);
        const cap = head.cap;
        head.ainv[slot * cap + slot] = 1 / this.opts.prior;
        head.hashes[slot] = h;
        head.slots.set(h, slot);
        head.d = slot + 1;
        pos[t] = slot;
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
      const { theta, ainv, cap } = head;
      for (let i = 0; i < n; i++) {
        const si = pos[i]!;
        const xi = val[i]!;
        if (si < 0) {
          q += xi * xi * unseen;
          continue;
        }
        m += theta[si]! * xi;
        const row = si * cap;
        let s = 0;
        for (let j = 0; j < n; j++) {
          const sj = pos[j]!;
          if (sj >= 0) s += ainv[row + sj]! * val[j]!;
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
    this.locate(head, ex, false);
    this.meanAndSpread(head, ex, this.pair);
    return this.pair[0]!;
  }

  learn(ex: Example, label: number, weight: number): void {
    let head = this.heads.get(ex.actionId);
    if (head === undefined) {
      head = new Head(Math.min(this.opts.dims, Math.max(8, ex.n)));
      this.heads.set(ex.actionId, head);
    }
    this.locate(head, ex, true);
    const { theta, ainv, cap, d } = head;
    const n = ex.n;
    const pos = this.pos;
    const val = ex.val;
    if (this.u.length < d) this.u = new Float64Array(cap);
    const u = this.u;
    // u = A⁻¹x (A⁻¹ is symmetric, so its rows serve as columns).
    u.fill(0, 0, d);
    let pred = 0;
    for (let t = 0; t < n; t++) {
      const x = val[t]!;
      const s = pos[t]!;
      pred += theta[s]! * x;
      const row = s * cap;
      for (let i = 0; i < d; i++) u[i] = u[i]! + x * ainv[row + i]!;
    }
    let q = 0;
    for (let t = 0; t < n; t++) q += val[t]! * u[pos[t]!]!;
    if (!(q >= 0) || !Number.isFinite(q)) return;
    // Sherman–Morrison: (A + w·x xᵀ)⁻¹ = A⁻¹ − w·u uᵀ/(1 + w·xᵀu).
    const gain = weight / (1 + weight * q);
    const err = label - pred;
    if (!(gain > 0) || !Number.isFinite(gain * err)) return;
    for (let i = 0; i < d; i++) theta[i] = theta[i]! + gain * u[i]! * err;
    // A⁻¹ −= s sᵀ with s = √gain·u (gain > 0): s_i·s_j and s_j·s_i are the same float, so A⁻¹ stays exactly
    // symmetric while the loop runs row by row (snapshots store one triangle).
    const root = Math.sqrt(gain);
    for (let i = 0; i < d; i++) u[i] = root * u[i]!;
    for (let i = 0; i < d; i++) {
      const si = u[i]!;
      if (si === 0) continue;
      const row = i * cap;
      for (let j = 0; j < d; j++) ainv[row + j] = ainv[row + j]! - si * u[j]!;
    }
    head.count += weight;
    head.sse += weight * err * err / (1 + weight * q);
  }

  posterior(examples: readonly Example[], k: number, means: Float64Array, cov: Float64Array): void {
    const pair = this.pair;
    for (let i = 0; i < k * k; i++) cov[i] = 0;
    for (let a = 0; a < k; a++) {
      const ex = examples[a]!;
      const head = this.heads.get(ex.actionId);
      this.locate(head, ex, false);
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

  /** Number of actions with a head, and their slots in use (for tests and statistics). */
  shape(): { actions: number; slots: number[] } {
    return { actions: this.heads.size, slots: [...this.heads.values()].map((h) => h.d) };
  }

  write(w: SnapshotWriter): void {
    w.u32(this.opts.dims);
    w.u32(this.heads.size);
    for (const [id, head] of this.heads) {
      w.string(id);
      const { d, cap } = head;
      w.u32(d);
      w.f64(head.count);
      w.f64(head.sse);
      for (let i = 0; i < d; i++) w.u32(head.hashes[i]! >>> 0);
      w.f64Array(head.theta.subarray(0, d));
      const tri = new Float64Array((d * (d + 1)) / 2);
      let p = 0;
      for (let i = 0; i < d; i++) for (let j = i; j < d; j++) tri[p++] = head.ainv[i * cap + j]!;
      w.f64Array(tri);
    }
  }

  read(r: SnapshotReader): void {
    const dims = r.u32();
    if (dims !== this.opts.dims) throw new SnapshotFormatError(`snapshot has ${dims} dimensions per action, config has ${this.opts.dims}`);
    const count = r.u32();
    const heads = new Map<string, Head>();
    for (let h = 0; h < count; h++) {
      const id = r.string();
      const d = r.u32();
      if (d > dims) throw new SnapshotFormatError(`action ${JSON.stringify(id)} has ${d} slots, more than ${dims}`);
      const head = new Head(Math.max(d, 8));
      head.d = d;
      head.count = r.f64();
      head.sse = r.f64();
      for (let i = 0; i < d; i++) {
        const hash = r.u32() | 0;
        head.hashes[i] = hash;
        head.slots.set(hash, i);
      }
      if (head.slots.size !== d) throw new SnapshotFormatError(`action ${JSON.stringify(id)} lists a feature twice`);
      head.theta.set(r.f64Array(d));
      const tri = r.f64Array((d * (d + 1)) / 2);
      let p = 0;
      const cap = head.cap;
      for (let i = 0; i < d; i++) {
        for (let j = i; j < d; j++) {
          head.ainv[i * cap + j] = tri[p]!;
          head.ainv[j * cap + i] = tri[p]!;
          p++;
        }
      }
      heads.set(id, head);
    }
    this.heads = heads;
  }
}
