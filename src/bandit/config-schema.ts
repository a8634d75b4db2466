/**
 * The parameter table of every strategy and learner, written once as JSON Schema fragments (plain data:
 * the engine imports no validator). The engine's normalisers read each parameter's type, bounds and
 * default from here (config-fields.ts), and the HTTP layer builds PUT /models/{name}'s schema and the
 * OpenAPI document from the same objects (src/decisions/model-config.ts), so a bound or default cannot
 * differ between the two.
 */
import type { LearnerName, StrategyName } from './types.js';

/** One parameter: a number, integer or boolean with its bounds and default, or a list (interactions, names). */
export interface ParamSchema {
  type: 'number' | 'integer' | 'boolean' | 'array';
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  default?: number | boolean;
  description: string;
  maxItems?: number;
  minItems?: number;
  items?: Record<string, unknown>;
}

export type ParamTable = Readonly<Record<string, ParamSchema>>;

/** Longest list of interaction terms or of namespace names, and longest namespace name in them. */
export const MAX_NAME_LIST = 64;
export const MAX_NAMESPACE_LENGTH = 64;

const nameItem = { type: 'string', minLength: 1, maxLength: MAX_NAMESPACE_LENGTH } as const;

export const INTERACTIONS_PARAM: ParamSchema = {
  type: 'array', maxItems: MAX_NAME_LIST,
  description: 'Namespace pairs (or triples) to cross; "action" names the action\'s features, "context" every context namespace.',
  items: { type: 'array', minItems: 2, maxItems: 3, items: nameItem },
};

/** Namespaces (or 'context', 'action') whose plain linear terms are dropped, keeping their interactions (VW's --ignore_linear). */
export const IGNORE_LINEAR_PARAM: ParamSchema = {
  type: 'array', maxItems: MAX_NAME_LIST,
  description: 'Namespaces whose linear terms are dropped (only their interactions stay); "context" names every context namespace.',
  items: nameItem,
};

/** Parameters every strategy takes. No default: omitted means no floor, and the config reads back without it. */
export const STRATEGY_COMMON_PARAMS: ParamTable = {
  minProbability: {
    type: 'number', minimum: 0, maximum: 1,
    description: 'Floor on every action\'s probability (VW\'s enforce_minimum_probability), so logs stay evaluable; 1/k or more gives uniform. Default 0 (none).',
  },
};

export const STRATEGY_PARAMS: Readonly<Record<StrategyName, ParamTable>> = {
  greedy: {},
  uniform: {},
  'epsilon-greedy': { epsilon: { type: 'number', minimum: 0, maximum: 1, default: 0.05, description: 'Exploration mass spread uniformly.' } },
  softmax: { lambda: { type: 'number', minimum: 0, maximum: 1e6, default: 10, description: 'Inverse temperature: p ∝ exp(λ·score).' } },
  squarecb: {
    gamma: { type: 'number', exclusiveMinimum: 0, maximum: 1e9, default: 30, description: 'γ0 of inverse-gap weighting; γ_t = γ0·t^gammaExponent.' },
    gammaExponent: { type: 'number', minimum: 0, maximum: 1, default: 0.5, description: 'Growth exponent of γ.' },
  },
  bagging: {
    bags: { type: 'integer', minimum: 1, maximum: 64, default: 5, description: 'Bootstrap replicas.' },
    greedify: { type: 'boolean', default: false, description: 'Train the first replica on every example.' },
  },
  linucb: { alpha: { type: 'number', minimum: 0, maximum: 1e6, default: 1, description: 'Width of the upper confidence bound.' } },
  thompson: { scale: { type: 'number', exclusiveMinimum: 0, maximum: 1e6, default: 1, description: 'Posterior scale of the draws.' } },
  'neural-linear': {
    hidden: { type: 'integer', minimum: 1, maximum: 256, default: 50, description: 'Hidden units of each of the feature network\'s two layers.' },
    scale: { type: 'number', exclusiveMinimum: 0, maximum: 1e6, default: 0.5, description: 'Posterior scale of the Bayesian heads (standard deviations of the Thompson draws).' },
    bodyRate: { type: 'number', minimum: 0, maximum: 10, default: 0.003, description: 'RMSProp step size of the feature network, trained by minibatches of 32, two per learned event (0: a fixed random network).' },
    forget: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 1, description: 'Per-event forgetting factor of the Bayesian heads between retrains (1: never forget).' },
    memory: { type: 'integer', minimum: 16, maximum: 65536, default: 8192, description: 'Latest events kept (the replay buffer) to train the network on and rebuild the heads from. Rebuilds come every trainEvery events up to 4,096 kept, then half as often each time the kept events double, so the cost per event does not grow with memory; a rebuild pauses learning for about 5 ms per 1,000 kept events.' },
    trainEvery: { type: 'integer', minimum: 1, maximum: 100000, default: 50, description: 'Events between rebuilds: the serving network takes the trained weights and every head is refitted (also at events 1, 2, 4, … before that).' },
  },
  auto: {
    confidence: { type: 'number', minimum: 0.5, maximum: 0.9999, default: 0.999, description: 'Confidence a switch to another candidate needs (anytime-valid lower bound on the paired difference, Bonferroni over the candidates).' },
    evaluationRate: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.1, description: 'Fraction of events, after the first 2,000, on which every candidate is evaluated (all candidates learn every event).' },
    horizon: { type: 'integer', minimum: 0, maximum: 1e9, default: 10000, description: 'Memory of the estimates in evaluated events (discount 1 − 1/horizon); 0 never forgets.' },
    minEvents: { type: 'integer', minimum: 1, maximum: 1e6, default: 50, description: 'Effective evaluated events before any switch.' },
    floor: { type: 'number', minimum: 0, maximum: 1, default: 0.05, description: 'On the events the optimizer evaluates (the first 2,000, then the evaluationRate share) every action keeps a probability of at least floor/k, so the log can tell the candidates apart; other events follow the served candidate alone. For 500 events after a drift alarm every event mixes in 2·floor of uniform exploration instead. 0: no floor (every event is the served candidate\'s).' },
    neural: { type: 'boolean', default: false, description: 'Add a neural-linear candidate (about 20× the learning time of a linear one).' },
  },
};

export const LEARNER_PARAMS: Readonly<Record<LearnerName, ParamTable>> = {
  linear: {
    bits: { type: 'integer', minimum: 4, maximum: 24, default: 18, description: 'Hash bits of the weight table.' },
    learningRate: { type: 'number', exclusiveMinimum: 0, maximum: 100, default: 0.5, description: 'Learning rate.' },
    interactions: INTERACTIONS_PARAM,
    l2: { type: 'number', minimum: 0, maximum: 1e3, default: 0, description: 'L2 regularisation.' },
    ignoreLinear: IGNORE_LINEAR_PARAM,
    importanceWeighted: { type: 'boolean', default: true, description: 'Weight each update by 1/probability.' },
    standardize: {
      type: 'boolean', default: false,
      description: 'Give the learner each numeric context feature as (x − mean) / sd, clipped to ±5, with its running mean and sd over the events learned (a 0 is then a value, not a missing feature). Helps raw tabular features whose information is a small variation on a large offset.',
    },
    // No default: omitted means no forgetting, and the config reads back without it.
    forget: {
      type: 'number', exclusiveMinimum: 0, maximum: 1,
      description: 'Forgetting factor ρ of the per-feature learning rates: each update discounts past gradients by ρ, so the learner follows a drifting reward (it weighs about the last 1/(1−ρ) updates). Default 1 (none).',
    },
  },
  'bayes-linear': {
    perAction: {
      type: 'boolean', default: true,
      description: 'One posterior per action id over the example\'s features (disjoint LinUCB); false: one posterior shared by every action, over features hashed into `dims` dimensions.',
    },
    // d×d covariance: 1024 dimensions is 8 MB (per action when perAction).
    dims: {
      type: 'integer', minimum: 1, maximum: 1024, default: 256,
      description: 'Per action: most dimensions of its posterior (each feature gets its own until then, later ones are hashed into them). Shared: the dense dimension every feature is hashed into.',
    },
    prior: { type: 'number', exclusiveMinimum: 0, maximum: 1e6, default: 1, description: 'Prior precision λ.' },
    noise: {
      type: 'number', exclusiveMinimum: 0, maximum: 1e6, default: 0.25,
      description: 'Noise variance σ²; per action, the prior guess (worth two rewards) of a variance then estimated from the residuals.',
    },
    interactions: INTERACTIONS_PARAM,
    ignoreLinear: IGNORE_LINEAR_PARAM,
    importanceWeighted: { type: 'boolean', default: false, description: 'Weight each update by 1/probability (default: the plain posterior).' },
  },
};
