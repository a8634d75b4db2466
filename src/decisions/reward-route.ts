import type { FeedbackHandler } from '../capability.js';
import { HttpError, NotFoundError, PayloadTooLargeError, ValidationError } from '../http/errors.js';
import { writeProblem } from '../http/problem.js';
import type { FromSchema } from '../schema-types.js';
import { route, type AnyRoute } from '../http/route.js';
import type { Limits } from '../platform/config.js';
import { type DecisionService, type RewardItem, type RewardResult } from './decision-service.js';
import { EVENT_ID_PATTERN } from './decide-route.js';
import { MAX_MAGNITUDE } from './model-config.js';
import { sendJson } from '../http/respond.js';

const itemProperties = {
  eventId: { type: 'string', minLength: 1, pattern: EVENT_ID_PATTERN },
  reward: { type: 'number', minimum: -MAX_MAGNITUDE, maximum: MAX_MAGNITUDE, description: 'The reward (decision events; image events accept it too).' },
  label: { type: 'string', minLength: 1, maxLength: 256, description: 'Image events: the true label.' },
} as const;

export const rewardBodySchema = {
  type: 'object', additionalProperties: false,
  description: 'One reward ({eventId, reward}) or a batch ({events: [...]}).',
  properties: {
    ...itemProperties,
    events: { type: 'array', minItems: 1, items: { type: 'object', required: ['eventId'], additionalProperties: false, properties: itemProperties } },
  },
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
    route<FromSchema<typeof rewardBodySchema>>({
      method: 'post', path: '/reward', tags: ['bandit'], summary: 'Report a reward (or a batch of them)',
      description: 'Joins the reward to its logged decision, logs it durably and updates the model online (aggregation first) '
        + 'or adds it to the event\'s total, learned when the window closes (aggregation sum). A batch applies each item '
        + 'independently and answers 200 with each item\'s status.',
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
        if (body.events !== undefined) {
          if (body.eventId !== undefined || body.reward !== undefined || body.label !== undefined) {
            throw new ValidationError('Send either one reward or events, not both', [{ path: '/events', message: 'excludes eventId, reward and label' }]);
          }
          if (body.events.length > limits.rewardBatch) {
            throw new PayloadTooLargeError(`${body.events.length} events exceed the limit of ${limits.rewardBatch} (FOCAL_MAX_REWARD_BATCH)`,
              'FOCAL_MAX_REWARD_BATCH', limits.rewardBatch);
          }
          body.events.forEach((e, i) => checkLength(e.eventId, `events.${i}.eventId`));
          const results = await service.reward(body.events, dispatch);
          sendJson(res, { results: results.map((r, i) => ({ eventId: body.events![i]!.eventId, ...r.body, status: r.status })) });
          return;
        }
        if (body.eventId === undefined) throw new ValidationError('eventId is required', [{ path: '/eventId', message: 'is required' }]);
        checkLength(body.eventId, 'eventId');
        if (body.reward === undefined && body.label === undefined) {
          throw new ValidationError('reward is required', [{ path: '/reward', message: 'is required' }]);
        }
        const item: RewardItem = { eventId: body.eventId, ...(body.reward !== undefined ? { reward: body.reward } : {}), ...(body.label !== undefined ? { label: body.label } : {}) };
        const [result] = await service.reward([item], dispatch);
        if (result!.status >= 400) writeProblem(res, result!.status, result!.body);
        else sendJson(res, result!.body, result!.status);
      },
    }),
  ];
}
