import { LEARNER_PARAMS, STRATEGY_COMMON_PARAMS, STRATEGY_PARAMS, type ActionInput, type LearnerConfig, type ParamTable, type StrategyConfig, type StrategyName } from '../bandit/index.js';
import type { JsonSchema } from '../http/validation.js';
import { DURATION_PATTERN } from '../platform/duration.js';
import type { FromSchemaAsSent } from '../schema-types.js';

/**
 * A bandit model's configuration as stored and served: what the engine needs
 * (strategy, learner) plus what the service needs (fixed actions, reward window).
 */
export interface RewardPolicy {
  /** Seconds after a decision during which rewards are accepted. */
  waitSeconds: number;
  /** Reward applied when the window closes without one. */
  default: number;
  /** `first`: the first reward counts and closes the event; `sum`: rewards add up until the window closes. */
  aggregation: 'first' | 'sum';
}

/** How long this model's logged events are kept (src/decisions/retention.ts); absent: FOCAL_LOG_RETENTION. */
export interface LogPolicy {
  retention?: string;
}

/**
 * How a model acts and learns (../shared/API.md "Learning modes"): `online` explores and learns; `apprentice` answers
 * each decision's baseline action, logs the PMF the model would have used and learns from the rewards (the
 * baseline's propensity is 1); `logging` answers the baseline and logs, and nothing it logs is ever learned.
 */
export const LEARNING_MODES = ['online', 'apprentice', 'logging'] as const;
export type LearningMode = (typeof LEARNING_MODES)[number];

export const modeSchema = {
  type: 'string', enum: LEARNING_MODES,
  description: 'online (default): explore and learn; apprentice: answer the baseline action, log the model\'s PMF, learn from rewards '
    + 'and report how often the model\'s own choice was the baseline (stats.apprentice); logging: answer the baseline and log, never learn.',
} as const;

export interface ModelConfig {
  strategy: StrategyConfig;
  learner: LearnerConfig;
  /** Absent: online. Kept as given, so a configuration reads back as it was written. */
  mode?: LearningMode;
  actions?: ActionInput[];
  reward: RewardPolicy;
  log?: LogPolicy;
}

/** The model's learning mode (absent means online). */
export function learningMode(config: Pick<ModelConfig, 'mode'>): LearningMode {
  return config.mode ?? 'online';
}

/** What PUT /models/{name} accepts: every field optional. */
export type ModelConfigInput = FromSchemaAsSent<typeof modelConfigInputSchema>;

export const DEFAULT_REWARD_POLICY: RewardPolicy = { waitSeconds: 600, default: 0, aggregation: 'first' };

/** Largest |value| accepted for numeric features and rewards: beyond it an online learner only overflows. */
export const MAX_MAGNITUDE = 1e9;

/** Ids of actions and events: no control characters (they end up in logs and JSON keys). */
export const ACTION_ID_PATTERN = '^[^\\p{Cc}]+$';

/** The engine's parameter tables (src/bandit/config-schema.ts): one schema per strategy and learner name. */
export const STRATEGY_NAMES = Object.keys(STRATEGY_PARAMS) as StrategyName[];

/**
 * A discriminated union as JSON Schema: `name` must be one of the registry's
 * keys, then the parameters of that name apply. if/then (not oneOf) so that an
 * error names the field that is wrong, not every branch that did not match.
 */
function unionSchema<T extends string>(title: T, registry: Readonly<Record<string, ParamTable>>, description: string, common: ParamTable = {}): TitledSchema<T> {
  const names = Object.keys(registry);
  const schema: JsonSchema = {
    type: 'object', title, description,
    required: ['name'],
    properties: { name: { type: 'string', enum: names } },
    allOf: names.map((name) => ({
      if: { properties: { name: { const: name } } },
      then: { properties: { name: true, ...common, ...registry[name] } },
    })),
    unevaluatedProperties: false,
    // ajv counts keys such as __proto__, constructor or toString as evaluated (they are on Object.prototype): list the allowed ones.
    propertyNames: { enum: ['name', ...Object.keys(common), ...new Set(Object.values(registry).flatMap((params) => Object.keys(params)))] },
  };
  return schema as TitledSchema<T>;
}

/**
 * What TypeScript sees of a schema built at run time: its title, which src/schema-types.ts maps to the
 * engine's own union type (derived from the same parameter tables).
 */
type TitledSchema<T extends string> = { readonly type: 'object'; readonly title: T; readonly description: string };

export const strategySchema = unionSchema('Strategy', STRATEGY_PARAMS, 'Exploration strategy: turns scores into a PMF.', STRATEGY_COMMON_PARAMS);
export const learnerSchema = unionSchema('Learner', LEARNER_PARAMS, 'Reward regression learner.');

/** Checked only as an object here: the walk in request-limits.ts checks values, nesting and limits (the title types it: src/schema-types.ts). */
export function featuresSchema() {
  return { type: 'object', title: 'Features', description: 'Features: numbers are values, strings and booleans indicators, objects namespaces.' } as const;
}

export const actionSchema = {
  anyOf: [
    { type: 'string', minLength: 1, pattern: ACTION_ID_PATTERN },
    {
      type: 'object', required: ['id'], additionalProperties: false,
      properties: { id: { type: 'string', minLength: 1, pattern: ACTION_ID_PATTERN }, features: featuresSchema() },
    },
  ],
} as const;

export const rewardPolicySchema = {
  type: 'object', additionalProperties: false,
  properties: {
    waitSeconds: { type: 'number', minimum: 0, maximum: 30 * 86400, description: 'Reward window in seconds (default 600).' },
    default: { type: 'number', minimum: -MAX_MAGNITUDE, maximum: MAX_MAGNITUDE, description: 'Reward applied when the window closes without one (default 0).' },
    aggregation: { type: 'string', enum: ['first', 'sum'], description: 'first: one reward per event; sum: rewards add up until the window closes (default first).' },
  },
} as const;

export const logPolicySchema = {
  type: 'object', additionalProperties: false,
  properties: {
    retention: {
      type: 'string', pattern: DURATION_PATTERN,
      description: 'How long logged events are kept (s, m, h or d: 90s, 12h, 30d; default FOCAL_LOG_RETENTION). '
        + 'Older events are deleted in the background, except those whose reward window is open or whose rewards are not yet in a model snapshot.',
    },
  },
} as const;

export const modelConfigInputSchema = {
  type: 'object', additionalProperties: false,
  properties: {
    strategy: strategySchema,
    learner: learnerSchema,
    mode: modeSchema,
    actions: { type: 'array', minItems: 1, items: actionSchema, description: 'Fixed candidate actions, used when /decide omits actions.' },
    reward: rewardPolicySchema,
    log: logPolicySchema,
  },
} as const;

/**
 * Fills in what was omitted: the engine's normaliser completes strategy and
 * learner (it knows each one's defaults, and that linucb/thompson want a
 * bayes-linear learner), the service adds the reward policy.
 */
export function resolveModelConfig(input: ModelConfigInput, normalize: (c: { strategy?: StrategyConfig; learner?: LearnerConfig }) => { strategy: StrategyConfig; learner: LearnerConfig }): ModelConfig {
  const bandit = normalize({ ...(input.strategy ? { strategy: input.strategy } : {}), ...(input.learner ? { learner: input.learner } : {}) });
  const config: ModelConfig = { strategy: bandit.strategy, learner: bandit.learner, reward: { ...DEFAULT_REWARD_POLICY, ...input.reward } };
  if (input.mode !== undefined) config.mode = input.mode;
  if (input.actions) config.actions = input.actions.map((a) => (typeof a === 'string' ? { id: a } : a));
  if (input.log?.retention !== undefined) config.log = { retention: input.log.retention };
  return config;
}

/** Whether moving from `a` to `b` invalidates learned state (a new learner or explorer starts fresh). */
export function resetsState(a: ModelConfig, b: ModelConfig): boolean {
  return canonical(a.strategy) !== canonical(b.strategy) || canonical(a.learner) !== canonical(b.learner);
}

export function sameConfig(a: ModelConfig, b: ModelConfig): boolean {
  return canonical(a) === canonical(b);
}

/** JSON with sorted keys, so equal configs compare equal whatever their key order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
    }
    return v;
  });
}
