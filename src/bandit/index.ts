/**
 * Public entry of the bandit engine: build a model from a config (and optionally
 * a snapshot), the default config, and off-policy estimates. Pure TypeScript:
 * no HTTP, database or metrics imports anywhere under src/bandit.
 */
import { BanditConfigError } from './errors.js';
import { numberField, type RawConfig } from './config-fields.js';
import { STRATEGY_COMMON_PARAMS } from './config-schema.js';
export { LEARNER_PARAMS, STRATEGY_COMMON_PARAMS, STRATEGY_PARAMS, type ParamSchema, type ParamTable } from './config-schema.js';
import { strategyDefinition } from './exploration/strategy-registry.js';
import { learnerRegistry } from './learners/learner-registry.js';
import { Model } from './model.js';
import { RewardRange } from './reward-range.js';
import { buildAutoModel } from './optimizer/auto-model.js';
import type { BanditConfig, BanditModel, LearnerName } from './types.js';

export * from './types.js';
export { BanditConfigError } from './errors.js';
export { BanditInputError } from './features/feature-encoder.js';
export { SnapshotFormatError } from './serialization/snapshot-codec.js';
export { offPolicyEstimate, type OffPolicyEstimate, type OffPolicyRecord } from './evaluation/off-policy.js';
export { sample } from './exploration/sampling.js';
export { rngForEvent, type Rng } from './random/seeded-rng.js';
export { murmurHash3 } from './features/murmur-hash.js';
export { strategyRegistry } from './exploration/strategy-registry.js';
export { learnerRegistry } from './learners/learner-registry.js';

/** A config as a client may send it: every field and parameter optional. */
export interface BanditConfigInput {
  strategy?: { name?: string; [parameter: string]: unknown };
  learner?: { name?: string; [parameter: string]: unknown };
}

/** The configuration a bare PUT /models/{name} gets: the benchmark's best sound default. */
export function defaultBanditConfig(): BanditConfig {
  // Automatic optimization (src/bandit/optimizer): its candidates start from the former default, SquareCB over
  // VW-style linear regression (quadratic on narrow contexts), and it beats that default on 8 of the 13 streams
  // of npm run bench:suite, by the widest margins (drift, iris, the wheel at δ ≥ 0.9), at 0.6× its in-process speed (npm run bench:bandit).
  return normalizeBanditConfig({ strategy: { name: 'auto' }, learner: { name: 'linear' } });
}

/** The default before automatic optimization (and its first candidate): SquareCB over the linear learner. */
export function squareCbBanditConfig(): BanditConfig {
  // 0.82-0.83 progressive reward on the MNIST bandit benchmark (VW's best: 0.787), ~120k decide+learn/s in-process.
  return normalizeBanditConfig({ strategy: { name: 'squarecb', gamma: 30 }, learner: { name: 'linear' } });
}

function isObject(v: unknown): v is RawConfig {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates a config and fills every default, throwing BanditConfigError with the
 * JSON Pointer of the offending field. linucb and thompson default to bayes-linear;
 * naming a learner without a posterior for them is an error.
 */
export function normalizeBanditConfig(input: BanditConfigInput | BanditConfig = {}): BanditConfig {
  if (!isObject(input)) throw new BanditConfigError('', 'config must be an object');
  // Automatic optimization builds its candidates from a linear learner: a config that names another learner and
  // no strategy gets the former default, SquareCB, over it (as before auto was the default).
  const namedLearner = isObject(input.learner) ? input.learner['name'] : undefined;
  const rawStrategy: unknown = input.strategy ?? (namedLearner !== undefined && namedLearner !== 'linear' ? { ...squareCbBanditConfig().strategy } : defaultStrategyInput());
  if (!isObject(rawStrategy)) throw new BanditConfigError('/strategy', 'strategy must be an object');
  const strategyDef = strategyDefinition(rawStrategy['name']);
  const minProbability = numberField(rawStrategy, 'minProbability', STRATEGY_COMMON_PARAMS.minProbability!, '/strategy', 0);
  const strategy = minProbability > 0 ? { ...strategyDef.normalize(rawStrategy), minProbability } : strategyDef.normalize(rawStrategy);

  const rawLearner: unknown = input.learner ?? {};
  if (!isObject(rawLearner)) throw new BanditConfigError('/learner', 'learner must be an object');
  const learnerName = rawLearner['name'] ?? strategyDef.defaultLearner;
  if (typeof learnerName !== 'string' || !Object.prototype.hasOwnProperty.call(learnerRegistry, learnerName)) {
    throw new BanditConfigError('/learner/name', `unknown learner ${JSON.stringify(learnerName)}; one of ${Object.keys(learnerRegistry).join(', ')}`);
  }
  const learnerDef = learnerRegistry[learnerName as LearnerName];
  if (strategyDef.composite && learnerName !== 'linear') {
    throw new BanditConfigError('/learner/name', `strategy ${strategy.name} builds its candidates from a linear learner, not ${learnerName}`);
  }
  if (strategyDef.scores === 'posterior' && strategyDef.defaultLearner === 'bayes-linear' && !learnerDef.posterior) {
    throw new BanditConfigError('/learner/name', `strategy ${strategy.name} needs a learner with a posterior (bayes-linear), not ${learnerName}`);
  }
  const learner = learnerDef.normalize(rawLearner);
  return { strategy, learner };
}

function defaultStrategyInput(): RawConfig {
  return { ...defaultBanditConfig().strategy };
}

/** Builds a model from config (throws BanditConfigError), restoring learned state from a snapshot if given. */
export function createBanditModel(config: BanditConfig | BanditConfigInput, snapshot?: Uint8Array): BanditModel {
  const full = normalizeBanditConfig(config);
  if (full.strategy.name === 'auto') {
    const auto = buildAutoModel(full, (c, rewards) => buildModel(normalizeBanditConfig(c), rewards));
    if (snapshot !== undefined) auto.restore(snapshot);
    return auto;
  }
  const model = buildModel(full);
  if (snapshot !== undefined) model.restore(snapshot);
  return model;
}

/** `rewards`: a reward range to share (the optimizer's candidates); a new one otherwise. */
function buildModel(full: BanditConfig, rewards = new RewardRange()): Model {
  const strategyDef = strategyDefinition(full.strategy.name);
  const learnerDef = learnerRegistry[full.learner.name];
  const count = strategyDef.ensembleSize?.(full.strategy) ?? 1;
  const learners = [];
  // A single learner sees exactly the rewards the model sees and shares its range; bootstrap replicas each see
  // their own draws of the events and keep theirs.
  for (let i = 0; i < count; i++) learners.push(strategyDef.createLearner?.(full.strategy, full.learner) ?? learnerDef.create(full.learner, count === 1 ? rewards : undefined));
  const model = new Model({
    config: full,
    strategy: strategyDef,
    learners,
    interactions: strategyDef.ownFeatures ? [] : (full.learner.interactions ?? []),
    ignoreLinear: strategyDef.ownFeatures ? [] : (full.learner.ignoreLinear ?? []),
    importanceWeighted: strategyDef.ownFeatures ? false : (full.learner.importanceWeighted ?? full.learner.name === 'linear'),
    standardize: !strategyDef.ownFeatures && full.learner.name === 'linear' && full.learner.standardize === true,
    rewards,
  });
  return model;
}
