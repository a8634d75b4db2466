import { requestJson } from '../http/request-json.js';
import type { FromSchema } from '../schema-types.js';
import { route, type AnyRoute } from '../http/route.js';
import { ValidationError } from '../http/errors.js';
import type { DecisionService } from './decision-service.js';
import { decideBodySchema } from './decide.js';
import { sendJson } from '../http/respond.js';

const rankingSchema = {
  type: 'array', description: 'Every action with its probability, best first (excluded actions last, with 0); the probabilities sum to 1.',
  items: { type: 'object', required: ['id', 'probability'], additionalProperties: false, properties: { id: { type: 'string' }, probability: { type: 'number', minimum: 0, maximum: 1 } } },
} as const;

const modeProperties = {
  mode: { type: 'string', enum: ['apprentice', 'logging'], description: 'Apprentice and logging modes: the answer is the baseline action, with probability 1.' },
  modelChoice: {
    type: 'object', required: ['action', 'probability', 'ranking'], additionalProperties: false,
    description: 'Apprentice and logging modes: what the model itself drew, and its PMF (logged for learning and evaluation).',
    properties: { action: { type: 'string' }, probability: { type: 'number', exclusiveMinimum: 0, maximum: 1 }, ranking: rankingSchema },
  },
} as const;

const deferredProperty = { type: 'boolean', const: true, description: 'The decision waits for POST /events/{eventId}/activate.' } as const;

const slotsResponseSchema = {
  type: 'object', required: ['eventId', 'model', 'slots', 'strategy'], additionalProperties: false,
  properties: {
    eventId: { type: 'string' },
    model: { type: 'string' },
    slots: {
      type: 'array', description: 'The slots in request order, each with its action (distinct), the probability it was drawn with, and its ranking.',
      items: {
        type: 'object', required: ['id', 'action', 'probability', 'ranking'], additionalProperties: false,
        properties: { id: { type: 'string' }, action: { type: 'string' }, probability: { type: 'number', exclusiveMinimum: 0, maximum: 1 }, ranking: rankingSchema, ...modeProperties },
      },
    },
    strategy: { type: 'string' },
    deferred: deferredProperty,
  },
} as const;

const decideResponseSchema = {
  type: 'object', required: ['eventId', 'model', 'action', 'probability', 'ranking', 'strategy'], additionalProperties: false,
  properties: {
    eventId: { type: 'string' },
    model: { type: 'string' },
    action: { type: 'string', description: 'The sampled action.' },
    probability: { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'The probability with which it was drawn (the propensity).' },
    ranking: rankingSchema,
    strategy: { type: 'string' },
    deferred: deferredProperty,
    ...modeProperties,
  },
} as const;

export function decideRoutes(service: DecisionService): AnyRoute[] {
  return [
    route<FromSchema<typeof decideBodySchema>>({
      method: 'post', path: '/decide', tags: ['bandit'], summary: 'Choose an action',
      description: 'Scores the actions, explores, samples (seeded by the event id, so a decision can be replayed) and durably logs '
        + 'the decision (context, actions, PMF, chosen action, probability, model version) before answering. Excluded actions are never '
        + 'chosen. In apprentice and logging modes the answer is the baseline action (probability 1) and the model\'s own draw is logged beside it.',
      body: decideBodySchema,
      keepBodyText: true,
      lean: true,
      responses: {
        200: { description: 'The decision (with slots: one per slot)', schema: { oneOf: [decideResponseSchema, slotsResponseSchema] } },
        400: { description: 'Invalid request (duplicate action ids, bad features, no actions, an unknown excluded or baseline id, every action excluded)' },
        404: { description: 'Unknown model' },
        409: { description: 'The eventId is already in use' },
        413: { description: 'A limit was exceeded: FOCAL_MAX_ACTIONS (actions, or slots), FOCAL_MAX_FEATURES, FOCAL_MAX_STRING_LENGTH or FOCAL_MAX_BODY' },
        503: { description: 'The database cannot write (disk or FOCAL_DATABASE_SIZE_LIMIT full): /problems/storage-full with Retry-After; nothing was written' },
      },
      // The body's own text is logged with the decision: a body ajv changed (a filled-in default) is not that text,
      // but the only default here is `model`, which the log keeps in its own column.
      handler: async ({ body, req, res }) => {
        if (body.slots === undefined) {
          sendJson(res, await service.decide(body, requestJson(req)));
          return;
        }
        if (body.baseline !== undefined) {
          throw new ValidationError('baseline is per slot in a multi-slot decision', [{ path: '/baseline', message: 'use slots[].baseline' }]);
        }
        sendJson(res, await service.decideSlots({ ...body, slots: body.slots }));
      },
    }),
  ];
}
