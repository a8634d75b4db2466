/**
 * Online least squares on hashed features with the update rules Vowpal Wabbit
 * uses by default: adaptive (per-feature AdaGrad rates), normalized (per-feature
 * scale invariance) and importance-invariant (a weight-w example moves the
 * prediction as w infinitesimal steps would, so large 1/p weights never overshoot).
 * Karampatziakis & Langford 2011; Ross, Mineiro & Langford 2013.
 */
import type { Example } from '../features/example.js';
import type { SnapshotReader, SnapshotWriter } from '../serialization/snapshot-codec.js';
import { SnapshotFormatError } from '../serialization/snapshot-codec.js';

/** Whether typed arrays store little-endian, as snapshots do (every platform Node runs on in practice; checked, not assumed). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
import type { Learner } from './learner.js';
import { RewardRange } from '../reward-range.js';

export interface LinearOptions {
  bits: number;
  learningRate: number;
  l2: number;
  /**
   * Forgetting factor ρ of the per-feature AdaGrad statistics (1: never forget). Each learning step
   * multiplies every feature's accumulated squared gradient by ρ (lazily, when the feature is next
   * touched), so rates stop shrinking: the learner keeps weighing about the last 1/(1 − ρ) updates
   * (RMSProp's decay applied to VW's adaptive rule) and follows a reward function that drifts.
   */
  forget?: number;
  /** The model's reward range, shared (the model observes every reward it learns before this learner does). */
  rewards?: RewardRange;
}

/** Ages (learning steps since a slot last decayed) whose forgetting factor is tabulated. */
const DECAY_TABLE = 256;

/** Smallest |x| the per-feature state tracks; X_MIN² is still a normal float32. */
const X_MIN = 1e-18;

export class LinearLearner implements Learner {
  readonly kind = 'linear';
  private readonly mask: number;
  private readonly lr: number;
  private readonly l2: number;
  /**
   * Per slot i: weight at 3i, accumulated squared gradient at 3i + 1, feature scale at 3i + 2. Interleaved, a
   * learning step touches one cache line per feature rather than three, which matters once several learners share
   * the cache (the optimizer's four or five); predict reads one line per feature either way. Measured in one
   * process, models in turn (9–11 rounds each way): auto 1.09–1.23× the separate tables, squarecb 0.97–1.04×.
   * The index is `((slot * 3) | 0)`: without the `| 0` V8 could not prove it an int32 and the interleaved table was
   * slower than the separate ones (squarecb 0.83×).
   */
  private readonly state: Float32Array;
  /**
   * One bit per slot, set once a learning step (or a restore) wrote it: a snapshot walks the slots ever written
   * instead of all 2^bits of them. The auto model's six learners made that walk ≈ 7 ms of every fingerprint,
   * which a model that keeps learning recomputes on each GET /models/{name}.
   */
  private readonly written: Int32Array;
  private totalWeight = 0;
  private sumNormX = 0;
  /** The labels learned: clip bounds and step units (the model's own range when it shares it, see reward-range.ts). */
  private readonly labels: RewardRange;
  /** False when the range is the model's: the model restores it, this learner only reads it. */
  private readonly ownsLabels: boolean;
  private rates = new Float64Array(64);
  private readonly forget: number;
  /** Learning steps taken (forgetting's clock) and the step at which each slot last decayed (only when forget < 1). */
  private clock = 0;
  private readonly stamp: Float64Array | undefined;
  /** decay[age] = forget^age for the short ages of features seen often (the same Math.pow values, looked up). */
  private readonly decay: Float64Array | undefined;

  constructor(opts: LinearOptions) {
    const size = 2 ** opts.bits;
    this.mask = size - 1;
    this.lr = opts.learningRate;
    this.l2 = opts.l2;
    this.state = new Float32Array(size * 3);
    this.written = new Int32Array(Math.ceil(size / 32));
    this.forget = opts.forget ?? 1;
    this.ownsLabels = opts.rewards === undefined;
    this.labels = opts.rewards ?? new RewardRange();
    this.stamp = this.forget < 1 ? new Float64Array(size) : undefined;
    this.decay = this.forget < 1 ? Float64Array.from({ length: DECAY_TABLE }, (_, age) => Math.pow(this.forget, age)) : undefined;
  }

  /** Raw linear score, unclipped. */
  private raw(ex: Example): number {
    const w = this.state;
    const mask = this.mask;
    const idx = ex.idx;
    const val = ex.val;
    let s = 0;
    for (let i = 0; i < ex.n; i++) s += w[(((idx[i]! & mask) * 3) | 0)]! * val[i]!;
    return s;
  }

  predict(ex: Example): number {
    // Like VW, predictions are clipped to the range of labels seen so far.
    const s = this.raw(ex);
    const lo = this.labels.low;
    const hi = this.labels.high;
    return s < lo ? lo : s > hi ? hi : s;
  }

  predictContext(examples: readonly Example[], k: number, out: Float64Array, at: number): void {
    // The sum over the shared prefix is the first part of every example's sum, in the same order: computed once,
    // it gives bit for bit what predict() gives (half of a 20-feature example's reads with context × action).
    const w = this.state;
    const mask = this.mask;
    const first = examples[0]!;
    const shared = first.contextEnd;
    const fIdx = first.idx;
    const fVal = first.val;
    let prefix = 0;
    for (let i = 0; i < shared; i++) prefix += w[(((fIdx[i]! & mask) * 3) | 0)]! * fVal[i]!;
    const lo = this.labels.low;
    const hi = this.labels.high;
    for (let a = 0; a < k; a++) {
      const ex = examples[a]!;
      const idx = ex.idx;
      const val = ex.val;
      let s = prefix;
      for (let i = shared; i < ex.n; i++) s += w[(((idx[i]! & mask) * 3) | 0)]! * val[i]!;
      out[at + a] = s < lo ? lo : s > hi ? hi : s;
    }
  }

  learn(ex: Example, label: number, weight: number): void {
    this.labels.observe(label);
    const p = this.predict(ex);
    const grad = 2 * (p - label);
    const gradSq = grad * grad * weight;
    // A non-finite squared gradient (absurd importance weight) would poison the shared
    // normalisation totals forever; such an update carries no usable step anyway.
    if (gradSq === 0 || ex.n === 0 || !Number.isFinite(gradSq)) return;
    if (this.rates.length < ex.n) this.rates = new Float64Array(ex.n * 2);
    const rates = this.rates;
    const { state, mask, stamp } = this;
    const idx = ex.idx;
    const val = ex.val;
    if (stamp !== undefined) {
      const now = ++this.clock;
      for (let k = 0; k < ex.n; k++) {
        const i = idx[k]! & mask;
        const age = now - stamp[i]!;
        const g = 3 * i + 1;
        if (age > 0 && state[g]! > 0) state[g] = state[g]! * (age < DECAY_TABLE ? this.decay![age]! : Math.pow(this.forget, age));
        stamp[i] = now;
      }
    }
    let normX = 0;
    let predPerUpdate = 0;
    const written = this.written;
    for (let k = 0; k < ex.n; k++) {
      const slot = idx[k]! & mask;
      const i = ((slot * 3) | 0);
      written[slot >>> 5] = written[slot >>> 5]! | (1 << (slot & 31));
      // Like VW, tiny |x| counts as X_MIN so float32 state never underflows to 0 (→ an infinite rate).
      const ax = Math.max(Math.abs(val[k]!), X_MIN);
      const x2 = ax * ax;
      // The float32 values the table now holds, kept in locals (the hot loop of every learning step).
      const g = Math.fround(state[i + 1]! + gradSq * x2);
      state[i + 1] = g;
      if (!(g > 0) || g === Infinity) {
        rates[k] = 0;
        continue;
      }
      let n = state[i + 2]!;
      if (ax > n) {
        // A larger feature scale than seen before: rescale the weight so past learning keeps its effect.
        if (n > 0) state[i] = state[i]! * (n / ax);
        n = Math.fround(ax);
        state[i + 2] = n;
      }
      normX += x2 / (n * n);
      // AdaGrad's G^-1/2 already carries one 1/|x|; one more 1/N makes the step scale-free.
      const rate = 1 / (Math.sqrt(g) * n);
      rates[k] = rate;
      predPerUpdate += x2 * rate;
    }
    if (!(predPerUpdate > 0) || !Number.isFinite(predPerUpdate)) return;
    this.totalWeight += weight;
    this.sumNormX += weight * normX;
    const multiplier = Math.sqrt(this.totalWeight / this.sumNormX);
    // Importance-invariant step for squared loss: the closed form of w infinitesimal gradient steps.
    // Steps in units of the label range seen so far (with 0) when it exceeds [0, 1]: AdaGrad moves a weight by
    // about lr whatever the gradient's size, so without this a problem paying in [1, 50] would learn 50 times
    // more slowly than one paying in [0, 1]. Within [0, 1] the rate is the plain one the defaults were tuned for.
    const range = this.labels.high - this.labels.low;
    const scale = this.lr * weight * multiplier * (range > 1 ? range : 1);
    const ppu = predPerUpdate;
    const e = 2 * scale * ppu;
    const step = e < 1e-6 ? 2 * scale * (label - p) : ((label - p) * -Math.expm1(-e)) / ppu;
    if (!Number.isFinite(step)) return;
    const decay = this.l2 > 0 ? this.l2 * this.lr * weight * multiplier : 0;
    for (let k = 0; k < ex.n; k++) {
      const i = (((idx[k]! & mask) * 3) | 0);
      const r = rates[k]!;
      let wi = state[i]!;
      if (decay > 0) wi -= wi * Math.min(1, decay * r);
      state[i] = wi + step * val[k]! * r;
    }
  }

  write(out: SnapshotWriter): void {
    out.f64(this.totalWeight);
    out.f64(this.sumNormX);
    out.f64(this.labels.low);
    out.f64(this.labels.high);
    out.u32(this.mask + 1);
    // Sparse: only the slots ever touched (most of a 2^18 table stays zero), as (u32 index, f32 × 3) records.
    const state = this.state;
    const touched = this.touchedSlots();
    const n = touched.length;
    out.u32(n);
    // Laid out with typed-array views (the records are 16 bytes, so every field is aligned) rather than a call per
    // field: a snapshot of the auto model's learners is taken for every fingerprint and every 60 s, on the event loop.
    const block = new ArrayBuffer(n * 16);
    if (LITTLE_ENDIAN) {
      const u = new Uint32Array(block);
      const f = new Float32Array(block);
      for (let k = 0; k < n; k++) {
        const i = touched[k]!;
        u[4 * k] = i;
        f[4 * k + 1] = state[3 * i]!;
        f[4 * k + 2] = state[3 * i + 1]!;
        f[4 * k + 3] = state[3 * i + 2]!;
      }
    } else {
      const v = new DataView(block);
      for (let k = 0; k < n; k++) {
        const i = touched[k]!;
        v.setUint32(16 * k, i, true);
        for (let c = 0; c < 3; c++) v.setFloat32(16 * k + 4 + 4 * c, state[3 * i + c]!, true);
      }
    }
    out.raw(new Uint8Array(block));
    // Only a forgetting learner has a clock (so snapshots of every other configuration keep their format).
    if (this.stamp !== undefined) {
      out.f64(this.clock);
      for (let k = 0; k < n; k++) out.f64(this.stamp[touched[k]!]!);
    }
  }

  /** The indexes of the slots holding anything (any of the three values non-zero), ascending: among those ever written. */
  private touchedSlots(): Uint32Array {
    const state = this.state;
    const written = this.written;
    const used = (i: number): boolean => state[3 * i] !== 0 || state[3 * i + 1] !== 0 || state[3 * i + 2] !== 0;
    let count = 0;
    for (let w = 0; w < written.length; w++) {
      const bits = written[w]!;
      if (bits === 0) continue;
      for (let b = 0; b < 32; b++) if ((bits & (1 << b)) !== 0 && used(w * 32 + b)) count++;
    }
    const out = new Uint32Array(count);
    let k = 0;
    for (let w = 0; w < written.length; w++) {
      const bits = written[w]!;
      if (bits === 0) continue;
      for (let b = 0; b < 32; b++) if ((bits & (1 << b)) !== 0 && used(w * 32 + b)) out[k++] = w * 32 + b;
    }
    return out;
  }

  read(r: SnapshotReader): void {
    this.totalWeight = r.f64();
    this.sumNormX = r.f64();
    const low = r.f64();
    const high = r.f64();
    // A range shared with the model is the model's to restore (it wrote the rewards themselves, not with 0).
    if (this.ownsLabels) {
      const none = low === 0 && high === 0;
      this.labels.min = none ? Infinity : low;
      this.labels.max = none ? -Infinity : high;
    }
    const size = r.u32();
    if (size !== this.mask + 1) throw new SnapshotFormatError(`snapshot has 2^${Math.log2(size)} weights, config has ${this.mask + 1}`);
    this.state.fill(0);
    this.written.fill(0);
    const touched = r.u32();
    const slots: number[] = [];
    for (let k = 0; k < touched; k++) {
      const i = r.u32();
      if (i > this.mask) throw new SnapshotFormatError('weight index out of range');
      this.state[3 * i] = r.f32();
      this.state[3 * i + 1] = r.f32();
      this.state[3 * i + 2] = r.f32();
      this.written[i >>> 5] = this.written[i >>> 5]! | (1 << (i & 31));
      slots.push(i);
    }
    if (this.stamp !== undefined) {
      this.stamp.fill(0);
      this.clock = r.f64();
      for (const i of slots) this.stamp[i] = r.f64();
    }
  }
}
