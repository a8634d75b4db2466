import { NotFoundError, ValidationError } from '../http/errors.js';
import { sendJson } from '../http/respond.js';
import { route, type AnyRoute } from '../http/route.js';
import type { FromSchema } from '../schema-types.js';
import { EVENT_ID_PATTERN } from './decide.js';
import type { DecisionService } from './decision-service.js';
import { decodeDecisionPayload, type BrowsedRow } from './decision-store.js';
import { MODEL_NAME_PATTERN } from './model-registry.js';

/**
 * Reading logged decisions one by one, newest first (the dashboard's decision browser): GET /models/{name}/events
 * pages back through a model's log, GET /events/{id} finds one. Logged contexts may hold what users would not
 * show everyone, so both need the admin key when one is set (the same key as importing a log).
 */

export const MAX_EVENTS_PAGE = 500;

const decisionRecordSchema = {
  type: 'object', additionalProperties: false,
  required: ['eventId', 'model', 'createdAt', 'context', 'actions', 'pmf', 'chosen', 'action', 'probability', 'modelVersion', 'strategy', 'reward', 'rewardCount', 'closed', 'closedReason'],
  properties: {
    eventId: { type: 'string' },
    model: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    context: { type: 'object', description: 'The context as sent.' },
    actions: {
      type: 'array', description: 'The candidates, in the order they were sent.',
      items: { type: 'object', required: ['id'], properties: { id: { type: 'string' }, features: { type: 'object' } } },
    },
    pmf: { type: 'array', items: { type: 'number' }, description: 'Probability of each action, in the order of `actions`.' },
    scores: { type: 'array', items: { type: 'number' }, description: 'The learner\'s score of each action.' },
    chosen: { type: 'integer', description: 'Index of the chosen action in `actions`.' },
    action: { type: 'string', description: 'The chosen action\'s id.' },
    probability: { type: 'number', description: 'The probability it was drawn with.' },
    modelVersion: { type: 'integer' },
    strategy: { type: 'string' },
    reward: { type: ['number', 'null'], description: 'The reward so far (final once closed); null before any.' },
    rewardCount: { type: 'integer', description: 'Rewards received.' },
    closed: { type: 'boolean', description: 'No more rewards are accepted.' },
    closedReason: { type: ['string', 'null'], description: 'Why it stopped accepting rewards (`reward`, `window`, `deleted`, `imported`, …); null while open.' },
    baseline: { type: 'string', description: 'The baseline action, when the decision named one.' },
    mode: { type: 'string', enum: ['apprentice', 'logging'], description: 'Apprentice or logging mode: `action` is the baseline; `modelAction` what the model drew.' },
    modelAction: { type: 'string' },
    slot: { type: 'string', description: 'The slot of a multi-slot decision; `parent` is the decision\'s own event id.' },
    parent: { type: 'string' },
  },
} as const;

export interface DecisionRecord {
  eventId: string;
  model: string;
  createdAt: string;
  context: unknown;
  actions: unknown[];
  pmf: number[];
  scores: number[];
  chosen: number;
  action: string | null;
  probability: number;
  modelVersion: number;
  strategy: string;
  reward: number | null;
  rewardCount: number;
  closed: boolean;
  closedReason: string | null;
  baseline?: string;
  mode?: 'apprentice' | 'logging';
  modelAction?: string;
  slot?: string;
  parent?: string;
}

type Row = BrowsedRow;

export function decisionRecord(row: Row): DecisionRecord {
  const p = decodeDecisionPayload(row.payload);
  return {
    eventId: row.event_id, model: row.model, createdAt: new Date(row.created_at).toISOString(),
    context: p.context, actions: p.actions, pmf: p.pmf, scores: p.scores, chosen: p.chosen, action: p.actions[p.chosen]?.id ?? null,
    probability: p.probability, modelVersion: p.modelVersion, strategy: p.strategy,
    reward: row.reward, rewardCount: row.reward_count, closed: row.closed === 1, closedReason: row.closed_reason,
    ...(p.baseline !== undefined ? { baseline: p.baseline } : {}),
    ...(p.mode !== undefined ? { mode: p.mode } : {}),
    ...(p.modelChoice !== undefined && p.actions[p.modelChoice] ? { modelAction: p.actions[p.modelChoice]!.id } : {}),
    ...(p.slot !== undefined ? { slot: p.slot } : {}),
    ...(p.parent !== undefined ? { parent: p.parent } : {}),
  };
}

const nameParams = {
  type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', pattern: MODEL_NAME_PATTERN } },
} as const;
const idParams = {
  type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', minLength: 1, pattern: EVENT_ID_PATTERN } },
} as const;
const pageQuery = {
  type: 'object', additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: MAX_EVENTS_PAGE, default: 50, description: 'Decisions per page.' },
    before: { type: 'string', minLength: 1, pattern: EVENT_ID_PATTERN, description: 'Only decisions logged before this event (the previous page\'s `next`).' },
  },
} as const;

export function eventRoutes(service: DecisionService): AnyRoute[] {
  return [
    route<unknown, FromSchema<typeof pageQuery>, FromSchema<typeof nameParams>>({
      method: 'get', path: '/models/:name/events', tags: ['bandit'], auth: 'admin',
      summary: 'The model\'s logged decisions, newest first',
      description: 'A page of decisions with their context, actions, PMF, chosen action and reward. `next` is the `before` of the '
        + 'following page (null on the last). Needs the admin key when one is set (logged contexts may be personal data).',
      params: nameParams,
      query: pageQuery,
      responses: {
        200: {
          description: 'A page of decisions',
          schema: {
            type: 'object', required: ['events', 'next'], additionalProperties: false,
            properties: { events: { type: 'array', items: decisionRecordSchema }, next: { type: ['string', 'null'] } },
          },
        },
        400: { description: 'Invalid query, or `before` names no decision of this model' },
        404: { description: 'Unknown model' },
      },
      handler: async ({ params, query, res }) => {
        service.view(params.name); // 404 for an unknown model
        let beforeSeq = Number.MAX_SAFE_INTEGER;
        if (query.before !== undefined) {
          const row = await service.findLogged(query.before);
          if (!row || row.model !== params.name || row.kind !== 'decision') {
            throw new ValidationError(`before: no decision of model "${params.name}" has eventId "${query.before}"`, [{ path: '/query/before', message: 'names no decision of this model' }]);
          }
          beforeSeq = row.seq;
        }
        const rows = await service.decisionsBefore(params.name, beforeSeq, query.limit);
        const events = rows.map(decisionRecord);
        sendJson(res, { events, next: rows.length === query.limit ? rows[rows.length - 1]!.event_id : null });
      },
    }),
    route<unknown, Record<string, unknown>, FromSchema<typeof idParams>>({
      method: 'get', path: '/events/:id', tags: ['bandit'], auth: 'admin',
      summary: 'One logged decision by its event id',
      description: 'As in GET /models/{name}/events. Needs the admin key when one is set.',
      params: idParams,
      responses: {
        200: { description: 'The decision', schema: decisionRecordSchema },
        404: { description: 'No decision has this event id (an image event is not a decision)' },
      },
      handler: async ({ params, res }) => {
        const row = await service.findLogged(params.id);
        if (!row || row.kind !== 'decision') throw new NotFoundError(`No logged decision with eventId "${params.id}"`);
        sendJson(res, decisionRecord(row));
      },
    }),
  ];
}
