/** Learners by name: each validates its own config (filling defaults) and builds itself. */
import { booleanField, interactionsField, namesField, numberField, type RawConfig } from '../config-fields.js';
import { LEARNER_PARAMS } from '../config-schema.js';
import type { LearnerConfig, LearnerName } from '../types.js';
import { BayesLinearLearner } from './bayes-linear.js';
import type { RewardRange } from '../reward-range.js';
import type { Learner } from './learner.js';
import { LinearLearner } from './linear.js';
import { PerActionLinearLearner } from './per-action-linear.js';

/** Every context namespace × the action (id and features): per-action weights out of the box. */
export const DEFAULT_INTERACTIONS: readonly (readonly string[])[] = [['context', 'action']];

export interface LearnerDefinition {
  /** Validates and fills defaults; throws BanditConfigError naming the field. */
  normalize(raw: RawConfig): LearnerConfig;
  /** `rewards`: the model's reward range, for a learner that reads it (the model's only learner). */
  create(config: LearnerConfig, rewards?: RewardRange): Learner;
  /** Gives a posterior (mean and covariance), as linucb and thompson need. */
  posterior: boolean;
}

const LINEAR = LEARNER_PARAMS.linear;
const BAYES = LEARNER_PARAMS['bayes-linear'];

export const learnerRegistry: Record<LearnerName, LearnerDefinition> = {
  linear: {
    posterior: false,
    normalize: (raw) => {
      const forget = numberField(raw, 'forget', LINEAR.forget!, '/learner', 1);
      return {
        name: 'linear',
        bits: numberField(raw, 'bits', LINEAR.bits!, '/learner'),
        learningRate: numberField(raw, 'learningRate', LINEAR.learningRate!, '/learner'),
        interactions: interactionsField(raw, '/learner') ?? DEFAULT_INTERACTIONS.map((t) => [...t]),
        ignoreLinear: namesField(raw, 'ignoreLinear', '/learner') ?? [],
        l2: numberField(raw, 'l2', LINEAR.l2!, '/learner'),
        importanceWeighted: booleanField(raw, 'importanceWeighted', LINEAR.importanceWeighted!, '/learner'),
        ...(forget < 1 ? { forget } : {}),
        // Omitted when off, so configs written before the option read back unchanged.
        ...(booleanField(raw, 'standardize', LINEAR.standardize!, '/learner') ? { standardize: true } : {}),
      };
    },
    create: (c, rewards) => {
      const cfg = c as Extract<LearnerConfig, { name: 'linear' }>;
      return new LinearLearner({ bits: cfg.bits!, learningRate: cfg.learningRate!, l2: cfg.l2!, forget: cfg.forget ?? 1, ...(rewards ? { rewards } : {}) });
    },
  },
  'bayes-linear': {
    posterior: true,
    normalize: (raw) => {
      const perAction = booleanField(raw, 'perAction', BAYES.perAction!, '/learner');
      return {
        name: 'bayes-linear',
        perAction,
        dims: numberField(raw, 'dims', BAYES.dims!, '/learner'),
        prior: numberField(raw, 'prior', BAYES.prior!, '/learner'),
        noise: numberField(raw, 'noise', BAYES.noise!, '/learner'),
        // Per-action posteriors are per action already: crossing the context with the action adds nothing.
        interactions: interactionsField(raw, '/learner') ?? (perAction ? [] : DEFAULT_INTERACTIONS.map((t) => [...t])),
        ignoreLinear: namesField(raw, 'ignoreLinear', '/learner') ?? [],
        importanceWeighted: booleanField(raw, 'importanceWeighted', BAYES.importanceWeighted!, '/learner'),
      };
    },
    create: (c) => {
      const cfg = c as Extract<LearnerConfig, { name: 'bayes-linear' }>;
      const opts = { dims: cfg.dims!, prior: cfg.prior!, noise: cfg.noise! };
      return cfg.perAction === false ? new BayesLinearLearner(opts) : new PerActionLinearLearner(opts);
    },
  },
};
