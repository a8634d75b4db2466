/**
 * The bandit engine's public contract. Pure data and functions: no HTTP,
 * no database, no metrics. The decisions capability (src/decisions/) is the
 * only consumer outside this folder and uses nothing but what index.ts exports.
 */

/** A feature value: numbers are values, strings and booleans are indicators. */
export type FeatureValue = number | string | boolean;

/** A context or action feature object; a nested object is a namespace. */
export interface Features {
  [key: string]: FeatureValue | Features;
}

export interface ActionInput {
  id: string;
  features?: Features;
}

// ---- configuration (validated by src/decisions' JSON schemas, re-checked by the factories) ----

/** Parameters every strategy takes. */
// A type alias, not an interface: configs must stay assignable to index-signature types.
export type StrategyCommon = {
  /** Floor on every action's probability (VW's enforce_minimum_probability); 0 or absent: none. At most 1/k gives uniform. */
  minProbability?: number;
};

export type StrategyConfig = StrategyCommon & (
  | { name: 'greedy' }
  | { name: 'uniform' }
  | { name: 'epsilon-greedy'; epsilon: number }                 // 0..1, default 0.05
  | { name: 'softmax'; lambda: number }                         // >= 0, default 10
  | { name: 'squarecb'; gamma: number; gammaExponent?: number } // gamma > 0 (γ0, default 30: best of the MNIST benchmark; VW's is 10), γ_t = γ0·t^exp, exp default 0.5
  | { name: 'bagging'; bags: number; greedify?: boolean }       // bags >= 1 (default 5)
  | { name: 'linucb'; alpha: number }                           // >= 0, default 1; needs an uncertainty-aware learner
  | { name: 'thompson'; scale: number }                         // > 0, default 1
  | { name: 'neural-linear'; hidden: number; scale: number; bodyRate?: number; forget?: number; memory?: number; trainEvery?: number } // hidden units per layer (default 50), posterior scale (0.5), network RMSProp step (0.003), head forgetting (1), events kept (2048), events between rebuilds (50)
  | AutoStrategyConfig);

/** Automatic optimization (src/bandit/optimizer): candidates beside the served one, picked by counterfactual lower bound. */
export type AutoStrategyConfig = {
  name: 'auto';
  /** Confidence of a switch (anytime-valid bound, Bonferroni over the challengers); default 0.999. */
  confidence: number;
  /** Fraction of events (after the first 2,000) on which every candidate is evaluated; default 0.1. */
  evaluationRate: number;
  /** Memory of the estimates in evaluated events (discount 1 − 1/horizon); 0: never forget. Default 10,000. */
  horizon: number;
  /** Effective evaluated events before any switch; default 50. */
  minEvents: number;
  /** On the events to be evaluated every action keeps at least floor/k, so the log can tell the candidates apart; default 0.05. */
  floor: number;
  /** Add the neural-linear candidate (costly: about 20× the learning time of a linear candidate); default false. */
  neural: boolean;
};

export type StrategyName = StrategyConfig['name'];

export type LearnerConfig =
  | {
      name: 'linear';
      /** Hash bits of the weight table (VW's -b); default 18. */
      bits?: number;
      /** Learning rate (VW's -l); default chosen by benchmark. */
      learningRate?: number;
      /** Namespace pairs crossed (VW's -q); 'action' names the action's features. Default: every context namespace × action. */
      interactions?: string[][];
      /** Namespaces (or 'context', 'action') whose plain linear terms are dropped, keeping only their interactions (VW's --ignore_linear); default none. */
      ignoreLinear?: string[];
      /** L2 regularisation; default 0. */
      l2?: number;
      /** Weight each update by 1/probability (VW's mtr); default true. */
      importanceWeighted?: boolean;
      /** Forgetting factor of the per-feature learning rates, in (0, 1]; absent: 1 (never forget). */
      forget?: number;
      /** Standardise the context's numbers with their running mean and sd; absent: false. */
      standardize?: boolean;
    }
  | {
      name: 'bayes-linear';
      /** One posterior per action id (default true); false: one posterior shared by every action over a folded dense space. */
      perAction?: boolean;
      /** Most dimensions of each action's posterior (per action), or of the dense space features are hashed into (shared); default 256. */
      dims?: number;
      /** Prior precision (ridge) λ; default 1. */
      prior?: number;
      /** Noise variance σ² of the reward model; default 0.25. Per action, the prior guess of a variance estimated from the residuals. */
      noise?: number;
      interactions?: string[][];
      ignoreLinear?: string[];
      /** Weight each update by 1/probability; default false (plain LinUCB/LinTS posterior). */
      importanceWeighted?: boolean;
    };

export type LearnerName = LearnerConfig['name'];

/** What the engine needs to build a model. */
export interface BanditConfig {
  strategy: StrategyConfig;
  learner: LearnerConfig;
}

// ---- acting and learning ----

export interface Decision {
  /** Probability of each action, aligned with the `actions` passed to decide(); sums to 1. */
  pmf: number[];
  /** The learner's predicted reward for each action, aligned with `actions`. */
  scores: number[];
  /** Index of the sampled action. */
  chosen: number;
  /** pmf[chosen]: the marginal probability (propensity) to log. */
  probability: number;
}

export interface LoggedEvent {
  context: Features;
  actions: ActionInput[];
  chosen: number;
  probability: number;
  reward: number;
  /** Optional: seeds the event's bootstrap weights (bagging); the update count is used otherwise. */
  eventId?: string;
}

/**
 * A contextual bandit model: learner + exploration strategy.
 * decide() must not change learned state (replay safety): only learn() does.
 * The RNG for sampling (and for bagging/thompson draws) is seeded from `seed`
 * (the event id), so the same seed, state and input give the same decision.
 */
export interface BanditModel {
  readonly config: BanditConfig;
  /** Number of learn() calls folded into the state. */
  readonly updates: number;
  decide(context: Features, actions: ActionInput[], seed: string): Decision;
  /** The PMF the current policy would assign (no sampling); used by off-policy evaluation. */
  pmf(context: Features, actions: ActionInput[], seed: string): number[];
  learn(event: LoggedEvent): void;
  /** Serialises the learned state (not the config) exactly; restore(snapshot()) gives an equal model. */
  snapshot(): Uint8Array;
  /** Automatic optimization's choices and estimates (strategy `auto` only). */
  optimizerStatus?(): OptimizerStatus;
}

export interface CandidateStatus {
  name: string;
  config: BanditConfig;
  serving: boolean;
  /** Left out for good (e.g. quadratic terms on a context too wide for them); no longer learns. */
  retired: boolean;
  /** Doubly robust estimate of the candidate's value over the (discounted) evaluated events, with a 95% interval. */
  value: number | null;
  ci: [number, number] | null;
  /** Estimated value minus the served candidate's (paired), and the lower bound a switch needs above 0. */
  difference: number | null;
  lowerBound: number | null;
}

export interface OptimizerStatus {
  serving: string;
  /** Events learned and events on which every candidate was evaluated. */
  events: number;
  evaluatedEvents: number;
  /** (Σ discount)² / Σ discount²: how many evaluated events the estimates rest on. */
  effectiveEvents: number;
  switches: number;
  /** The last switches (at most 20), oldest first. */
  history: { event: number; from: string; to: string; lowerBound: number }[];
  /** Page–Hinkley alarms on the served candidate's reward; each shortens the estimates' memory. */
  drift: { detections: number; lastEvent: number | null };
  candidates: CandidateStatus[];
}
