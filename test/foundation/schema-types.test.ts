/**
 * Handler types are derived from the route schemas (src/schema-types.ts). Each case below is written twice
 * over: TypeScript must accept or refuse it (`npm run typecheck` fails on an unused @ts-expect-error), and
 * the very schema the route validates with must accept or refuse it the same way at run time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideBodySchema } from '../../src/decisions/decide.js';
import { modelConfigInputSchema } from '../../src/decisions/model-config.js';
import { rewardBodySchema } from '../../src/decisions/reward-route.js';
import { compile } from '../../src/http/validation.js';
import { multiSlotRankSchema, rankSchema, serviceConfigurationSchema, type MultiSlotRankRequest, type RankRequest, type ServiceConfiguration } from '../../src/personalizer/schemas.js';
import type { FromSchema } from '../../src/schema-types.js';

type Decide = FromSchema<typeof decideBodySchema>;
type ModelConfig = FromSchema<typeof modelConfigInputSchema>;
type Reward = FromSchema<typeof rewardBodySchema>;

const accepted = {
  decide: { model: 'm', context: { user: { age: 3, tier: 'gold' }, mobile: true }, actions: ['a', { id: 'b', features: { x: 1 } }] } satisfies Decide,
  config: { strategy: { name: 'squarecb', gamma: 3 }, learner: { name: 'linear', learningRate: 0.5 }, reward: { aggregation: 'sum' } } satisfies ModelConfig,
  reward: { events: [{ eventId: 'e1', reward: 1 }, { eventId: 'e2', label: '7' }] } satisfies Reward,
  rank: { contextFeatures: [{ user: 'ada' }], actions: [{ id: 'a', features: [{ x: 1 }] }, { id: 'b' }], excludedActions: ['b'], deferActivation: true } satisfies RankRequest,
  multiSlotRank: { actions: [{ id: 'a' }, { id: 'b' }], slots: [{ id: 's1', baselineAction: 'a' }, { id: 's2', baselineAction: 'b', excludedActions: ['a'] }] } satisfies MultiSlotRankRequest,
  serviceConfiguration: {
    rewardWaitTime: 'PT10M', defaultReward: 0, rewardAggregation: 'earliest', explorationPercentage: 0.2, modelExportFrequency: 'PT5M', logRetentionDays: -1, learningMode: 'Apprentice',
  } satisfies ServiceConfiguration,
};

// @ts-expect-error a strategy name the engine does not know
const unknownStrategy: ModelConfig = { strategy: { name: 'nope' } };
// @ts-expect-error an aggregation outside the enum
const badAggregation: ModelConfig = { reward: { aggregation: 'max' } };
// @ts-expect-error actions are ids or {id, features}
const badAction: Decide = { model: 'm', actions: [{ features: {} }] };
// @ts-expect-error a batch item needs its eventId
const itemWithoutId: Reward = { events: [{ reward: 1 }] };
// @ts-expect-error Personalizer's features are a list of objects
const featuresNotAList: RankRequest = { actions: [{ id: 'a' }], contextFeatures: { user: 'ada' } };
// @ts-expect-error a slot needs its baselineAction
const slotWithoutBaseline: MultiSlotRankRequest = { actions: [{ id: 'a' }], slots: [{ id: 's1' }] };
// @ts-expect-error a learning mode outside the enum
const badMode: ServiceConfiguration = { ...accepted.serviceConfiguration, learningMode: 'Offline' };

test('what the derived types accept, the route schemas accept', () => {
  assert.equal(compile(decideBodySchema, 'body')(structuredClone(accepted.decide)), true);
  assert.equal(compile(modelConfigInputSchema, 'body')(structuredClone(accepted.config)), true);
  assert.equal(compile(rewardBodySchema, 'body')(structuredClone(accepted.reward)), true);
  assert.equal(compile(rankSchema, 'body')(structuredClone(accepted.rank)), true);
  assert.equal(compile(multiSlotRankSchema, 'body')(structuredClone(accepted.multiSlotRank)), true);
  assert.equal(compile(serviceConfigurationSchema, 'body')(structuredClone(accepted.serviceConfiguration)), true);
});

test('what the derived types refuse, the route schemas refuse', () => {
  const config = compile(modelConfigInputSchema, 'body');
  assert.equal(config(structuredClone(unknownStrategy)), false);
  assert.equal(config(structuredClone(badAggregation)), false);
  assert.equal(compile(decideBodySchema, 'body')(structuredClone(badAction)), false);
  assert.equal(compile(rewardBodySchema, 'body')(structuredClone(itemWithoutId)), false);
  assert.equal(compile(rankSchema, 'body')(structuredClone(featuresNotAList)), false);
  assert.equal(compile(multiSlotRankSchema, 'body')(structuredClone(slotWithoutBaseline)), false);
  assert.equal(compile(serviceConfigurationSchema, 'body')(structuredClone(badMode)), false);
});
