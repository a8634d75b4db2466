/**
 * Strategies by name: each validates its parameters, says what it needs from the
 * learner (plain scores, a posterior, or an ensemble of bootstrap replicas) and
 * turns that into a PMF with the pure functions of this folder.
 */
import { BanditConfigError } from '../errors.js';
import { booleanField, numberField, type RawConfig } from '../config-fields.js';
import { STRATEGY_PARAMS as P } from '../config-schema.js';
import type { Rng } from '../random/seeded-rng.js';
import type { Learner } from '../learners/learner.js';
import { NeuralLinearLearner } from '../learners/neural-linear.js';
import type { LearnerConfig, LearnerName, StrategyConfig, StrategyName } from '../types.js';
import { baggingPmf } from './bagging.js';
import { epsilonGreedyPmf } from './epsilon-greedy.js';
import { greedyPmf } from './greedy.js';
import { linUcbPmf } from './linucb.js';
import { softmaxPmf } from './softmax.js';
import { squareCbGamma, squareCbPmf } from './squarecb.js';
import { THOMPSON_DRAWS, thompsonPmf } from './thompson.js';
import { uniformPmf } from './uniform.js';

/** What the model computes before asking the strategy for a PMF. */
export type ScoreKind = 'mean' | 'posterior' | 'ensemble';

export interface PmfInput {
  k: number;
  /** Predicted reward per action. */
  means: Float64Array;
  /** Row-major k×k score covariance ('posterior' strategies). */
  cov: Float64Array;
  /** Row-major bags×k per-replica scores ('ensemble' strategies). */
  bagScores: Float64Array;
  /** Learning updates so far (squarecb's t). */
  updates: number;
  /**
   * 1 / the range of the rewards learned so far (with 0) when it exceeds [0, 1], else 1: softmax's λ and
   * SquareCB's γ are stated for rewards in [0, 1], so they see score gaps in units of the observed range and
   * behave the same for rewards in [0, 1], [−1, 1] or [1, 50].
   */
  rewardScale: number;
  rng: Rng;
  /** Scratch of size ≥ 2k² for strategies that need it. */
  scratch: Float64Array;
}

export interface StrategyDefinition {
  normalize(raw: RawConfig): StrategyConfig;
  scores: ScoreKind;
  /** The learner used when the config names none. */
  defaultLearner: LearnerName;
  /** Number of bootstrap replicas ('ensemble' strategies). */
  ensembleSize?(config: StrategyConfig): number;
  /** Bag 0 learns every event with weight 1 (VW's --greedify). */
  greedify?(config: StrategyConfig): boolean;
  pmf(input: PmfInput, config: StrategyConfig, out: Float64Array): void;
  /** A strategy that brings its own learner (neural-linear) builds it here. */
  createLearner?(config: StrategyConfig, learner: LearnerConfig): Learner;
  /** The learner reads raw linear features only (no interactions), and learns without importance weights. */
  ownFeatures?: boolean;
  /** Not a PMF of its own: a model of candidates (auto, src/bandit/optimizer), built by createBanditModel. */
  composite?: boolean;
}

type Cfg<N extends StrategyName> = Extract<StrategyConfig, { name: N }>;

export const strategyRegistry: Record<StrategyName, StrategyDefinition> = {
  greedy: {
    scores: 'mean',
    defaultLearner: 'linear',
    normalize: () => ({ name: 'greedy' }),
    pmf: (x, _c, out) => greedyPmf(x.means, x.k, out),
  },
  uniform: {
    scores: 'mean',
    defaultLearner: 'linear',
    normalize: () => ({ name: 'uniform' }),
    pmf: (x, _c, out) => uniformPmf(x.k, out),
  },
  'epsilon-greedy': {
    scores: 'mean',
    defaultLearner: 'linear',
    normalize: (raw) => ({ name: 'epsilon-greedy', epsilon: numberField(raw, 'epsilon', P['epsilon-greedy'].epsilon!, '/strategy') }),
    pmf: (x, c, out) => epsilonGreedyPmf(x.means, x.k, (c as Cfg<'epsilon-greedy'>).epsilon, out),
  },
  softmax: {
    scores: 'mean',
    defaultLearner: 'linear',
    normalize: (raw) => ({ name: 'softmax', lambda: numberField(raw, 'lambda', P.softmax.lambda!, '/strategy') }),
    pmf: (x, c, out) => softmaxPmf(x.means, x.k, (c as Cfg<'softmax'>).lambda * x.rewardScale, out),
  },
  squarecb: {
    scores: 'mean',
    defaultLearner: 'linear',
    normalize: (raw) => ({
      name: 'squarecb',
      gamma: numberField(raw, 'gamma', P.squarecb.gamma!, '/strategy'),
      gammaExponent: numberField(raw, 'gammaExponent', P.squarecb.gammaExponent!, '/strategy'),
    }),
    pmf: (x, c, out) => {
      const cfg = c as Cfg<'squarecb'>;
      squareCbPmf(x.means, x.k, squareCbGamma(cfg.gamma, cfg.gammaExponent ?? 0.5, x.updates) * x.rewardScale, out);
    },
  },
  bagging: {
    scores: 'ensemble',
    defaultLearner: 'linear',
    normalize: (raw) => ({
      name: 'bagging',
      bags: numberField(raw, 'bags', P.bagging.bags!, '/strategy'),
      greedify: booleanField(raw, 'greedify', P.bagging.greedify!, '/strategy'),
    }),
    ensembleSize: (c) => (c as Cfg<'bagging'>).bags,
    greedify: (c) => (c as Cfg<'bagging'>).greedify ?? false,
    pmf: (x, c, out) => baggingPmf(x.bagScores, (c as Cfg<'bagging'>).bags, x.k, out),
  },
  linucb: {
    scores: 'posterior',
    defaultLearner: 'bayes-linear',
    normalize: (raw) => ({ name: 'linucb', alpha: numberField(raw, 'alpha', P.linucb.alpha!, '/strategy') }),
    pmf: (x, c, out) => {
      const variances = x.scratch;
      for (let i = 0; i < x.k; i++) variances[i] = x.cov[i * x.k + i]!;
      linUcbPmf(x.means, variances, x.k, (c as Cfg<'linucb'>).alpha, x.scratch.subarray(x.k), out);
    },
  },
  thompson: {
    scores: 'posterior',
    defaultLearner: 'bayes-linear',
    normalize: (raw) => ({ name: 'thompson', scale: numberField(raw, 'scale', P.thompson.scale!, '/strategy') }),
    pmf: (x, c, out) =>
      thompsonPmf(x.means, x.cov, x.k, (c as Cfg<'thompson'>).scale, THOMPSON_DRAWS, x.rng, x.scratch, x.scratch.subarray(x.k * x.k), out),
  },
  'neural-linear': {
    scores: 'posterior',
    defaultLearner: 'linear',
    ownFeatures: true,
    createLearner: (c, learner) => {
      const cfg = c as Cfg<'neural-linear'>;
      // Cap the body's input table at 2^20 weights (4 MB; two copies and the RMSProp averages: 12 MB) whatever the hidden size.
      const bits = Math.min(learner.name === 'linear' ? (learner.bits ?? 18) : 16, 16, 20 - Math.ceil(Math.log2(cfg.hidden)));
      const NL = P['neural-linear'];
      return new NeuralLinearLearner({
        hidden: cfg.hidden,
        bits,
        bodyRate: cfg.bodyRate ?? (NL.bodyRate!.default as number),
        // The paper's λ (lambda_prior = 0.25): the weights' prior variance is 4σ².
        prior: 0.25,
        forget: cfg.forget ?? (NL.forget!.default as number),
        memory: cfg.memory ?? (NL.memory!.default as number),
        trainEvery: cfg.trainEvery ?? (NL.trainEvery!.default as number),
      });
    },
    normalize: (raw) => ({
      name: 'neural-linear',
      hidden: numberField(raw, 'hidden', P['neural-linear'].hidden!, '/strategy'),
      scale: numberField(raw, 'scale', P['neural-linear'].scale!, '/strategy'),
      bodyRate: numberField(raw, 'bodyRate', P['neural-linear'].bodyRate!, '/strategy'),
      forget: numberField(raw, 'forget', P['neural-linear'].forget!, '/strategy'),
      memory: numberField(raw, 'memory', P['neural-linear'].memory!, '/strategy'),
      trainEvery: numberField(raw, 'trainEvery', P['neural-linear'].trainEvery!, '/strategy'),
    }),
    pmf: (x, c, out) =>
      thompsonPmf(x.means, x.cov, x.k, (c as Cfg<'neural-linear'>).scale, THOMPSON_DRAWS, x.rng, x.scratch, x.scratch.subarray(x.k * x.k), out),
  },
  // Not a strategy of its own: createBanditModel builds an AutoModel of candidates for it.
  auto: {
    scores: 'mean',
    defaultLearner: 'linear',
    composite: true,
    normalize: (raw) => ({
      name: 'auto',
      confidence: numberField(raw, 'confidence', P.auto.confidence!, '/strategy'),
      evaluationRate: numberField(raw, 'evaluationRate', P.auto.evaluationRate!, '/strategy'),
      horizon: numberField(raw, 'horizon', P.auto.horizon!, '/strategy'),
      minEvents: numberField(raw, 'minEvents', P.auto.minEvents!, '/strategy'),
      floor: numberField(raw, 'floor', P.auto.floor!, '/strategy'),
      neural: booleanField(raw, 'neural', P.auto.neural!, '/strategy'),
    }),
    pmf: () => {
      throw new Error('strategy auto is served by its candidates (src/bandit/optimizer/auto-model.ts)');
    },
  },
};

export function strategyDefinition(name: unknown): StrategyDefinition {
  if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(strategyRegistry, name)) {
    throw new BanditConfigError('/strategy/name', `unknown strategy ${JSON.stringify(name)}; one of ${Object.keys(strategyRegistry).join(', ')}`);
  }
  return strategyRegistry[name as StrategyName];
}
