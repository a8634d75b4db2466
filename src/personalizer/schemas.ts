/**
 * The request bodies of Azure Personalizer's operations (src/personalizer/routes.ts validates with these schemas)
 * and, derived from the same schemas, the types the service and the evaluations take: one schema per contract.
 */
import { EVENT_ID_PATTERN } from '../decisions/decide.js';
import type { FromSchema } from '../schema-types.js';

/** Personalizer's own limits on ids (maxLength 256 in the specs); Focal's FOCAL_MAX_* limits apply on top. */
const ID = { type: 'string', minLength: 1, maxLength: 256 } as const;
const FEATURE_LIST = { type: 'array', items: { type: 'object' } } as const;
const DURATION = { type: 'string', minLength: 1, maxLength: 64 } as const;

export const rankSchema = {
  type: 'object', required: ['actions'], additionalProperties: false,
  properties: {
    contextFeatures: FEATURE_LIST,
    actions: { type: 'array', minItems: 1, items: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: ID, features: FEATURE_LIST } } },
    excludedActions: { type: 'array', items: ID },
    eventId: { ...ID, pattern: EVENT_ID_PATTERN },
    deferActivation: { type: 'boolean' },
  },
} as const;
export type RankRequest = FromSchema<typeof rankSchema>;

export const multiSlotRankSchema = {
  type: 'object', required: ['actions', 'slots'], additionalProperties: false,
  properties: {
    contextFeatures: FEATURE_LIST,
    actions: rankSchema.properties.actions,
    slots: {
      type: 'array', minItems: 1, maxItems: 50,
      items: {
        type: 'object', required: ['id', 'baselineAction'], additionalProperties: false,
        properties: { id: ID, features: FEATURE_LIST, excludedActions: { type: 'array', items: ID }, baselineAction: ID },
      },
    },
    eventId: rankSchema.properties.eventId,
    deferActivation: { type: 'boolean' },
  },
} as const;
export type MultiSlotRankRequest = FromSchema<typeof multiSlotRankSchema>;

export const rewardSchema = {
  type: 'object', required: ['value'], additionalProperties: false,
  properties: { value: { type: 'number', minimum: -1, maximum: 1, description: 'Between -1 and 1.' } },
} as const;

export const multiSlotRewardSchema = {
  type: 'object', required: ['reward'], additionalProperties: false,
  properties: {
    reward: {
      type: 'array', minItems: 1, maxItems: 50,
      items: { type: 'object', required: ['slotId', 'value'], additionalProperties: false, properties: { slotId: ID, value: { type: 'number', minimum: -1, maximum: 1 } } },
    },
  },
} as const;
export type MultiSlotRewardRequest = FromSchema<typeof multiSlotRewardSchema>;

/** PUT configurations/service's body; GET answers the same shape. */
export const serviceConfigurationSchema = {
  type: 'object', additionalProperties: false,
  required: ['rewardWaitTime', 'defaultReward', 'rewardAggregation', 'explorationPercentage', 'modelExportFrequency', 'logRetentionDays'],
  properties: {
    rewardWaitTime: DURATION,
    defaultReward: { type: 'number', minimum: -1, maximum: 1 },
    rewardAggregation: { type: 'string', minLength: 1, maxLength: 256 },
    explorationPercentage: { type: 'number', minimum: 0, maximum: 1 },
    modelExportFrequency: DURATION,
    logMirrorEnabled: { type: 'boolean' },
    logMirrorSasUri: { type: 'string', maxLength: 2048 },
    logRetentionDays: { type: 'integer', minimum: -1, maximum: 999999 },
    lastConfigurationEditDate: { type: 'string' },
    learningMode: { type: 'string', enum: ['Online', 'Apprentice', 'LoggingOnly'] },
    isAutoOptimizationEnabled: { type: 'boolean' },
    autoOptimizationFrequency: DURATION,
    autoOptimizationStartDate: { type: 'string', format: 'date-time' },
    modelRetrainDays: { type: 'integer', minimum: 0, maximum: 2147483647 },
  },
} as const;
export type ServiceConfiguration = FromSchema<typeof serviceConfigurationSchema>;

/** Learning settings: a name and a Vowpal Wabbit command line (vw-arguments.ts). */
export const policySchema = {
  type: 'object', required: ['name', 'arguments'], additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 256 }, arguments: { type: 'string', minLength: 1, maxLength: 1024 } },
} as const;
export type PolicyContract = FromSchema<typeof policySchema>;

export const evaluationContractSchema = {
  type: 'object', required: ['name', 'startTime', 'endTime', 'policies'], additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 256 },
    startTime: { type: 'string', format: 'date-time' },
    endTime: { type: 'string', format: 'date-time' },
    policies: { type: 'array', maxItems: 16, items: policySchema },
    enableOfflineExperimentation: { type: 'boolean' },
    /** 2022-09-01-preview's name for enableOfflineExperimentation. */
    enablePolicyOptimization: { type: 'boolean' },
  },
} as const;
export type EvaluationContract = FromSchema<typeof evaluationContractSchema>;

/** configurations/applyFromEvaluation's body: an evaluated policy. */
export const policyReferenceSchema = {
  type: 'object', required: ['evaluationId', 'policyName'], additionalProperties: false,
  properties: { evaluationId: { type: 'string', minLength: 1, maxLength: 256 }, policyName: { type: 'string', minLength: 1, maxLength: 256 } },
} as const;
