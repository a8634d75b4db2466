import { requestJson } from '../http/request-json.js';
import type { FromSchema } from '../schema-types.js';
import { route, type AnyRoute } from '../http/route.js';
import type { DecisionService } from './decision-service.js';
import { actionSchema, featuresSchema } from './model-config.js';
import { MODEL_NAME_PATTERN } from './model-routes.js';
import { sendJson } from '../http/respond.js';

/** Printable ASCII without spaces: event ids travel in logs, URLs and other systems' keys. */
export const EVENT_ID_PATTERN = '^[!-~]+$';

export const decideBodySchema = {
  type: 'object', additionalProperties: false,
  properties: {
    model: { type: 'string', pattern: MODEL_NAME_PATTERN, default: 'default', description: 'Which model decides.' },
    context: featuresSchema(),
    actions: { type: 'array', items: actionSchema, description: 'Candidates: ids or {id, features}; unique ids. Omit to use the model\'s fixed actions.' },
    eventId: { type: 'string', minLength: 1, pattern: EVENT_ID_PATTERN, description: 'Client-chosen id (a UUID is generated when absent); reusing one is a 409.' },
  },
} as const;

const decideResponseSchema = {
  type: 'object', required: ['eventId', 'model', 'action', 'probability', 'ranking', 'strategy'], additionalProperties: false,
  properties: {
    eventId: { type: 'string' },
    model: { type: 'string' },
    action: { type: 'string', description: 'The sampled action.' },
    probability: { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'The probability with which it was drawn (the propensity).' },
    ranking: {
      type: 'array', description: 'Every action with its probability, best first; the probabilities sum to 1.',
      items: { type: 'object', required: ['id', 'probability'], additionalProperties: false, properties: { id: { type: 'string' }, probability: { type: 'number', minimum: 0, maximum: 1 } } },
    },
    strategy: { type: 'string' },
  },
} as const;

export function decideRoutes(service: DecisionService): AnyRoute[] {
  return [
    route<FromSchema<typeof decideBodySchema>>({
      method: 'post', path: '/decide', tags: ['bandit'], summary: 'Choose an action',
      description: 'Scores the actions, explores, samples (seeded by the event id, so a decision can be replayed) and durably logs '
        + 'the decision (context, actions, PMF, chosen action, probability, model version) before answering.',
      body: decideBodySchema,
      keepBodyText: true,
      lean: true,
      responses: {
        200: { description: 'The decision', schema: decideResponseSchema },
        400: { description: 'Invalid request (duplicate action ids, bad features, no actions)' },
        404: { description: 'Unknown model' },
        409: { description: 'The eventId is already in use' },
        413: { description: 'A limit was exceeded: FOCAL_MAX_ACTIONS, FOCAL_MAX_FEATURES, FOCAL_MAX_STRING_LENGTH or FOCAL_MAX_BODY' },
        503: { description: 'The database cannot write (disk or FOCAL_DATABASE_SIZE_LIMIT full): /problems/storage-full with Retry-After; nothing was written' },
      },
      // The body's own text is logged with the decision: a body ajv changed (a filled-in default) is not that text,
      // but the only default here is `model`, which the log keeps in its own column.
      handler: async ({ body, req, res }) => { sendJson(res, await service.decide(body, requestJson(req))); },
    }),
  ];
}
