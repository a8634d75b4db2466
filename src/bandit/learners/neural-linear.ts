/**
 * Neural-linear (Riquelme, Tucker & Snoek 2018, "Deep Bayesian Bandits Showdown"): a small network (two hidden
 * ReLU layers of `hidden` units) turns the example's features into a representation z; every action id has an
 * exact Bayesian linear head on [z, 1] (Normal–inverse-gamma: its own noise variance), which Thompson sampling
 * draws from.
 *
 * As in the paper (their NeuralLinearPosteriorSampling), the network is trained by minibatch RMSProp on the
 * squared error of a per-action output layer (their NeuralBanditModel: only the chosen action's output is fitted),
 * with the gradient's global norm clipped at 5, on events drawn with replacement from those kept; every
 * `trainEvery` events the heads are rebuilt from scratch on the new representation of every kept event, and
 * between rebuilds each event updates its action's head exactly (Sherman–Morrison). Differences, all for a
 * service that learns online:
 *
 * - Step size: RMSProp 0.003 (the paper's 0.1 with inverse-time decay). On the wheel at 20,000 rounds (2 seeds)
 *   0.01 gave 2.07 / 9.36 / 65 at δ = 0.5 / 0.95 / 0.99, 0.003 1.64 / 7.81 / 43, 0.001 2.07 / 8.3 at 0.5 / 0.95:
 *   a smaller step keeps the learned borders from jittering between rebuilds, and keeps more ReLU units alive
 *   (on the 20-feature speed stream 22 + 16 of 50 + 50 units are active against 16 + 4 at 0.01, which makes each
 *   minibatch dearer: see README).
 * - Amortised training. The paper trains 100 minibatches of 512 every 50 events (a pause of seconds); here every
 *   learned event runs STEPS_PER_EVENT minibatches of BATCH on a training copy of the network, and the serving
 *   copy (the one decisions and heads read) takes the training copy's weights at each rebuild: the heads always
 *   describe the representation they are applied to, and no call does more than one rebuild's work (cost
 *   memory × (forward + (h+1)²/2)). Measured with 2 features and 50 units: about 0.4 ms of CPU per learned
 *   event, 9–11 ms (up to about 20) for a rebuild over 2,048 kept events, 0.06 ms per decision.
 * - Bounded memory: a replay buffer of the last `memory` events (default 8,192; the paper keeps all), which the
 *   minibatches and the rebuilds draw on. The heads are refitted on every kept event, so the more kept, the
 *   surer they are: on the wheel at 20,000 rounds (2 seeds) 2,048 kept gave 1.57 / 8.25 / 40.7 at δ = 0.5 / 0.95 /
 *   0.99, 8,192 1.04 / 7.40 / 32.1 (16,384: 0.98 at 0.5, 31.7 at 0.99, for twice the pause). Rebuilds come less
 *   often as the kept events grow (rebuildsAfter), so the work per event is the same at any memory; what grows is
 *   the pause of one rebuild (20 features, 10 actions: at most 31 ms of CPU at 2,048 kept, 99 ms at 8,192, once
 *   every 200 events) and the snapshot (0.86 → 2.57 MB there). Prioritised replay (the paper draws uniformly): minibatches draw kept
 *   events in proportion to their residual under the heads refitted at the last rebuild, plus the mean residual.
 *   On the wheel (20,000 rounds, 2 seeds, step 0.003) against uniform draws: 1.57 / 8.25 / 40.7 at δ = 0.5 / 0.95 /
 *   0.99 against 1.64 / 7.81 / 43.5 — within the seeds' spread at 0.5 and 0.95, a gain where large rewards are rare. The input layer is a hashed table (sparse features of any name), capped
 *   by the caller (strategy-registry.ts: 2²⁰ weights).
 * - Heads with an intercept, on standardised rewards; Thompson sampling draws Gaussian scores with the noise
 *   variance at its posterior estimate (Focal's Thompson PMF is an exact integral over Gaussian scores), not
 *   from the inverse gamma.
 * - Early rebuilds at events 1, 2, 4, 8, … before the first `trainEvery` (the paper waits 50 events).
 * - Scale: rewards are standardised with the kept events' mean and standard deviation at each rebuild (network
 *   targets and heads alike, scores mapped back; the output layer is rescaled so its predictions carry over), and
 *   inputs are divided by the largest magnitude each feature has shown (VW's normalised updates), so rewards on
 *   [0, 1] or [1, 50] and features of any range behave alike. The learning rate is constant (the paper's
 *   inverse-time decay, which was never reset, leaves the network frozen after a few thousand steps).
 *
 * Hand-written (no tfjs): a few thousand flops per example on sparse inputs and batches of tens of examples are
 * far below the cost of tensor calls (a tfjs op costs microseconds before any arithmetic), and the heads' linear
 * algebra (rank-one updates, a Cholesky inverse of a (h+1)² matrix) is the algorithm itself. Deterministic:
 * training draws come from a generator seeded by the event count, so replaying the same events rebuilds the same
 * state bit for bit.
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
  /** Per-event forgetting factor of the heads' precision between rebuilds (1 = never forget). */
  forget: number;
  /** Events kept for training and rebuilding (the replay buffer's cap). */
  memory: number;
  /** Events between rebuilds (the serving network takes the trained weights, the heads are refitted). */
  trainEvery: number;
  /** Minibatch size of the network's training (default BATCH). */
  batch?: number;
  /** Minibatches per learned event (default STEPS_PER_EVENT). */
  stepsPerEvent?: number;
}

/** Examples per minibatch. */
export const BATCH = 32;
/** Minibatches per learned event: 50 events train 100 minibatches, the paper's count (of 512). */
export const STEPS_PER_EVENT = 2;
/** RMSProp decay of the squared-gradient average (TensorFlow's default, the paper's optimizer). */
const RMS_DECAY = 0.9;
const RMS_EPS = 1e-8;
/** Largest global norm of a minibatch's gradient (the paper's max_grad_norm). */
const MAX_GRAD_NORM = 5;
/** Largest standardised error a network update follows (a Huber-like clip). */
const ERROR_CLIP = 5;
/** Uniform initialisation range of the dense and output weights (the paper's init_scale). */
const INIT_SCALE = 0.3;
/**
 * Uniform initialisation range of the input rows and of the first layer's biases (inputs are scaled into [−1, 1]).
 * Wider than the paper's 0.3 with biases at 0, whose first-layer units all pass through the origin: here the
 * untrained units already cut the inputs at different places, which suits hashed features of any meaning. On the
 * wheel the two starts measured alike within the trials' spread (2,000 rounds, 2 seeds: 3.9/28.9/94 against
 * 4.5/28.1/91 at δ = 0.5/0.95/0.99, with a lighter noise prior).
 */
const INPUT_INIT_SCALE = 1;
/**
 * Weight of a head's prior guess of its noise variance, in events (the paper's inverse-gamma prior a0 = 6 is
 * worth 2·a0 − 2 = 10). The guess is the rewards' mean square E[r²] (the paper's b0/(a0 − 1) = 1.2 for rewards
 * around 1): until the residuals say otherwise, a reward is as uncertain as rewards are large, which keeps
 * Thompson sampling exploring where the representation is new. Scales with the rewards, as everything here.
 */
const NOISE_PRIOR_COUNT = 10;
const SNAPSHOT_VERSION = 4;
/**
 * Kept events that one `trainEvery` interval pays for: the interval between rebuilds doubles each time the kept
 * events double past this (events 50, 100, 150, … up to 4,096 kept; every 100 events from 4,096; every 200 from
 * 8,192), so a rebuild's amortised cost per event stays that of 2,048 events every `trainEvery`, whatever `memory`.
 */
const REBUILD_UNIT = 2048;

/** Whether the learner rebuilds after its t-th event: a function of t alone, so replay agrees with the live model. */
export function rebuildsAfter(t: number, trainEvery: number, memory: number): boolean {
  if ((t & (t - 1)) === 0 && t < trainEvery) return true;
  const kept = Math.min(t, memory);
  let m = 1;
  while (kept >= REBUILD_UNIT * m * 2) m *= 2;
  return t % (trainEvery * m) === 0;
}
/** Priorities are integers (exact sums whatever the order of updates): 1 + round(PRIORITY_UNIT × weight). */
const PRIORITY_UNIT = 256;
/** Largest residual a priority counts (standardised units). */
const PRIORITY_CAP = 64;

/** One action's Bayesian linear head on [z, 1], and its output weights in the network. */
class Head {
  /** Posterior mean and M⁻¹ (M = λI + Σ w·z zᵀ); the weight covariance is σ̂²·M⁻¹. */
  theta: Float64Array;
  minv: Float64Array;
  count = 0;
  sse = 0;
  /** The network's output layer for this action ([h weights, bias]), its RMSProp averages and minibatch gradient. */
  out: Float64Array;
  outG2: Float64Array;
  outGrad: Float64Array;

  constructor(d: number, prior: number) {
    this.theta = new Float64Array(d);
    this.minv = new Float64Array(d * d);
    for (let i = 0; i < d; i++) this.minv[i * d + i] = 1 / prior;
    this.out = new Float64Array(d);
    this.outG2 = new Float64Array(d).fill(1);
    this.outGrad = new Float64Array(d);
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
  /** Sampling weight in the network's minibatches (an integer: see Sampler). */
  priority: number;
}

/**
 * The network below the heads: a hashed input table (row r holds the h weights of input feature r, applied to
 * the feature's value over its scale), then a dense h×h layer, ReLU after each. Two of these live in a learner:
 * the training copy and the serving copy.
 */
class Body {
  readonly w1: Float32Array;
  /** Largest magnitude each input row had shown when its weights were last trained (or copied). */
  readonly scale: Float32Array;
  readonly b1: Float64Array;
  readonly w2: Float64Array;
  readonly b2: Float64Array;

  constructor(rows: number, readonly h: number) {
    this.w1 = new Float32Array(rows * h);
    this.scale = new Float32Array(rows);
    this.b1 = new Float64Array(h);
    this.w2 = new Float64Array(h * h);
    this.b2 = new Float64Array(h);
  }

  copyRow(from: Body, r: number): void {
    const h = this.h;
    this.w1.set(from.w1.subarray(r * h, (r + 1) * h), r * h);
    this.scale[r] = from.scale[r]!;
  }

  copyDense(from: Body): void {
    this.b1.set(from.b1);
    this.w2.set(from.w2);
    this.b2.set(from.b2);
  }
}

export class NeuralLinearLearner implements PosteriorLearner {
  readonly kind = 'neural-linear';
  private readonly h: number;
  private readonly dims: number;
  private readonly mask: number;
  private readonly opts: NeuralLinearOptions;
  private readonly batch: number;
  private readonly stepsPerEvent: number;
  /** Training copy, with its RMSProp averages. */
  private readonly train: Body;
  private readonly g2: Float32Array;
  private readonly b1G2: Float64Array;
  private readonly w2G2: Float64Array;
  private readonly b2G2: Float64Array;
  /** Serving copy: what decisions and the heads read. Rows it has never taken (`served` 0) contribute nothing. */
  private readonly serve: Body;
  /** Input rows: 1 once the training copy has its seeded initial weights, 1 once the serving copy holds them. */
  private readonly ready: Uint8Array;
  private readonly served: Uint8Array;
  /** Rows the training copy changed since the last rebuild (to copy to the serving one): the first `dirtyN`. */
  private dirty: Int32Array;
  private dirtyN = 0;
  private readonly isDirty: Uint8Array;
  private heads = new Map<string, Head>();
  private readonly priorHead: Head;
  private kept: Kept[] = [];
  /** Draws kept events (by ring slot) in proportion to their priority. */
  private sampler: Sampler;
  /** Serving representations of the kept events at the last rebuild (scratch, memory × dims). */
  private zs: Float32Array | undefined;
  /** Next slot of the ring of kept events. */
  private next = 0;
  private events = 0;
  private rewardMean = 0;
  private rewardSd = 1;
  /** The heads' prior noise variance, E[r²]/sd² (standardised units), as of the last rebuild. */
  private noisePrior = 1;
  // Scratch.
  private readonly pre: Float64Array;
  private readonly pre2: Float64Array;
  private readonly a1: Float64Array;
  private readonly grad1: Float64Array;
  private readonly grad2: Float64Array;
  private readonly z: Float64Array;
  private readonly u: Float64Array;
  private readonly gB1: Float64Array;
  private readonly gW2: Float64Array;
  private readonly gB2: Float64Array;
  /** Minibatch gradient of the input rows: slot of a row (−1: none), the rows in slot order, the slots' gradients. */
  private readonly slotOf: Int32Array;
  private slotRows: Int32Array;
  private slotGrad: Float64Array;
  private slotN = 0;
  private readonly batchHeads = new Set<Head>();
  private readonly cacheRows: Int32Array;
  private readonly cacheVals: Float64Array;
  private cacheN = -1;

  constructor(opts: NeuralLinearOptions) {
    this.opts = opts;
    this.h = opts.hidden;
    this.dims = opts.hidden + 1;
    this.batch = opts.batch ?? BATCH;
    this.stepsPerEvent = opts.stepsPerEvent ?? STEPS_PER_EVENT;
    const rows = 2 ** opts.bits;
    this.mask = rows - 1;
    const h = this.h;
    this.train = new Body(rows, h);
    this.serve = new Body(rows, h);
    this.g2 = new Float32Array(rows * h).fill(1);
    this.ready = new Uint8Array(rows);
    this.served = new Uint8Array(rows);
    this.isDirty = new Uint8Array(rows);
    this.dirty = new Int32Array(64);
    // Dense weights uniform in ±INIT_SCALE (the paper's initialiser); RMSProp averages start at 1 (TensorFlow's).
    const rng = new Xoshiro128(0x6e6c6231);
    for (let i = 0; i < h * h; i++) this.train.w2[i] = (2 * rng.next() - 1) * INIT_SCALE;
    // First-layer biases spread over ±INPUT_INIT_SCALE: with inputs scaled into [−1, 1], the units' hyperplanes cross
    // the inputs at different offsets (not all through 0), so even the untrained representation is local.
    for (let j = 0; j < h; j++) this.train.b1[j] = (2 * rng.next() - 1) * INPUT_INIT_SCALE;
    this.serve.copyDense(this.train);
    this.b1G2 = new Float64Array(h).fill(1);
    this.w2G2 = new Float64Array(h * h).fill(1);
    this.b2G2 = new Float64Array(h).fill(1);
    this.priorHead = new Head(this.dims, opts.prior);
    this.pre = new Float64Array(h);
    this.pre2 = new Float64Array(h);
    this.a1 = new Float64Array(h);
    this.grad1 = new Float64Array(h);
    this.grad2 = new Float64Array(this.dims);
    this.z = new Float64Array(this.dims);
    this.u = new Float64Array(this.dims);
    this.gB1 = new Float64Array(h);
    this.gW2 = new Float64Array(h * h);
    this.gB2 = new Float64Array(h);
    this.slotOf = new Int32Array(rows).fill(-1);
    this.slotRows = new Int32Array(64);
    this.slotGrad = new Float64Array(64 * h);
    this.cacheRows = new Int32Array(256);
    this.cacheVals = new Float64Array(256);
    this.sampler = new Sampler(opts.memory);
  }

  /** The training copy's row r takes its seeded initial weights (uniform in ±INPUT_INIT_SCALE). */
  private initRow(r: number): void {
    const rng = new Xoshiro128(r ^ 0x6e6e6e6e);
    const base = r * this.h;
    for (let j = 0; j < this.h; j++) this.train.w1[base + j] = (2 * rng.next() - 1) * INPUT_INIT_SCALE;
    this.ready[r] = 1;
  }

  private markDirty(r: number): void {
    if (this.isDirty[r]) return;
    this.isDirty[r] = 1;
    if (this.dirtyN === this.dirty.length) {
      const grown = new Int32Array(this.dirty.length * 2);
      grown.set(this.dirty);
      this.dirty = grown;
    }
    this.dirty[this.dirtyN++] = r;
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

  /**
   * Forward pass of rows/vals[0..n) through `body` into z (length h+1, last entry 1); pre-activations into
   * this.pre and this.pre2, the first layer's output into this.a1. The serving body skips rows it does not hold.
   */
  private forward(body: Body, rows: ArrayLike<number>, vals: ArrayLike<number>, n: number, z: Float64Array): void {
    const h = this.h;
    const pre = this.pre;
    const w1 = body.w1;
    const serving = body === this.serve;
    for (let j = 0; j < h; j++) pre[j] = body.b1[j]!;
    for (let t = 0; t < n; t++) {
      const r = rows[t]!;
      if (serving ? !this.served[r] : !this.ready[r]) {
        if (serving) continue;
        this.initRow(r);
      }
      const x = vals[t]!;
      const s = Math.max(body.scale[r]!, Math.abs(x));
      const xs = x / s;
      const base = r * h;
      for (let j = 0; j < h; j++) pre[j] = pre[j]! + xs * w1[base + j]!;
    }
    const a1 = this.a1;
    for (let j = 0; j < h; j++) a1[j] = pre[j]! > 0 ? pre[j]! : 0;
    const pre2 = this.pre2;
    const w2 = body.w2;
    for (let j = 0; j < h; j++) pre2[j] = body.b2[j]!;
    for (let i = 0; i < h; i++) {
      const ai = a1[i]!;
      if (ai === 0) continue;
      const row = i * h;
      for (let j = 0; j < h; j++) pre2[j] = pre2[j]! + ai * w2[row + j]!;
    }
    for (let j = 0; j < h; j++) z[j] = pre2[j]! > 0 ? pre2[j]! : 0;
    z[h] = 1;
  }

  /** Serving forward pass of an example, reusing the last one's z when its input is the same (actions without features). */
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
        this.forward(this.serve, rr, vv, rr.length, z);
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
    this.forward(this.serve, rows, vals, n, z);
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
      // A new action's output layer starts at the mean reward (0 standardised) with no weight on z.
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
      if (!this.ready[r]) this.initRow(r);
      const a = Math.abs(vals[t]!);
      if (a > this.train.scale[r]!) {
        this.train.scale[r] = a;
        this.markDirty(r);
      }
    }
    // A new event is drawn as often as the most surprising kept one until the next rebuild scores it.
    const event: Kept = { rows, vals, action: ex.actionId, reward: label, weight, priority: this.sampler.max };
    const slot = this.next;
    if (this.kept.length < this.opts.memory) this.kept.push(event);
    else this.kept[slot] = event;
    this.sampler.set(slot, event.priority);
    this.next = (this.next + 1) % this.opts.memory;
    this.events++;
    this.headFor(ex.actionId);
    this.cacheN = -1;
    const t = this.events;
    this.trainSteps();
    if (rebuildsAfter(t, this.opts.trainEvery, this.opts.memory)) {
      this.rebuild();
      return;
    }
    // Between rebuilds: the serving network's z, one exact update of the action's head.
    const z = this.u;
    this.forward(this.serve, rows, vals, rows.length, z);
    this.updateHead(this.headFor(ex.actionId), z, (label - this.rewardMean) / this.rewardSd, weight, true);
  }

  /** Sherman–Morrison update of a head with [z, 1] and a standardised target. */
  private updateHead(head: Head, z: Float64Array, y: number, weight: number, forget: boolean): void {
    const d = this.dims;
    const { theta, minv } = head;
    const rho = this.opts.forget;
    if (forget && rho < 1) for (let i = 0; i < d * d; i++) minv[i] = minv[i]! / rho;
    const g = this.grad2;
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

  /** Rebuild: the reward scale from the kept events, the serving network from the training one, every head from scratch. */
  private rebuild(): void {
    const n = this.kept.length;
    let mean = 0;
    for (let i = 0; i < n; i++) mean += this.keptAt(i).reward / n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (this.keptAt(i).reward - mean) ** 2 / n;
    // Rewards near the float range would overflow the scale: keep the last one.
    if (Number.isFinite(v) && Number.isFinite(mean * mean)) {
      // A floor relative to the mean's magnitude: constant rewards must not divide by ~0.
      const sd = Math.max(Math.sqrt(v), 1e-3 * Math.max(1, Math.abs(mean)));
      // The output layers keep predicting the same rewards in the new units: o' = (sd·o + mean − mean')/sd'.
      const ratio = this.rewardSd / sd;
      const shift = (this.rewardMean - mean) / sd;
      const h = this.h;
      for (const head of this.heads.values()) {
        for (let i = 0; i < h; i++) head.out[i] = head.out[i]! * ratio;
        head.out[h] = head.out[h]! * ratio + shift;
      }
      this.rewardMean = mean;
      this.rewardSd = sd;
      this.noisePrior = (v + mean * mean) / (sd * sd);
    }
    for (let k = 0; k < this.dirtyN; k++) {
      const r = this.dirty[k]!;
      this.serve.copyRow(this.train, r);
      this.served[r] = 1;
      this.isDirty[r] = 0;
    }
    this.dirtyN = 0;
    this.serve.copyDense(this.train);
    this.rebuildHeads();
  }

  /** STEPS_PER_EVENT minibatches of RMSProp on the training copy, drawn from the kept events. */
  private trainSteps(): void {
    const rate = this.opts.bodyRate;
    if (!(rate > 0)) return;
    const rng = new Xoshiro128(Math.imul(this.events, 0x9e3779b1) ^ 0x7472616e);
    for (let s = 0; s < this.stepsPerEvent; s++) this.trainBatch(rng, rate);
  }

  private slotFor(r: number): number {
    let slot = this.slotOf[r]!;
    if (slot >= 0) return slot;
    slot = this.slotN++;
    if (slot === this.slotRows.length) {
      const rows = new Int32Array(slot * 2);
      rows.set(this.slotRows);
      this.slotRows = rows;
      const grad = new Float64Array(slot * 2 * this.h);
      grad.set(this.slotGrad);
      this.slotGrad = grad;
    }
    this.slotRows[slot] = r;
    this.slotOf[r] = slot;
    this.slotGrad.fill(0, slot * this.h, (slot + 1) * this.h);
    return slot;
  }

  /** Zeroes the minibatch accumulators. */
  private clearGradients(): void {
    this.gB1.fill(0);
    this.gW2.fill(0);
    this.gB2.fill(0);
    for (let k = 0; k < this.slotN; k++) this.slotOf[this.slotRows[k]!] = -1;
    this.slotN = 0;
    for (const head of this.batchHeads) head.outGrad.fill(0);
    this.batchHeads.clear();
  }

  /**
   * Forward and backward pass of one kept event through the training copy: adds scale·d(½·err²)/d(weights) to
   * the minibatch accumulators (err = output − standardised reward, clipped at ±ERROR_CLIP) and returns ½·err².
   */
  private backward(e: Kept, scale: number): number {
    const h = this.h;
    const d = this.dims;
    const body = this.train;
    const z = this.u;
    const pre2 = this.pre2;
    const a1 = this.a1;
    const w2 = body.w2;
    const grad1 = this.grad1;
    const grad2 = this.grad2;
    const gB2 = this.gB2;
    const gW2 = this.gW2;
    const gB1 = this.gB1;
    this.forward(body, e.rows, e.vals, e.rows.length, z);
    const head = this.headFor(e.action);
    if (!this.batchHeads.has(head)) {
      this.batchHeads.add(head);
      head.outGrad.fill(0);
    }
    const out = head.out;
    let o = 0;
    for (let i = 0; i < d; i++) o += out[i]! * z[i]!;
    const y = (e.reward - this.rewardMean) / this.rewardSd;
    if (!Number.isFinite(y) || !Number.isFinite(o)) return 0;
    let err = o - y;
    if (err > ERROR_CLIP) err = ERROR_CLIP;
    else if (err < -ERROR_CLIP) err = -ERROR_CLIP;
    const loss = 0.5 * err * err;
    err *= scale;
    const og = head.outGrad;
    for (let i = 0; i < d; i++) og[i] = og[i]! + err * z[i]!;
    // Back through the second layer (into grad2[0..h)) and the first (grad1).
    for (let j = 0; j < h; j++) grad2[j] = pre2[j]! > 0 ? err * out[j]! : 0;
    for (let j = 0; j < h; j++) gB2[j] = gB2[j]! + grad2[j]!;
    for (let i = 0; i < h; i++) {
      const ai = a1[i]!;
      const row = i * h;
      let s = 0;
      if (ai !== 0) {
        for (let j = 0; j < h; j++) {
          const g = grad2[j]!;
          gW2[row + j] = gW2[row + j]! + ai * g;
          s += w2[row + j]! * g;
        }
      }
      // pre[i] > 0 exactly when a1[i] ≠ 0: a unit that is off passes no gradient down.
      grad1[i] = s;
    }
    for (let j = 0; j < h; j++) gB1[j] = gB1[j]! + grad1[j]!;
    for (let t = 0; t < e.rows.length; t++) {
      const r = e.rows[t]!;
      const x = e.vals[t]!;
      const xs = x / Math.max(body.scale[r]!, Math.abs(x));
      if (xs === 0 || !Number.isFinite(xs)) continue;
      const base = this.slotFor(r) * h;
      const sg = this.slotGrad;
      for (let j = 0; j < h; j++) sg[base + j] = sg[base + j]! + xs * grad1[j]!;
    }
    return loss;
  }

  /**
   * One minibatch: the gradient of the mean of ½·w·err² (the chosen action's output only, importance weight w
   * capped at 10) over BATCH draws (by priority: see reprioritise), its global norm clipped at MAX_GRAD_NORM, then
   * an RMSProp step on every weight it touches.
   */
  private trainBatch(rng: Xoshiro128, rate: number): void {
    const h = this.h;
    const d = this.dims;
    this.clearGradients();
    for (let b = 0; b < this.batch; b++) {
      const e = this.kept[this.sampler.draw(rng.next())]!;
      this.backward(e, Math.min(e.weight, 10) / this.batch);
    }
    const { gW2, gB1, gB2, slotGrad: sg } = this;
    const heads = this.batchHeads;
    // Global norm of the minibatch's gradient.
    let norm = 0;
    for (let i = 0; i < h * h; i++) norm += gW2[i]! * gW2[i]!;
    for (let j = 0; j < h; j++) norm += gB1[j]! * gB1[j]! + gB2[j]! * gB2[j]!;
    for (const head of heads) for (let i = 0; i < d; i++) norm += head.outGrad[i]! * head.outGrad[i]!;
    for (let i = 0; i < this.slotN * h; i++) norm += sg[i]! * sg[i]!;
    norm = Math.sqrt(norm);
    if (!(norm > 0) || !Number.isFinite(norm)) return;
    const clip = norm > MAX_GRAD_NORM ? MAX_GRAD_NORM / norm : 1;
    const body = this.train;
    rmsprop(body.w2, this.w2G2, gW2, h * h, rate, clip);
    rmsprop(body.b1, this.b1G2, gB1, h, rate, clip);
    rmsprop(body.b2, this.b2G2, gB2, h, rate, clip);
    for (const head of heads) rmsprop(head.out, head.outG2, head.outGrad, d, rate, clip);
    const w1 = body.w1;
    const g2 = this.g2;
    for (let k = 0; k < this.slotN; k++) {
      const r = this.slotRows[k]!;
      const base = r * h;
      const gb = k * h;
      for (let j = 0; j < h; j++) {
        const g = sg[gb + j]! * clip;
        if (g === 0) continue;
        g2[base + j] = RMS_DECAY * g2[base + j]! + (1 - RMS_DECAY) * g * g;
        // Read back the float32 value: a gradient whose square underflows must not divide by ~0.
        const stored = g2[base + j]!;
        if (!(stored > 0) || !Number.isFinite(stored)) continue;
        w1[base + j] = w1[base + j]! - (rate * g) / (Math.sqrt(stored) + RMS_EPS);
      }
      this.markDirty(r);
    }
  }

  /**
   * For tests: ½·err² of one example through the training copy and its gradient (accumulators read through
   * `trainingState`), by the very code the minibatches use. The reward scale is the learner's current one.
   */
  exampleGradient(ex: Example, reward: number): number {
    const { rows, vals } = this.input(ex);
    for (let t = 0; t < rows.length; t++) if (!this.ready[rows[t]!]) this.initRow(rows[t]!);
    this.clearGradients();
    return this.backward({ rows, vals, action: ex.actionId, reward, weight: 1, priority: 1 }, 1);
  }

  /** For tests: the training copy's weights and the last exampleGradient's gradient, by name (live arrays). */
  trainingState(ex: Example): { weights: Record<string, ArrayLike<number> & { [i: number]: number }>; gradients: Record<string, ArrayLike<number>> } {
    const head = this.headFor(ex.actionId);
    const { rows } = this.input(ex);
    const weights: Record<string, Float64Array | Float32Array> = { w2: this.train.w2, b1: this.train.b1, b2: this.train.b2, out: head.out };
    const gradients: Record<string, Float64Array> = { w2: this.gW2, b1: this.gB1, b2: this.gB2, out: head.outGrad };
    for (const r of rows) {
      weights[`row${r}`] = this.train.w1.subarray(r * this.h, (r + 1) * this.h);
      const slot = this.slotOf[r]!;
      gradients[`row${r}`] = slot >= 0 ? this.slotGrad.subarray(slot * this.h, (slot + 1) * this.h) : new Float64Array(this.h);
    }
    return { weights, gradients };
  }

  /** Every head from scratch on the kept events' serving representation: M = λI + Σ w·z zᵀ, θ = M⁻¹Σ w·z·y. */
  private rebuildHeads(): void {
    const d = this.dims;
    const z = this.u;
    const acc = new Map<string, { m: Float64Array; b: Float64Array; yy: number; count: number }>();
    const n = this.kept.length;
    if (this.zs === undefined || this.zs.length < n * d) this.zs = new Float32Array(this.opts.memory * d);
    const zs = this.zs;
    const oldest = n < this.opts.memory ? 0 : this.next;
    for (let k = 0; k < n; k++) {
      const e = this.keptAt(k);
      let a = acc.get(e.action);
      if (a === undefined) {
        a = { m: new Float64Array(d * d), b: new Float64Array(d), yy: 0, count: 0 };
        acc.set(e.action, a);
      }
      const y = (e.reward - this.rewardMean) / this.rewardSd;
      // A reward beyond the scale's reach (near the float range) is left out of the heads, as updateHead does.
      if (!Number.isFinite(y * y)) continue;
      this.forward(this.serve, e.rows, e.vals, e.rows.length, z);
      zs.set(z.subarray(0, d), ((oldest + k) % n) * d);
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
    this.reprioritise(zs);
  }

  /**
   * Prioritised replay: every kept event's priority becomes its residual under the refitted heads, |y − θ·z| in
   * standardised units, plus the mean residual (half the draws stay uniform), in units of 1/PRIORITY_UNIT.
   * The network then trains most where the heads' linear fit on its representation is worst — on the wheel, the
   * rare large rewards and the contexts along the regions' borders. The heads themselves stay exact fits on every
   * kept event; only the representation's training is steered.
   */
  private reprioritise(zs: Float32Array): void {
    const n = this.kept.length;
    const d = this.dims;
    const res = new Float64Array(n);
    let total = 0;
    for (let k = 0; k < n; k++) {
      const e = this.kept[k]!;
      const y = (e.reward - this.rewardMean) / this.rewardSd;
      const th = this.head(e.action).theta;
      let o = 0;
      for (let i = 0; i < d; i++) o += th[i]! * zs[k * d + i]!;
      const r = Math.abs(y - o);
      res[k] = Number.isFinite(r) ? Math.min(r, PRIORITY_CAP) : 0;
      total += res[k]!;
    }
    const floor = n > 0 ? total / n : 0;
    for (let k = 0; k < n; k++) {
      this.kept[k]!.priority = 1 + Math.round(PRIORITY_UNIT * (res[k]! + floor));
    }
    this.sampler.rebuild(this.kept);
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
    for (const body of [this.train, this.serve]) {
      w.f64Array(body.b1);
      w.f64Array(body.w2);
      w.f64Array(body.b2);
    }
    w.f64Array(this.b1G2);
    w.f64Array(this.w2G2);
    w.f64Array(this.b2G2);
    let rows = 0;
    for (let r = 0; r <= this.mask; r++) if (this.ready[r]) rows++;
    w.u32(rows);
    for (let r = 0; r <= this.mask; r++) {
      if (!this.ready[r]) continue;
      const base = r * this.h;
      w.u32(r);
      w.u32(this.served[r]! | (this.isDirty[r]! << 1));
      w.f32(this.train.scale[r]!);
      for (let j = 0; j < this.h; j++) w.f32(this.train.w1[base + j]!);
      for (let j = 0; j < this.h; j++) w.f32(this.g2[base + j]!);
      if (!this.served[r]) continue;
      w.f32(this.serve.scale[r]!);
      for (let j = 0; j < this.h; j++) w.f32(this.serve.w1[base + j]!);
    }
    // The dirty rows in their order (the order rows are copied at the next rebuild does not change the result, but keep it).
    w.u32(this.dirtyN);
    for (let k = 0; k < this.dirtyN; k++) w.u32(this.dirty[k]!);
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
    // The kept events in ring order (slot by slot: the sampler draws slots), the next slot and the priorities' maximum.
    w.u32(this.kept.length);
    w.u32(this.next);
    w.f64(this.sampler.max);
    for (let i = 0; i < this.kept.length; i++) {
      const e = this.kept[i]!;
      w.f64(e.priority);
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
    const h = this.h;
    this.events = r.f64();
    this.rewardMean = r.f64();
    this.rewardSd = r.f64();
    this.noisePrior = r.f64();
    for (const body of [this.train, this.serve]) {
      body.b1.set(r.f64Array(h));
      body.w2.set(r.f64Array(h * h));
      body.b2.set(r.f64Array(h));
    }
    this.b1G2.set(r.f64Array(h));
    this.w2G2.set(r.f64Array(h * h));
    this.b2G2.set(r.f64Array(h));
    for (const body of [this.train, this.serve]) {
      body.w1.fill(0);
      body.scale.fill(0);
    }
    this.ready.fill(0);
    this.served.fill(0);
    this.isDirty.fill(0);
    this.g2.fill(1);
    const rows = r.u32();
    for (let k = 0; k < rows; k++) {
      const row = r.u32();
      if (row > this.mask) throw new SnapshotFormatError('row index out of range');
      const flags = r.u32();
      this.ready[row] = 1;
      this.served[row] = flags & 1;
      const base = row * h;
      this.train.scale[row] = r.f32();
      for (let j = 0; j < h; j++) this.train.w1[base + j] = r.f32();
      for (let j = 0; j < h; j++) this.g2[base + j] = r.f32();
      if (!(flags & 1)) continue;
      this.serve.scale[row] = r.f32();
      for (let j = 0; j < h; j++) this.serve.w1[base + j] = r.f32();
    }
    const dirtyN = r.u32();
    this.dirtyN = 0;
    for (let k = 0; k < dirtyN; k++) {
      const row = r.u32();
      if (row > this.mask) throw new SnapshotFormatError('row index out of range');
      this.markDirty(row);
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
    const next = r.u32();
    if (next >= this.opts.memory || (n < this.opts.memory && next !== n)) throw new SnapshotFormatError('ring position out of range');
    const max = r.f64();
    this.kept = [];
    for (let i = 0; i < n; i++) {
      const priority = r.f64();
      if (!(Number.isInteger(priority) && priority >= 1 && priority <= 2 ** 40)) throw new SnapshotFormatError('replay priority out of range');
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
      this.kept.push({ rows: rowsOf, vals, action, reward, weight, priority });
    }
    this.next = next;
    this.sampler.rebuild(this.kept);
    this.sampler.max = Math.max(1, max);
    this.cacheN = -1;
  }
}

/**
 * Draws ring slots in proportion to integer priorities: a Fenwick tree of their sums. Integer sums below 2^53
 * are exact in float64, so the draws do not depend on the order the priorities were set in (a restored learner
 * draws what the live one did). Hand-written: a dozen lines of the product's own replay.
 */
class Sampler {
  private readonly tree: Float64Array;
  private readonly value: Float64Array;
  /** Largest priority set since the last rebuild. */
  max = 1;

  constructor(readonly size: number) {
    this.tree = new Float64Array(size + 1);
    this.value = new Float64Array(size);
  }

  set(slot: number, p: number): void {
    const delta = p - this.value[slot]!;
    this.value[slot] = p;
    if (p > this.max) this.max = p;
    for (let i = slot + 1; i <= this.size; i += i & -i) this.tree[i] = this.tree[i]! + delta;
  }

  rebuild(kept: readonly Kept[]): void {
    this.tree.fill(0);
    this.value.fill(0);
    this.max = 1;
    for (let k = 0; k < kept.length; k++) this.set(k, kept[k]!.priority);
  }

  /** The slot whose priority interval holds u × total (u in [0, 1)). */
  draw(u: number): number {
    let total = 0;
    for (let i = this.size; i > 0; i -= i & -i) total += this.tree[i]!;
    let target = Math.floor(u * total);
    let pos = 0;
    let step = 1;
    while (step * 2 <= this.size) step *= 2;
    for (; step > 0; step >>= 1) {
      const next = pos + step;
      if (next <= this.size && this.tree[next]! <= target) {
        pos = next;
        target -= this.tree[next]!;
      }
    }
    return pos;
  }
}

/** One RMSProp step on w[0..n) with gradient g·clip (TensorFlow's form: w −= rate·g/√(ms + ε)). */
function rmsprop(w: Float64Array, ms: Float64Array, g: Float64Array, n: number, rate: number, clip: number): void {
  for (let i = 0; i < n; i++) {
    const gi = g[i]! * clip;
    if (gi === 0) continue;
    const m = RMS_DECAY * ms[i]! + (1 - RMS_DECAY) * gi * gi;
    ms[i] = m;
    w[i] = w[i]! - (rate * gi) / (Math.sqrt(m) + RMS_EPS);
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
