/**
 * Automatic optimization (strategy `auto`): Personalizer's auto-optimization and VW's --automl idea, online.
 *
 * The model keeps a bounded set of candidate models (learning rates, interactions including the all-namespace
 * quadratic crossed with the action, exploration settings, forgetting, standardised features, optionally
 * neural-linear) beside the one
 * it serves. Every logged event is fed to all of them (each learns it importance-weighted, as it would alone).
 * On evaluated events (all of the first WARMUP, then a seeded `evaluationRate` share), before they learn it,
 * each candidate's PMF at the logged context gives its doubly robust term (src/bandit/evaluation/estimators.ts:
 * the logged action's importance weight π_c(a|x)/μ(a|x), the logged reward, and as reward model q̂ the
 * candidate's own predictions before it learns the event: DR is unbiased for any such q̂, and its variance is
 * small exactly for the candidates that predict well, where a shared q̂ from a poor learner left the better
 * candidate's value resting on a few huge importance weights). The optimizer keeps discounted sums of each
 * candidate's terms, of every pair's squared differences and of every pair's predictable second moment
 * (pairSecondMoments), so it knows each value and the variance of each paired difference. It switches to the
 * candidate whose paired difference with the served one has the largest lower confidence bound, and only when
 * that bound is above 0: the bound is a normal-mixture confidence sequence (anytime-valid: peeking after every
 * event does not inflate the error rate; Howard et al. 2021) at `confidence`, Bonferroni-corrected over the
 * challengers, with the larger of the two variances, so on a problem where every candidate is worth the same it
 * does not switch (bench/auto-aa.ts).
 *
 * The log: an event that will be evaluated (known at decide time from its id) is drawn from the served candidate's
 * PMF with every action raised to at least floor/k (withFloor); every other event is the served candidate's alone, so
 * after the warm-up most decisions pay nothing for the evaluation.
 *
 * A drift signal: a Page–Hinkley test on the served candidate's rewards (in units of the observed range). An
 * alarm shrinks the estimates' memory to a tenth, so evidence from after the change decides (a forgetting
 * candidate can then take over quickly), mixes ALARM_FLOOR·floor of uniform exploration into every decision for
 * ALARM_EVENTS events, and is counted in the status.
 *
 * Cost: decide() is the served candidate's alone (its learner's scores, its explorer). learn() encodes the event
 * once per feature set (the candidates over the base interactions share one encoding: on an evaluated event every
 * action's example, which the evaluation scores and the learners then learn the logged one of; otherwise the
 * logged action's only), each distinct learner learns it once, and only evaluated events score every candidate.
 *
 * Deterministic given the log: the evaluation subsample is a hash of the event id, every estimate is a plain
 * function of the events in order, and the snapshot carries all of it, so replay after a restart reproduces
 * the choices. Why hand-written: the candidates and the switching rule are the product's own algorithm.
 */
import { doublyRobustTerm } from '../evaluation/estimators.js';
import type { Example } from '../features/example.js';
import { BanditInputError } from '../features/feature-encoder.js';
import { strategyDefinition } from '../exploration/strategy-registry.js';
import type { Explorer, Model } from '../model.js';
import { enforceMinimumProbability } from '../exploration/minimum-probability.js';
import { sample } from '../exploration/sampling.js';
import { firstUniform, rngForEvent } from '../random/seeded-rng.js';
import { RewardRange } from '../reward-range.js';
import { SnapshotFormatError, SnapshotReader, SnapshotWriter } from '../serialization/snapshot-codec.js';
import type {
  ActionInput,
  AutoStrategyConfig,
  BanditConfig,
  BanditModel,
  CandidateStatus,
  Decision,
  Features,
  LearnerConfig,
  LoggedEvent,
  OptimizerStatus,
} from '../types.js';

const MAGIC = 0x464f4341; // "FOCA"
/** 2: adds the predictable second moments V (version 1 snapshots restore with V taken from D). */
const FORMAT_VERSION = 2;
/** Every event of the first WARMUP is evaluated (small problems need every bit of evidence early). */
export const WARMUP = 2000;
const EVAL_STREAM = 0xa070;
/** The RNG stream of the draw from an event's PMF with the floor (apart from the served candidate's own). */
const MIX_STREAM = 0xa071;
/** After a drift alarm, for ALARM_EVENTS events, every decision mixes in ALARM_FLOOR·floor uniformly (withFloor). */
const ALARM_EVENTS = 500;
const ALARM_FLOOR = 2;
/**
 * Candidates marked `narrow` are retired when the first context has more features than this: a c×c×a term's cost
 * grows as its square (20 features make 400 crossed terms per action, 20 times a linear candidate's work).
 */
export const MAX_NARROW_FEATURES = 16;
/** Prior scale n0 of the normal-mixture boundary, in events: the bound is tightest around this many. */
const MIXTURE_N0 = 100;
const HISTORY = 20;
/** The candidate served first when the first context has at most MAX_NARROW_FEATURES features. */
const START_NARROW = 'squarecb-standardized';
/**
 * Page–Hinkley on rewards in units of their range: tolerated drift per event δ and alarm threshold λ. A drop of
 * the mean by Δ > δ is flagged after about λ/(Δ − δ) events (≈ 110 for a drop of half the range); on a stationary
 * stream of variance ≤ 1/4 a false alarm has probability about exp(−2δλ/σ²) = e^−20 per run.
 */
const PH_DELTA = 0.05;
const PH_LAMBDA = 50;
/** On a drift alarm, the estimates keep this share of their weight. */
const DRIFT_KEEP = 0.1;

export interface CandidateSpec {
  name: string;
  config: BanditConfig;
  /**
   * Retired on wide contexts (more than MAX_NARROW_FEATURES): the context × context × action candidates, whose cost
   * grows as the square of the features, and the standardised one, since wide contexts are mostly sparse (pixels,
   * words) and there a feature's absence is information that standardising erases (MNIST as a bandit: 0.361
   * standardised against 0.629, 10 seeds of bench/suite).
   */
  narrow?: boolean;
}

/**
 * The candidate set: the current default first (served until evidence says otherwise), then one change at a
 * time along each axis the issue names. Bounded: at most 10 (9 linear, and neural-linear when asked for).
 */
export function candidateSpecs(auto: AutoStrategyConfig, base: Extract<LearnerConfig, { name: 'linear' }>): CandidateSpec[] {
  const floor = (auto as { minProbability?: number }).minProbability;
  const interactions = base.interactions ?? [['context', 'action']];
  const quadratic = [...interactions.map((t) => [...t]), ['context', 'context', 'action']];
  const common = floor !== undefined && floor > 0 ? { minProbability: floor } : {};
  const squarecb = { name: 'squarecb', gamma: 30, gammaExponent: 0.5, ...common } as const;
  const epsilon = { name: 'epsilon-greedy', epsilon: 0.05, ...common } as const;
  const specs: CandidateSpec[] = [
    { name: 'squarecb', config: { strategy: squarecb, learner: base } },
    { name: 'epsilon-greedy', config: { strategy: epsilon, learner: base } },
    { name: 'squarecb-gamma10', config: { strategy: { ...squarecb, gamma: 10 }, learner: base } },
    { name: 'squarecb-lr0.1', config: { strategy: squarecb, learner: { ...base, learningRate: 0.1 } } },
    { name: 'squarecb-lr2', config: { strategy: squarecb, learner: { ...base, learningRate: 2 } } },
    { name: 'squarecb-quadratic', config: { strategy: squarecb, learner: { ...base, interactions: quadratic } }, narrow: true },
    { name: 'epsilon-greedy-quadratic', config: { strategy: epsilon, learner: { ...base, interactions: quadratic } }, narrow: true },
    { name: 'squarecb-forget', config: { strategy: squarecb, learner: { ...base, forget: 0.995 } } },
    { name: 'squarecb-standardized', config: { strategy: squarecb, learner: { ...base, standardize: true } }, narrow: true },
  ];
  if (auto.neural) specs.push({ name: 'neural-linear', config: { strategy: { name: 'neural-linear', hidden: 32, scale: 1, forget: 0.999, memory: 2048, ...common }, learner: base } });
  return specs;
}

/** JSON with sorted keys: candidates whose learners are configured alike share one learner. */
function learnerKey(config: BanditConfig): string {
  const sort = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, sort(x)]))
      : Array.isArray(v) ? v.map(sort) : v;
  // A strategy that brings its own learner (neural-linear) shares with nobody.
  return strategyDefinition(config.strategy.name).scores === 'mean' ? JSON.stringify(sort(config.learner)) : `own:${config.strategy.name}`;
}

/**
 * Builds the candidates: one Model per distinct learner (each learns every event once), and for each candidate
 * the learner it reads and the explorer it applies to that learner's scores.
 */
export function buildAutoModel(config: BanditConfig, build: (c: BanditConfig, rewards: RewardRange) => Model): AutoModel {
  const specs = candidateSpecs(config.strategy as AutoStrategyConfig, config.learner as Extract<LearnerConfig, { name: 'linear' }>);
  // Every candidate learns every event: one reward range for all of them and the drift signal.
  const rewards = new RewardRange();
  const keys: string[] = [];
  const groups: Model[] = [];
  const members = specs.map((spec) => {
    const key = learnerKey(spec.config);
    let group = keys.indexOf(key);
    if (group < 0) {
      group = keys.length;
      keys.push(key);
      groups.push(build(spec.config, rewards));
    }
    const definition = strategyDefinition(spec.config.strategy.name);
    return { group, explorer: definition.scores === 'mean' ? { definition, config: spec.config.strategy } : undefined };
  });
  return new AutoModel(config, specs, groups, members, rewards);
}

function countFeatures(f: Features): number {
  let n = 0;
  for (const key of Object.keys(f)) {
    const v = f[key];
    n += v !== null && typeof v === 'object' ? countFeatures(v) : 1;
  }
  return n;
}

/**
 * Half-width of a normal-mixture confidence sequence for a mean of n terms of variance `variance`,
 * at error rate alpha: sqrt(σ²(n + n0)/n² · (ln((n + n0)/n0) + 2 ln(1/α))).
 */
export function mixtureRadius(variance: number, n: number, alpha: number): number {
  if (!(n > 0)) return Infinity;
  const v = Math.max(variance, 0);
  return Math.sqrt(((v * (n + MIXTURE_N0)) / (n * n)) * (Math.log((n + MIXTURE_N0) / MIXTURE_N0) + 2 * Math.log(1 / alpha)));
}

export class AutoModel implements BanditModel {
  readonly config: BanditConfig;
  private readonly auto: AutoStrategyConfig;
  /** The base learner crosses every context namespace with the action (the default): narrow contexts start quadratic. */
  private readonly defaultInteractions: boolean;
  private readonly specs: CandidateSpec[];
  /** One model per distinct learner; candidate c reads groups[members[c].group] through members[c].explorer. */
  private readonly groups: Model[];
  private readonly members: { group: number; explorer: Explorer | undefined }[];
  /** Per group: its candidates, their explorers and PMF buffers (rebuilt when a candidate retires). */
  private groupPlans: { candidates: number[]; explorers: (Explorer | undefined)[]; pmfs: Float64Array[] }[] = [];
  private readonly count: number;
  private readonly retired: Uint8Array;
  private serving = 0;
  private _updates = 0;
  private evaluated = 0;
  private switches = 0;
  private history: { event: number; from: number; to: number; lowerBound: number }[] = [];
  private firstSeen = false;
  // Discounted sums: W = Σd, W2 = Σd², S[c] = Σd·v_c, SS[c] = Σd·v_c², D[c·C+e] = Σd·(v_c − v_e)², and
  // V[c·C+e] = Σd·E[(v_c − v_e)² | before the action and reward] (pairSecondMoments).
  private W = 0;
  private W2 = 0;
  private readonly S: Float64Array;
  private readonly SS: Float64Array;
  private readonly D: Float64Array;
  private readonly V: Float64Array;
  // Page–Hinkley on the served candidate's rewards.
  private phCount = 0;
  private phMean = 0;
  private phSum = 0;
  private phMax = 0;
  /** The rewards learned, shared with every candidate (src/bandit/reward-range.ts). */
  private readonly rewards: RewardRange;
  private driftDetections = 0;
  private lastDrift = -1;
  // Scratch.
  private pmfs: Float64Array[] = [];
  /** Per group: the scores of the evaluated event's actions. */
  private scores: Float64Array[] = [];
  private readonly terms: Float64Array;
  /** Per candidate, on the evaluated event: Σ_a π_c(a)·q̂_c(a). */
  private readonly modelValues: Float64Array;
  /** The logging PMF of the evaluated event, as this model drew it (withFloor over the served candidate's PMF). */
  private logging = new Float64Array(16);
  /** Per group: the first group with the same features (whose encoding of an event it reads). */
  private readonly encoderOf: number[];
  /** Per group, during learn(): the examples its encoder made of the event's actions (evaluated events)... */
  private readonly encoded: (readonly Example[] | undefined)[];
  /** ...or of the logged action only (the others). */
  private readonly learning: (Example | undefined)[];

  constructor(config: BanditConfig, specs: CandidateSpec[], groups: Model[], members: { group: number; explorer: Explorer | undefined }[], rewards: RewardRange) {
    this.rewards = rewards;
    this.config = config;
    this.auto = config.strategy as AutoStrategyConfig;
    const interactions = (config.learner as { interactions?: string[][] }).interactions;
    this.defaultInteractions = interactions === undefined || JSON.stringify(interactions) === JSON.stringify([['context', 'action']]);
    this.specs = specs;
    this.groups = groups;
    this.members = members;
    this.count = specs.length;
    this.retired = new Uint8Array(this.count);
    this.S = new Float64Array(this.count);
    this.SS = new Float64Array(this.count);
    this.D = new Float64Array(this.count * this.count);
    this.V = new Float64Array(this.count * this.count);
    this.modelValues = new Float64Array(this.count);
    this.terms = new Float64Array(this.count);
    for (let c = 0; c < this.count; c++) this.pmfs.push(new Float64Array(16));
    this.scores = groups.map(() => new Float64Array(16));
    this.encoderOf = groups.map((m) => groups.findIndex((o) => o.featureKey === m.featureKey));
    this.encoded = groups.map(() => undefined);
    this.learning = groups.map(() => undefined);
    this.plan();
  }

  private plan(): void {
    this.groupPlans = this.groups.map((_, g) => {
      const candidates: number[] = [];
      for (let c = 0; c < this.count; c++) if (this.members[c]!.group === g && !this.retired[c]) candidates.push(c);
      return { candidates, explorers: candidates.map((c) => this.members[c]!.explorer), pmfs: candidates.map((c) => this.pmfs[c]!) };
    });
  }

  get updates(): number {
    return this._updates;
  }

  /** Within ALARM_EVENTS events of a drift alarm: every decision carries the alarm's uniform share. */
  private alarmed(): boolean {
    return this.lastDrift >= 0 && this._updates - this.lastDrift < ALARM_EVENTS;
  }

  /** Whether this event is drawn with the floor (withFloor) rather than from the served candidate alone. */
  private mixes(seed: string): boolean {
    return this.auto.floor > 0 && (this.evaluates(seed) || this.alarmed());
  }

  /** Whether the event will be evaluated (decided from its id and the events learned so far, as learn() decides). */
  private evaluates(seed: string): boolean {
    return this._updates < WARMUP || firstUniform(seed, EVAL_STREAM) < this.auto.evaluationRate;
  }

  decide(context: Features, actions: ActionInput[], seed: string): Decision {
    const m = this.members[this.serving]!;
    const served = this.groups[m.group]!.decide(context, actions, seed, m.explorer);
    if (!this.mixes(seed)) return served;
    const pmf = this.withFloor(served.pmf);
    const chosen = sample(pmf, rngForEvent(seed, MIX_STREAM), pmf.length);
    return { pmf, scores: served.scores, chosen, probability: pmf[chosen]! };
  }

  pmf(context: Features, actions: ActionInput[], seed: string): number[] {
    const m = this.members[this.serving]!;
    const served = this.groups[m.group]!.pmf(context, actions, seed, m.explorer);
    return this.mixes(seed) ? this.withFloor(served) : served;
  }

  /**
   * The logging policy of an event that will be evaluated, written over the served candidate's PMF: every action
   * raised to at least floor/k, the mass taken from the actions above it (enforceMinimumProbability), so every
   * candidate's importance weight is at most k/floor and a PMF already above the floor is left as it is. Within
   * ALARM_EVENTS of a drift alarm, (1 − g)·π_served + g/k with g = ALARM_FLOOR·floor instead: after a change every
   * candidate may agree on a stale choice, and only uniform exploration finds the new one.
   *
   * Measured (bench:suite, 10 seeds, against a uniform mixture of 0.05 on evaluated events): the minimum at 0.05/k
   * gained on 11 of 13 streams (MNIST 0.610 → 0.619, seattle-weather 0.670 → 0.686, penguins 0.881 → 0.894): a
   * mixture moves mass off the best action even where every action already has enough. A lower floor gained more
   * there (0.025/k: MNIST 0.633, seattle-weather 0.698) but a confidently wrong incumbent could then no longer be
   * left: on the XOR test below the quadratic candidate's lower bound stayed under 0 for 12,000 events, since its
   * evidence comes through actions the incumbent gives only the floor. Only the served candidate is scored: a share over the candidates' own
   * PMFs cost 2.5× the main thread's CPU per /decide (bench/bandit-http.ts: 104 → 255–278 µs).
   */
  private withFloor<T extends number[] | Float64Array>(pmf: T, k = pmf.length): T {
    if (!this.alarmed()) {
      enforceMinimumProbability(pmf, k, this.auto.floor / k);
      return pmf;
    }
    const g = Math.min(1, this.auto.floor * ALARM_FLOOR);
    let total = 0;
    for (let a = 0; a < k; a++) total += pmf[a] = (1 - g) * pmf[a]! + g / k;
    // Renormalised: the sum of the parts can be 1 ± 2⁻⁵², and a logged probability must not exceed 1.
    for (let a = 0; a < k; a++) pmf[a] = Math.min(1, pmf[a]! / total);
    return pmf;
  }

  /**
   * Adds to V each pair's E[(v_c − v_e)²] over what the event had yet to draw: the action, from the logging PMF μ
   * (this model's: withFloor over the served candidate's PMF), and the reward. The pair's difference is linear in
   * the reward, v_c − v_e = α_a + β_a·r for action a, and the reward's distribution is taken as the widest one on the
   * observed range [lo, hi] with mean q̂(a), the predictions of the candidate valued highest so far: lo or hi, so the
   * moment is an upper bound when q̂ is right. The served candidate's q̂ instead, when it is the one that is wrong (a
   * linear learner on XOR), overstated the moment about twofold: the switch to the quadratic candidate came after a
   * median of 1,580 events instead of 610 (10 seeds), for no false switch in 600 A/A runs of 10,000 events
   * (bench/auto-aa.ts: 2, 5 and 10 actions) against 4 of 600. The sample variance alone switched in 96 of 600.
   *
   * Why: a challenger that puts mass where μ has only the floor gets, rarely, a weight up to k/floor; such terms
   * carry much of the variance of the difference, and in most short runs none has been drawn yet. There the sample
   * variance is too small and the bound switches on noise (A/A, 10 actions, 200 seeds of 10,000 events: 75 switched
   * with the sample variance alone, at 0.999). The predictable moment counts every action at its probability.
   */
  private pairSecondMoments(k: number, decay: number): void {
    if (this.logging.length < k) this.logging = new Float64Array(k * 2);
    const mu = this.logging;
    const served = this.pmfs[this.serving]!;
    for (let a = 0; a < k; a++) mu[a] = served[a]!;
    if (this.auto.floor > 0) this.withFloor(mu, k);
    const lo = this.rewards.low;
    const hi = this.rewards.high > lo ? this.rewards.high : lo + 1;
    // The reward model of the candidate with the highest value so far (from earlier events only).
    let lead = this.serving;
    for (let c = 0; c < this.count; c++) if (!this.retired[c] && this.S[c]! > this.S[lead]!) lead = c;
    const qs = this.scores[this.members[lead]!.group]!;
    const C = this.count;
    for (let c = 0; c < C; c++) {
      if (this.retired[c]) continue;
      const pc = this.pmfs[c]!;
      const qc = this.scores[this.members[c]!.group]!;
      for (let e = c + 1; e < C; e++) {
        if (this.retired[e]) continue;
        const pe = this.pmfs[e]!;
        const qe = this.scores[this.members[e]!.group]!;
        const base = this.modelValues[c]! - this.modelValues[e]!;
        let moment = 0;
        for (let a = 0; a < k; a++) {
          const m = mu[a]!;
          if (!(m > 0)) continue;
          const wc = pc[a]! / m;
          const we = pe[a]! / m;
          const alpha = base - wc * qc[a]! + we * qe[a]!;
          const beta = wc - we;
          const mean = Math.min(hi, Math.max(lo, qs[a]!));
          const pHigh = (mean - lo) / (hi - lo);
          const dLow = alpha + beta * lo;
          const dHigh = alpha + beta * hi;
          moment += m * (pHigh * dHigh * dHigh + (1 - pHigh) * dLow * dLow);
        }
        this.V[c * C + e] = decay * this.V[c * C + e]! + moment;
      }
    }
  }

  private ensurePmfs(k: number): void {
    if (this.pmfs[0]!.length < k) {
      this.pmfs = this.pmfs.map(() => new Float64Array(k * 2));
      this.scores = this.scores.map(() => new Float64Array(k * 2));
      this.plan();
    }
  }

  learn(event: LoggedEvent): void {
    const { chosen, probability, reward, actions } = event;
    if (!Number.isInteger(chosen) || chosen < 0 || chosen >= actions.length) {
      throw new BanditInputError('/chosen', `chosen must index one of the ${actions.length} actions`);
    }
    if (!(probability > 0 && probability <= 1 + 1e-9)) throw new BanditInputError('/probability', 'probability must be in (0, 1]');
    if (!Number.isFinite(reward)) throw new BanditInputError('/reward', 'reward must be a finite number');
    if (!this.firstSeen) {
      // Decided once, from the first event learned, so replay retires the same candidates.
      this.firstSeen = true;
      if (countFeatures(event.context) > MAX_NARROW_FEATURES) {
        this.specs.forEach((s, c) => { if (s.narrow && c !== this.serving) this.retired[c] = 1; });
        this.plan();
      } else {
        // A narrow context: serve the standardised SquareCB from the start (the suite's better prior on its tables,
        // 10 seeds: iris 0.589 → 0.713, penguins 0.652 → 0.881, cars 0.607 → 0.629, movies 0.345 → 0.380 against
        // the quadratic start, which does better on the wheel at δ = 0.5 / 0.7 (11.6 / 13.8 against 16.8 / 15.5)
        // and seattle-weather (0.721 against 0.694); README, "Learning suite"); evidence moves it like any other.
        // Only over the default interactions: interactions the user chose are served first.
        const start = this.specs.findIndex((s) => s.name === START_NARROW);
        if (start >= 0 && this.defaultInteractions) this.serving = start;
      }
    }
    const seed = event.eventId ?? `auto-${this._updates}`;
    const evaluate = this._updates < WARMUP || firstUniform(seed, EVAL_STREAM) < this.auto.evaluationRate;
    // Encode first (a bad feature throws here, before anything changed), evaluate (reads state only), then learn.
    // Learners with the same features share one encoding of the event: on an evaluated event every action's
    // example (the logged action's is the one they learn), otherwise the logged action's only.
    const encoded = this.encoded;
    const learning = this.learning;
    encoded.fill(undefined);
    learning.fill(undefined);
    const groups = this.groups;
    for (let g = 0; g < groups.length; g++) {
      if (this.groupPlans[g]!.candidates.length === 0) continue;
      const e = this.encoderOf[g]!;
      if (evaluate) encoded[e] ??= groups[e]!.encodeActions(event.context, actions);
      else learning[e] ??= groups[e]!.encodeLearning(event);
    }
    if (evaluate) this.evaluateEvent(event, seed);
    this.driftSignal(reward);
    for (let g = 0; g < groups.length; g++) {
      if (this.groupPlans[g]!.candidates.length === 0) continue;
      const e = this.encoderOf[g]!;
      groups[g]!.learnEncoded(event, evaluate ? encoded[e]![chosen]! : learning[e]!);
    }
    this._updates++;
  }

  private evaluateEvent(event: LoggedEvent, seed: string): void {
    const k = event.actions.length;
    this.ensurePmfs(k);
    for (let g = 0; g < this.groups.length; g++) {
      const plan = this.groupPlans[g]!;
      if (plan.candidates.length > 0) this.groups[g]!.evaluate(this.encoded[this.encoderOf[g]!]!, k, seed, this.scores[g]!, plan.explorers, plan.pmfs);
    }
    const mu = event.probability;
    for (let c = 0; c < this.count; c++) {
      if (this.retired[c]) continue;
      // DR with the candidate's own learner as the reward model q̂ (its prediction before it learns this event):
      // unbiased whatever q̂ is, and tight for a candidate whose predictions are good, which is the one to find.
      const p = this.pmfs[c]!;
      const q = this.scores[this.members[c]!.group]!;
      let modelValue = 0;
      for (let a = 0; a < k; a++) modelValue += p[a]! * q[a]!;
      this.modelValues[c] = modelValue;
      this.terms[c] = doublyRobustTerm({ weight: p[event.chosen]! / mu, reward: event.reward, modelValue, modelLogged: q[event.chosen]! });
    }
    const decay = this.auto.horizon > 0 ? 1 - 1 / this.auto.horizon : 1;
    this.pairSecondMoments(k, decay);
    this.W = decay * this.W + 1;
    this.W2 = decay * decay * this.W2 + 1;
    const C = this.count;
    for (let c = 0; c < C; c++) {
      if (this.retired[c]) continue;
      const v = this.terms[c]!;
      this.S[c] = decay * this.S[c]! + v;
      this.SS[c] = decay * this.SS[c]! + v * v;
      for (let e = c + 1; e < C; e++) {
        if (this.retired[e]) continue;
        const d = v - this.terms[e]!;
        this.D[c * C + e] = decay * this.D[c * C + e]! + d * d;
      }
    }
    this.evaluated++;
    this.maybeSwitch();
  }

  private effectiveEvents(): number {
    return this.W2 > 0 ? (this.W * this.W) / this.W2 : 0;
  }

  /** Paired difference (candidate c − served s): mean, and the lower bound of its confidence sequence. */
  private paired(c: number, s: number): { difference: number; lowerBound: number } {
    return { difference: (this.S[c]! - this.S[s]!) / this.W, lowerBound: this.lowerBound(c, s) };
  }

  private lowerBound(c: number, s: number): number {
    const C = this.count;
    const diff = (this.S[c]! - this.S[s]!) / this.W;
    const sq = (c < s ? this.D[c * C + s]! : this.D[s * C + c]!) / this.W;
    // The larger of the sample variance and the predictable second moment: the sample alone misses, in most runs,
    // the rare large weights that carry much of the true variance (pairSecondMoments).
    const predictable = (c < s ? this.V[c * C + s]! : this.V[s * C + c]!) / this.W;
    const variance = Math.max(sq - diff * diff, predictable);
    const active = this.count - this.retiredCount();
    const alpha = (1 - this.auto.confidence) / Math.max(1, active - 1);
    return diff - mixtureRadius(variance, this.effectiveEvents(), alpha);
  }

  private retiredCount(): number {
    let n = 0;
    for (let c = 0; c < this.count; c++) n += this.retired[c]!;
    return n;
  }

  private maybeSwitch(): void {
    if (this.effectiveEvents() < this.auto.minEvents) return;
    const s = this.serving;
    let best = -1;
    let bestLb = 0;
    for (let c = 0; c < this.count; c++) {
      if (c === s || this.retired[c]) continue;
      const lowerBound = this.lowerBound(c, s);
      if (lowerBound > bestLb) {
        bestLb = lowerBound;
        best = c;
      }
    }
    if (best < 0) return;
    this.serving = best;
    this.switches++;
    this.history.push({ event: this._updates, from: s, to: best, lowerBound: bestLb });
    if (this.history.length > HISTORY) this.history.shift();
  }

  private driftSignal(reward: number): void {
    this.rewards.observe(reward);
    const range = this.rewards.span;
    if (!(range > 0)) return;
    const x = reward / range;
    this.phCount++;
    this.phMean += (x - this.phMean) / this.phCount;
    // A drop in the mean: the cumulative deviation above (mean − δ) falls away from its running maximum.
    this.phSum += x - this.phMean + PH_DELTA;
    if (this.phSum > this.phMax) this.phMax = this.phSum;
    if (this.phMax - this.phSum > PH_LAMBDA) {
      this.driftDetections++;
      this.lastDrift = this._updates;
      this.phCount = 0;
      this.phMean = 0;
      this.phSum = 0;
      this.phMax = 0;
      this.W *= DRIFT_KEEP;
      this.W2 *= DRIFT_KEEP * DRIFT_KEEP;
      for (let i = 0; i < this.S.length; i++) {
        this.S[i] = this.S[i]! * DRIFT_KEEP;
        this.SS[i] = this.SS[i]! * DRIFT_KEEP;
      }
      for (let i = 0; i < this.D.length; i++) {
        this.D[i] = this.D[i]! * DRIFT_KEEP;
        this.V[i] = this.V[i]! * DRIFT_KEEP;
      }
    }
  }

  optimizerStatus(): OptimizerStatus {
    const n = this.effectiveEvents();
    const s = this.serving;
    const candidates: CandidateStatus[] = this.specs.map((spec, c) => {
      const retired = this.retired[c] === 1;
      let value: number | null = null;
      let ci: [number, number] | null = null;
      let difference: number | null = null;
      let lowerBound: number | null = null;
      if (!retired && this.W > 0) {
        value = this.S[c]! / this.W;
        const variance = this.SS[c]! / this.W - value * value;
        const half = 1.96 * Math.sqrt(Math.max(variance, 0) / Math.max(n, 1));
        ci = [value - half, value + half];
        if (c !== s) ({ difference, lowerBound } = this.paired(c, s));
      }
      return { name: spec.name, config: spec.config, serving: c === s, retired, value, ci, difference, lowerBound };
    });
    return {
      serving: this.specs[s]!.name,
      events: this._updates,
      evaluatedEvents: this.evaluated,
      effectiveEvents: n,
      switches: this.switches,
      history: this.history.map((h) => ({ event: h.event, from: this.specs[h.from]!.name, to: this.specs[h.to]!.name, lowerBound: h.lowerBound })),
      drift: { detections: this.driftDetections, lastEvent: this.lastDrift >= 0 ? this.lastDrift : null },
      candidates,
    };
  }

  snapshot(): Uint8Array {
    const w = new SnapshotWriter();
    w.u32(MAGIC);
    w.u32(FORMAT_VERSION);
    w.u32(this.count);
    w.f64(this._updates);
    w.u32(this.serving);
    w.u32(this.firstSeen ? 1 : 0);
    for (let c = 0; c < this.count; c++) w.u32(this.retired[c]!);
    w.f64(this.evaluated);
    w.f64(this.switches);
    w.u32(this.history.length);
    for (const h of this.history) {
      w.f64(h.event);
      w.u32(h.from);
      w.u32(h.to);
      w.f64(h.lowerBound);
    }
    w.f64(this.W);
    w.f64(this.W2);
    w.f64Array(this.S);
    w.f64Array(this.SS);
    w.f64Array(this.D);
    w.f64Array(this.V);
    for (const v of [this.phCount, this.phMean, this.phSum, this.phMax, this.rewards.min, this.rewards.max, this.driftDetections, this.lastDrift]) w.f64(v);
    w.u32(this.groups.length);
    for (const m of this.groups) w.bytes(m.snapshot());
    return w.finish();
  }

  restore(bytes: Uint8Array): void {
    const r = new SnapshotReader(bytes);
    if (r.u32() !== MAGIC) throw new SnapshotFormatError('not a Focal auto-optimization snapshot');
    const version = r.u32();
    if (version !== FORMAT_VERSION && version !== 1) throw new SnapshotFormatError(`unsupported auto snapshot version ${version}`);
    const count = r.u32();
    if (count !== this.count) throw new SnapshotFormatError(`snapshot holds ${count} candidates, config has ${this.count}`);
    this._updates = r.f64();
    this.serving = r.u32();
    if (this.serving >= count) throw new SnapshotFormatError('served candidate out of range');
    this.firstSeen = r.u32() === 1;
    for (let c = 0; c < count; c++) this.retired[c] = r.u32() === 1 ? 1 : 0;
    this.evaluated = r.f64();
    this.switches = r.f64();
    const h = r.u32();
    if (h > HISTORY) throw new SnapshotFormatError('switch history too long');
    this.history = [];
    for (let i = 0; i < h; i++) {
      const event = r.f64();
      const from = r.u32();
      const to = r.u32();
      if (from >= count || to >= count) throw new SnapshotFormatError('switch history names an unknown candidate');
      this.history.push({ event, from, to, lowerBound: r.f64() });
    }
    this.W = r.f64();
    this.W2 = r.f64();
    this.S.set(r.f64Array(count));
    this.SS.set(r.f64Array(count));
    this.D.set(r.f64Array(count * count));
    this.V.set(version >= 2 ? r.f64Array(count * count) : this.D);
    this.phCount = r.f64();
    this.phMean = r.f64();
    this.phSum = r.f64();
    this.phMax = r.f64();
    const rewardMin = r.f64();
    const rewardMax = r.f64();
    this.driftDetections = r.f64();
    this.lastDrift = r.f64();
    if (r.u32() !== this.groups.length) throw new SnapshotFormatError('snapshot holds another set of learners');
    for (const m of this.groups) m.restore(r.bytes());
    // Set after the candidates: a snapshot written before the range was shared holds, for a retired candidate, the
    // range as it was when it retired.
    this.rewards.min = rewardMin;
    this.rewards.max = rewardMax;
    this.plan();
    if (!r.done) throw new SnapshotFormatError('snapshot has trailing bytes');
  }
}
