/**
 * A contextual bandit model: feature encoder + learner(s) + exploration strategy.
 * decide()/pmf() only read learned state; learn() is the only writer, and is a
 * deterministic function of the event sequence (restart replay depends on it).
 */
import { BanditConfigError } from './errors.js';
import { Example } from './features/example.js';
import { BanditInputError, FeatureEncoder } from './features/feature-encoder.js';
import type { PmfInput, StrategyDefinition } from './exploration/strategy-registry.js';
import { enforceMinimumProbability } from './exploration/minimum-probability.js';
import { sample } from './exploration/sampling.js';
import { isPosteriorLearner, type Learner, type PosteriorLearner } from './learners/learner.js';
import { Xoshiro128, rngForEvent } from './random/seeded-rng.js';
import type { RewardRange } from './reward-range.js';
import { SnapshotFormatError, SnapshotReader, SnapshotWriter } from './serialization/snapshot-codec.js';
import type { ActionInput, BanditConfig, BanditModel, Decision, Features, LoggedEvent, StrategyConfig } from './types.js';

const MAGIC = 0x464f4342; // "FOCB"
/** 2 adds the observed reward range (version 1 snapshots read as rewards in [0, 1], what they assumed). */
const FORMAT_VERSION = 2;
const BAG_STREAM = 0xba9;

/** A strategy that reads mean scores, applied over another model's learner (src/bandit/optimizer). */
export interface Explorer {
  definition: StrategyDefinition;
  config: StrategyConfig;
  /** Probability mass spread as a floor: every action keeps at least floorMass/k (so the log stays evaluable). */
  floorMass?: number;
}

/** Scores of k examples of one context: the learner's shared-prefix path when it has one (same numbers, less work). */
function predictAll(learner: Learner, examples: readonly Example[], k: number, out: Float64Array, at = 0): void {
  if (learner.predictContext !== undefined) learner.predictContext(examples, k, out, at);
  else for (let a = 0; a < k; a++) out[at + a] = learner.predict(examples[a]!);
}

export interface ModelParts {
  config: BanditConfig;
  strategy: StrategyDefinition;
  learners: Learner[];
  interactions: readonly (readonly string[])[];
  ignoreLinear: readonly string[];
  importanceWeighted: boolean;
  /** Standardise the context's numbers (linear learner option `standardize`, src/bandit/features/feature-encoder.ts). */
  standardize?: boolean;
  /** The model's reward range (its learners may share it: src/bandit/reward-range.ts). */
  rewards: RewardRange;
}

export class Model implements BanditModel {
  readonly config: BanditConfig;
  private readonly strategy: StrategyDefinition;
  private readonly learners: Learner[];
  private readonly encoder: FeatureEncoder;
  private readonly featureSpec: string;
  private readonly importanceWeighted: boolean;
  private readonly greedify: boolean;
  private readonly minProbability: number;
  private _updates = 0;
  /** The rewards learned (their range scales softmax's and SquareCB's score gaps); shared with a single linear learner. */
  private readonly rewards: RewardRange;
  private examples: Example[] = [];
  private readonly learnExample = new Example(64);
  private input: PmfInput;
  private pmfOut = new Float64Array(16);

  constructor(parts: ModelParts) {
    this.config = parts.config;
    this.strategy = parts.strategy;
    this.learners = parts.learners;
    this.encoder = new FeatureEncoder(parts.interactions, parts.ignoreLinear, parts.standardize === true);
    this.featureSpec = JSON.stringify([parts.interactions, parts.ignoreLinear, parts.standardize === true]);
    this.importanceWeighted = parts.importanceWeighted;
    this.rewards = parts.rewards;
    this.greedify = parts.strategy.greedify?.(parts.config.strategy) ?? false;
    this.minProbability = parts.config.strategy.minProbability ?? 0;
    if (parts.strategy.scores === 'posterior' && !isPosteriorLearner(parts.learners[0]!)) {
      throw new BanditConfigError('/learner/name', `strategy ${parts.config.strategy.name} needs a learner with a posterior (bayes-linear)`);
    }
    this.input = {
      k: 0,
      means: new Float64Array(16),
      cov: new Float64Array(256),
      bagScores: new Float64Array(16 * parts.learners.length),
      updates: 0,
      rewardScale: 1,
      rng: new Xoshiro128(0),
      scratch: new Float64Array(2 * 256 + 64),
    };
  }

  get updates(): number {
    return this._updates;
  }

  private ensureCapacity(k: number): void {
    const x = this.input;
    if (x.means.length < k) {
      const cap = Math.max(k, x.means.length * 2);
      x.means = new Float64Array(cap);
      x.cov = new Float64Array(cap * cap);
      x.bagScores = new Float64Array(cap * this.learners.length);
      x.scratch = new Float64Array(2 * cap * cap + 4 * cap);
      this.pmfOut = new Float64Array(cap);
    }
  }

  /** Scores every action and fills this.pmfOut; returns the RNG (already advanced by any draws). */
  private computePmf(context: Features, actions: readonly ActionInput[], seed: string, explorer?: Explorer): Xoshiro128 {
    const rng = this.score(this.encodeActions(context, actions), actions.length, seed);
    this.explore(explorer, this.pmfOut);
    return rng;
  }

  /**
   * Encodes the context once and one example per action into this model's buffers (valid until its next encode):
   * a model with the same featureKey can score them (the optimizer's candidates share this work).
   */
  encodeActions(context: Features, actions: readonly ActionInput[]): readonly Example[] {
    const k = actions.length;
    if (k === 0) throw new BanditInputError('/actions', 'at least one action is required');
    while (this.examples.length < k) this.examples.push(new Example(64));
    this.encoder.encodeContext(context);
    const examples = this.examples;
    for (let a = 0; a < k; a++) this.encoder.example(actions[a]!, examples[a]!);
    return examples;
  }

  /** Scores the k encoded examples (of one context) into this.input; returns the event's RNG. */
  private score(examples: readonly Example[], k: number, seed: string): Xoshiro128 {
    this.ensureCapacity(k);
    const x = this.input;
    x.k = k;
    x.updates = this._updates;
    x.rewardScale = this.rewards.scale;
    x.rng = rngForEvent(seed);
    switch (this.strategy.scores) {
      case 'mean':
        predictAll(this.learners[0]!, examples, k, x.means);
        break;
      case 'posterior':
        (this.learners[0] as PosteriorLearner).posterior(examples, k, x.means, x.cov);
        break;
      case 'ensemble': {
        const bags = this.learners.length;
        for (let a = 0; a < k; a++) x.means[a] = 0;
        for (let b = 0; b < bags; b++) {
          predictAll(this.learners[b]!, examples, k, x.bagScores, b * k);
          for (let a = 0; a < k; a++) x.means[a] = x.means[a]! + x.bagScores[b * k + a]! / bags;
        }
        break;
      }
    }
    return x.rng as Xoshiro128;
  }

  /** The PMF over the scores computed last, by this model's strategy or another one that reads mean scores. */
  private explore(explorer: Explorer | undefined, out: Float64Array): void {
    const k = this.input.k;
    if (explorer) {
      explorer.definition.pmf(this.input, explorer.config, out);
      const floor = Math.max(explorer.config.minProbability ?? 0, (explorer.floorMass ?? 0) / k);
      if (floor > 0) enforceMinimumProbability(out, k, floor);
    } else {
      this.strategy.pmf(this.input, this.config.strategy, out);
      if (this.minProbability > 0) enforceMinimumProbability(out, k, this.minProbability);
    }
  }

  /** `explorer`: another 'mean' strategy over this model's scores (the optimizer's candidates share learners). */
  decide(context: Features, actions: ActionInput[], seed: string, explorer?: Explorer): Decision {
    const rng = this.computePmf(context, actions, seed, explorer);
    const k = actions.length;
    const pmfOut = this.pmfOut;
    const chosen = sample(pmfOut, rng, k);
    // Pushed rather than preallocated: a packed array, which JSON.stringify (the log and the answer) serialises on
    // its fast path; `new Array(k)` is holey and took its slow one (2.6% of /decide's main thread in a perf profile).
    const pmf: number[] = [];
    const scores: number[] = [];
    for (let a = 0; a < k; a++) {
      pmf.push(pmfOut[a]!);
      scores.push(this.input.means[a]!);
    }
    return { pmf, scores, chosen, probability: pmf[chosen]! };
  }

  pmf(context: Features, actions: ActionInput[], seed: string, explorer?: Explorer): number[] {
    this.computePmf(context, actions, seed, explorer);
    return Array.from(this.pmfOut.subarray(0, actions.length));
  }

  /**
   * Scores the actions once (into `scores`), then fills pmfs[i] with the PMF of explorers[i] over them (no
   * sampling; undefined: this model's own strategy). The optimizer's candidates that share this learner.
   * `encoded`: the actions' examples as encodeActions() of a model with the same featureKey gave them.
   */
  evaluate(encoded: readonly Example[], k: number, seed: string, scores: Float64Array, explorers: readonly (Explorer | undefined)[], pmfs: readonly Float64Array[]): void {
    this.score(encoded, k, seed);
    const means = this.input.means;
    for (let a = 0; a < k; a++) scores[a] = means[a]!;
    for (let i = 0; i < explorers.length; i++) this.explore(explorers[i], pmfs[i]!);
  }

  learn(event: LoggedEvent): void {
    this.learnEncoded(event, this.encodeLearning(event));
  }

  /** Features of the learner (interactions, ignored linear terms): models with the same key encode an event alike. */
  get featureKey(): string {
    return this.featureSpec;
  }

  /** Validates the event and encodes its chosen action (into a buffer of this model, valid until its next call). */
  encodeLearning(event: LoggedEvent): Example {
    const { chosen, probability, reward, actions } = event;
    if (!Number.isInteger(chosen) || chosen < 0 || chosen >= actions.length) {
      throw new BanditInputError('/chosen', `chosen must index one of the ${actions.length} actions`);
    }
    // A PMF entry may exceed 1 by round-off; replay must still accept what decide() logged.
    if (!(probability > 0 && probability <= 1 + 1e-9)) throw new BanditInputError('/probability', 'probability must be in (0, 1]');
    if (!Number.isFinite(reward)) throw new BanditInputError('/reward', 'reward must be a finite number');
    this.encoder.encodeContext(event.context);
    const ex = this.learnExample;
    this.encoder.example(actions[chosen]!, ex);
    return ex;
  }

  /** Learns a validated event from its encoding (by this model, or by one with the same featureKey). */
  learnEncoded(event: LoggedEvent, ex: Example): void {
    const { probability, reward } = event;
    this.rewards.observe(reward);
    const weight = this.importanceWeighted ? 1 / probability : 1;
    const learners = this.learners;
    if (learners.length === 1) {
      learners[0]!.learn(ex, reward, weight);
    } else {
      // Online bootstrap (Oza & Russell): each replica sees the event Poisson(1) times,
      // seeded from the event so replay reproduces the same weights.
      // rngForEvent(id, s) seeds with murmurHash3(id, 0x5eed0000 ^ s): the stream below gives the seed this code always used.
      const rng = event.eventId !== undefined
        ? rngForEvent(event.eventId, BAG_STREAM ^ 0x5eed0000)
        : new Xoshiro128(Math.imul(this._updates | 0, 0x9e3779b1) ^ BAG_STREAM);
      for (let b = 0; b < learners.length; b++) {
        const draws = rng.poisson1();
        const times = b === 0 && this.greedify ? 1 : draws;
        if (times > 0) learners[b]!.learn(ex, reward, weight * times);
      }
    }
    this.encoder.observeContext(event.context);
    this._updates++;
  }

  snapshot(): Uint8Array {
    const w = new SnapshotWriter();
    w.u32(MAGIC);
    w.u32(FORMAT_VERSION);
    w.string(this.learners[0]!.kind);
    w.f64(this._updates);
    w.f64(this.rewards.min);
    w.f64(this.rewards.max);
    w.u32(this.learners.length);
    for (const l of this.learners) l.write(w);
    const st = this.encoder.standardizer;
    if (st !== undefined) {
      // In hash order, so that equal states give equal bytes (a fingerprint) whatever order features came in.
      const hashes = [...st.stats.keys()].sort((a, b) => a - b);
      w.u32(hashes.length);
      for (const h of hashes) {
        const v = st.stats.get(h)!;
        w.u32(h >>> 0);
        w.f64(v[0]!);
        w.f64(v[1]!);
        w.f64(v[2]!);
      }
    }
    return w.finish();
  }

  restore(bytes: Uint8Array): void {
    const r = new SnapshotReader(bytes);
    if (r.u32() !== MAGIC) throw new SnapshotFormatError('not a Focal bandit snapshot');
    const version = r.u32();
    if (version !== FORMAT_VERSION && version !== 1) throw new SnapshotFormatError(`unsupported snapshot version ${version}`);
    const kind = r.string();
    if (kind !== this.learners[0]!.kind) {
      throw new SnapshotFormatError(`snapshot holds a ${kind} learner, config has ${this.learners[0]!.kind}`);
    }
    this._updates = r.f64();
    if (version === 1) {
      this.rewards.min = this._updates > 0 ? 0 : Infinity;
      this.rewards.max = this._updates > 0 ? 1 : -Infinity;
    } else {
      this.rewards.min = r.f64();
      this.rewards.max = r.f64();
    }
    const count = r.u32();
    if (count !== this.learners.length) throw new SnapshotFormatError(`snapshot holds ${count} learners, config has ${this.learners.length}`);
    for (const l of this.learners) l.read(r);
    const st = this.encoder.standardizer;
    if (st !== undefined) {
      st.stats.clear();
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const h = r.u32() | 0;
        const v = new Float64Array([r.f64(), r.f64(), r.f64()]);
        if (!(v[0]! >= 1 && Number.isFinite(v[1]!) && v[2]! >= 0)) throw new SnapshotFormatError('standardiser statistics out of range');
        st.stats.set(h, v);
      }
    }
    if (!r.done) throw new SnapshotFormatError('snapshot has trailing bytes');
  }
}
