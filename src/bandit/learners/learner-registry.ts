/** Learners by name: each validates its own config (filling defaults) and builds itself. */
import { booleanField, interactionsField, namesField, numberField, type RawConfig } from '../config-fields.js';
import type { LearnerConfig, LearnerName } from '../types.js';
import { BayesLinearLearner } from './bayes-linear.js';
import type { Learner } from './learner.js';
import { LinearLearner } from './linear.js';

/** Every context namespace × the action (id and features): per-action weights out of the box. */
export const DEFAULT_INTERACTIONS: readonly (readonly string[])[] = [['context', 'action']];

export interface LearnerDefinition {
  /** Validates and fills defaults; throws BanditConfigError naming the field. */
  normalize(raw: RawConfig): LearnerConfig;
  create(config: LearnerConfig): Learner;
  /** Gives a posterior (mean and covariance), as linucb and thompson need. */
  posterior: boolean;
}

export const DEFAULT_LINEAR_LEARNING_RATE = 0.5;

export const learnerRegistry: Record<LearnerName, LearnerDefinition> = {
  linear: {
    posterior: false,
    normalize: (raw) => ({
      name: 'linear',
      bits: numberField(raw, 'bits', 18, '/learner', { min: 4, max: 24, integer: true }),
      learningRate: numberField(raw, 'learningRate', DEFAULT_LINEAR_LEARNING_RATE, '/learner', { above: 0, max: 1e6 }),
      interactions: interactionsField(raw, '/learner') ?? DEFAULT_INTERACTIONS.map((t) => [...t]),
      ignoreLinear: namesField(raw, 'ignoreLinear', '/learner') ?? [],
      l2: numberField(raw, 'l2', 0, '/learner', { min: 0 }),
      importanceWeighted: booleanField(raw, 'importanceWeighted', true, '/learner'),
    }),
    create: (c) => {
      const cfg = c as Extract<LearnerConfig, { name: 'linear' }>;
      return new LinearLearner({ bits: cfg.bits!, learningRate: cfg.learningRate!, l2: cfg.l2! });
    },
  },
  'bayes-linear': {
    posterior: true,
    normalize: (raw) => ({
      name: 'bayes-linear',
      dims: numberField(raw, 'dims', 256, '/learner', { min: 1, max: 4096, integer: true }),
      prior: numberField(raw, 'prior', 1, '/learner', { above: 0 }),
      noise: numberField(raw, 'noise', 0.25, '/learner', { above: 0 }),
      interactions: interactionsField(raw, '/learner') ?? DEFAULT_INTERACTIONS.map((t) => [...t]),
      ignoreLinear: namesField(raw, 'ignoreLinear', '/learner') ?? [],
      importanceWeighted: booleanField(raw, 'importanceWeighted', false, '/learner'),
    }),
    create: (c) => {
      const cfg = c as Extract<LearnerConfig, { name: 'bayes-linear' }>;
      return new BayesLinearLearner({ dims: cfg.dims!, prior: cfg.prior!, noise: cfg.noise! });
    },
  },
};
