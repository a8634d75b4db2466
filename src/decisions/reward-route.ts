import type { FeedbackHandler } from '../capability.js';
import { HttpError, NotFoundError, PayloadTooLargeError, ValidationError } from '../http/errors.js';
import { writeProblem } from '../http/problem.js';
import type { FromSchema } from '../schema-types.js';
import { route, type AnyRoute } from '../http/route.js';
import type { Limits } from '../platform/config.js';
import { type DecisionService, type RewardItem, type RewardResult } from './decision-service.js';
import { EVENT_ID_PATTERN } from './decide.js';
import { MAX_MAGNITUDE } from './model-config.js';
import { sendJson } from '../http/respond.js';

const itemProperties = {
  eventId: { type: 'string', minLength: 1, pattern: EVENT_ID_PATTERN },
  reward: { type: 'number', minimum: -MAX_MAGNITUDE, maximum: MAX_MAGNITUDE, description: 'The reward (decision events; image events accept it too).' },
  label: { type: 'string', minLength: 1, maxLength: 256, description: 'Image events: the true label.' },
  slot: { type: 'string', minLength: 1, pattern: EVENT_ID_PATTERN, description: 'Multi-slot decisions: the slot rewarded.' },
} as const;

export const rewardBodySchema = {
  type: 'object', additionalProperties: false,
  description: 'One reward ({eventId, reward}) or a batch ({events: [...]}).',
  properties: {
    ...itemProperties,
    events: { type: 'array', minItems: 1, items: { type: 'object', required: ['eventId'], additionalProperties: false, properties: itemProperties } },
    rewards: {
      type: 'object', minProperties: 1, description: 'Multi-slot decisions: the reward of each slot named, by slot id ({eventId, rewards: {hero: 1, side: 0}}).',
      propertyNames: { minLength: 1, pattern: EVENT_ID_PATTERN },
      additionalProperties: { type: 'number', minimum: -MAX_MAGNITUDE, maximum: MAX_MAGNITUDE },
    },
  },
} as const;

const activateParams = {
  type: 'object', required: ['eventId'], additionalProperties: false,
  properties: { eventId: { type: 'string', minLength: 1, pattern: EVENT_ID_PATTERN, description: 'The decision\'s eventId (of a multi-slot decision: every slot).' } },
} as const;

/**
 * One reward's result. Decision events answer eventId, reward, applied (and under aggregation sum the running
 * total and when it is learned); image events add their own members (see POST /classify-image). In a batch each
 * item also carries its status and, for a 4xx, the members of its problem document.
 */
const resultSchema = {
  type: 'object',
  properties: {
    eventId: { type: 'string' },
    slot: { type: 'string', description: 'Multi-slot decisions: the slot rewarded.' },
    reward: { type: ['number', 'null'] },
    applied: { type: 'boolean' },
    total: { type: 'number', description: 'Aggregation sum: the event\'s total so far.' },
    learnedAt: { type: 'string', format: 'date-time', description: 'Aggregation sum: when the window closes and the total is learned.' },
    status: { type: 'integer', description: 'Batch items: this item\'s HTTP status.' },
    type: { type: 'string' }, title: { type: 'string' }, detail: { type: 'string' },
    errors: { type: 'array', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
} as const;

const batchSchema = {
  type: 'object', required: ['results'], additionalProperties: false,
  properties: { results: { type: 'array', items: { ...resultSchema, required: ['eventId', 'status'] } } },
} as const;

function slotOf(item: { slot?: string }): { slot?: string } {
  return item.slot !== undefined ? { slot: item.slot } : {};
}

export function rewardRoutes(service: DecisionService, limits: Limits, feedback: Map<string, FeedbackHandler>): AnyRoute[] {
  /** Events of other kinds (image) go to the capability that logged them. */
  const dispatch = async (kind: string, item: RewardItem): Promise<RewardResult> => {
    const handler = feedback.get(kind);
    if (!handler) return { status: 404, body: new NotFoundError(`No feedback handler for events of kind "${kind}"`).toProblem() };
    try {
      return await handler(item);
    } catch (err) {
      // One failing item must not sink a batch; unknown errors still become 500s.
      if (err instanceof HttpError) return { status: err.status, body: err.toProblem() };
      throw err;
    }
  };
  // The ids the server generates (UUIDs, 36 characters) must always be accepted back, however low the limit.
  const maxEventId = Math.max(limits.stringLength, 36);
  const checkLength = (eventId: string, path: string) => {
    if (eventId.length > maxEventId) {
      throw new PayloadTooLargeError(`${path} is ${eventId.length} characters long; the limit is ${maxEventId} (FOCAL_MAX_STRING_LENGTH)`,
        'FOCAL_MAX_STRING_LENGTH', maxEventId);
    }
  };
  return [
    route<unknown, Record<string, unknown>, FromSchema<typeof activateParams>>({
      method: 'post', path: '/events/:eventId/activate', tags: ['bandit'], summary: 'Activate a deferred decision',
      description: 'A decision made with defer: true is logged but nothing is learned from it (and no default reward is applied) until it '
        + 'is activated. Rewards that arrived before count from now on. An event never activated stays evaluable and is never learned; '
        + 'its reward window runs from the decision, so activate (and reward) within reward.waitSeconds.',
      params: activateParams,
      responses: {
        204: { description: 'Activated' },
        404: { description: 'Unknown event' },
        409: { description: 'The event is already active (it was not deferred, or was activated before), or was decided in logging mode' },
        410: { description: 'The reward window closed before activation' },
        413: { description: 'The eventId is longer than FOCAL_MAX_STRING_LENGTH' },
        503: { description: 'The database cannot write (disk or FOCAL_DATABASE_SIZE_LIMIT full): /problems/storage-full with Retry-After; nothing was written' },
      },
      handler: async ({ params, res }) => {
        checkLength(params.eventId, 'eventId');
        await service.activate(params.eventId);
        res.statusCode = 204;
        res.end();
      },
    }),
    route<FromSchema<typeof rewardBodySchema>>({
      method: 'post', path: '/reward', tags: ['bandit'], summary: 'Report a reward (or a batch of them)',
      description: 'Joins the reward to its logged decision, logs it durably and updates the model online (aggregation first) '
        + 'or adds it to the event\'s total, learned when the window closes (aggregation sum). A batch applies each item '
        + 'independently and answers 200 with each item\'s status. A multi-slot decision is rewarded by slot: {eventId, slot, reward}, '
        + 'or several slots at once with {eventId, rewards: {slot: reward}} (answered like a batch).',
      body: rewardBodySchema,
      lean: true,
      responses: {
        200: { description: 'Applied (single), or every item\'s result (batch)', schema: { oneOf: [{ ...resultSchema, required: ['eventId'] }, batchSchema] } },
        400: { description: 'Invalid request' },
        404: { description: 'Unknown event' },
        409: { description: 'Already rewarded (aggregation first)' },
        410: { description: 'The reward window closed and the default reward was applied' },
        413: { description: 'More events than FOCAL_MAX_REWARD_BATCH' },
        503: { description: 'The database cannot write (disk or FOCAL_DATABASE_SIZE_LIMIT full): /problems/storage-full with Retry-After; nothing was written' },
      },
      handler: async ({ body, res }) => {
        if (body.rewards !== undefined) {
          if (body.events !== undefined || body.reward !== undefined || body.label !== undefined || body.slot !== undefined) {
            throw new ValidationError('Send rewards (by slot) alone with the eventId', [{ path: '/rewards', message: 'excludes events, reward, label and slot' }]);
          }
          if (body.eventId === undefined) throw new ValidationError('eventId is required', [{ path: '/eventId', message: 'is required' }]);
          checkLength(body.eventId, 'eventId');
          const slots = Object.entries(body.rewards);
          if (slots.length > limits.rewardBatch) {
            throw new PayloadTooLargeError(`${slots.length} slot rewards exceed the limit of ${limits.rewardBatch} (FOCAL_MAX_REWARD_BATCH)`,
              'FOCAL_MAX_REWARD_BATCH', limits.rewardBatch);
          }
          slots.forEach(([slot]) => checkLength(slot, `rewards.${slot}`));
          const eventId = body.eventId;
          const results = await service.reward(slots.map(([slot, reward]) => ({ eventId, slot, reward })), dispatch);
          sendJson(res, { results: results.map((r, i) => ({ ...r.body, eventId, slot: slots[i]![0], status: r.status })) });
          return;
        }
        if (body.events !== undefined) {
          if (body.eventId !== undefined || body.reward !== undefined || body.label !== undefined) {
            throw new ValidationError('Send either one reward or events, not both', [{ path: '/events', message: 'excludes eventId, reward and label' }]);
          }
          if (body.events.length > limits.rewardBatch) {
            throw new PayloadTooLargeError(`${body.events.length} events exceed the limit of ${limits.rewardBatch} (FOCAL_MAX_REWARD_BATCH)`,
              'FOCAL_MAX_REWARD_BATCH', limits.rewardBatch);
          }
          body.events.forEach((e, i) => {
            checkLength(e.eventId, `events.${i}.eventId`);
            if (e.slot !== undefined) checkLength(e.slot, `events.${i}.slot`);
          });
          const results = await service.reward(body.events, dispatch);
          sendJson(res, { results: results.map((r, i) => ({ ...r.body, eventId: body.events![i]!.eventId, ...slotOf(body.events![i]!), status: r.status })) });
          return;
        }
        if (body.eventId === undefined) throw new ValidationError('eventId is required', [{ path: '/eventId', message: 'is required' }]);
        checkLength(body.eventId, 'eventId');
        if (body.slot !== undefined) checkLength(body.slot, 'slot');
        if (body.reward === undefined && body.label === undefined) {
          throw new ValidationError('reward is required', [{ path: '/reward', message: 'is required' }]);
        }
        const item: RewardItem = {
          eventId: body.eventId, ...(body.reward !== undefined ? { reward: body.reward } : {}), ...(body.label !== undefined ? { label: body.label } : {}), ...slotOf(body),
        };
        const [result] = await service.reward([item], dispatch);
        if (result!.status >= 400) writeProblem(res, result!.status, result!.body);
        else sendJson(res, { ...result!.body, ...(item.slot !== undefined ? { eventId: item.eventId, slot: item.slot } : {}) }, result!.status);
      },
    }),
  ];
}
