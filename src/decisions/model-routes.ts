import type { FromSchema } from '../schema-types.js';
import { route, type AnyRoute } from '../http/route.js';
import type { DecisionService } from './decision-service.js';
import { learnerSchema, modelConfigInputSchema, strategySchema } from './model-config.js';
import { MODEL_NAME_PATTERN } from './model-registry.js';
import { sendJson } from '../http/respond.js';

const nameParams = {
  type: 'object', required: ['name'], additionalProperties: false,
  properties: { name: { type: 'string', pattern: MODEL_NAME_PATTERN, description: 'Model name.' } },
} as const;

const estimateSchema = {
  type: ['object', 'null'],
  description: 'Off-policy estimates of the current policy over the latest 500 rewarded events (it was trained on them: a progress '
    + 'indicator, not a forecast); null before the first reward. While the model learns they are recomputed at most every 10 seconds.',
  required: ['n', 'ips', 'snips', 'effectiveSampleSize'], additionalProperties: false,
  properties: { n: { type: 'integer' }, ips: { type: 'number' }, snips: { type: 'number' }, dr: { type: 'number' }, effectiveSampleSize: { type: 'number' } },
} as const;

const nullableNumber = { type: ['number', 'null'] } as const;

const optimizerSchema = {
  type: 'object',
  description: 'Automatic optimization (strategy auto): the candidate served, every candidate\'s estimated value and the evidence a switch needs. '
    + 'Deterministic given the log: a restart replays the same choices.',
  required: ['serving', 'events', 'evaluatedEvents', 'effectiveEvents', 'switches', 'history', 'drift', 'candidates'],
  additionalProperties: false,
  properties: {
    serving: { type: 'string', description: 'Name of the candidate that makes the decisions.' },
    events: { type: 'integer', description: 'Events learned.' },
    evaluatedEvents: { type: 'integer', description: 'Events on which every candidate was evaluated (all of the first 2,000, then a seeded share).' },
    effectiveEvents: { type: 'number', description: '(Σ discount)² / Σ discount²: how many evaluated events the estimates rest on.' },
    switches: { type: 'integer' },
    history: {
      type: 'array', description: 'The last switches (at most 20), oldest first.',
      items: {
        type: 'object', required: ['event', 'from', 'to', 'lowerBound'], additionalProperties: false,
        properties: { event: { type: 'integer' }, from: { type: 'string' }, to: { type: 'string' }, lowerBound: { type: 'number' } },
      },
    },
    drift: {
      type: 'object', required: ['detections', 'lastEvent'], additionalProperties: false,
      description: 'Page–Hinkley alarms on the served rewards; each shortens the estimates\' memory.',
      properties: { detections: { type: 'integer' }, lastEvent: { type: ['integer', 'null'] } },
    },
    candidates: {
      type: 'array',
      items: {
        type: 'object', additionalProperties: false,
        required: ['name', 'config', 'serving', 'retired', 'value', 'ci', 'difference', 'lowerBound'],
        properties: {
          name: { type: 'string' },
          config: { type: 'object', required: ['strategy', 'learner'], additionalProperties: false, properties: { strategy: strategySchema, learner: learnerSchema } },
          serving: { type: 'boolean' },
          retired: { type: 'boolean', description: 'Left out for good (quadratic terms on a context of more than 16 features).' },
          value: { ...nullableNumber, description: 'Doubly robust estimate of the candidate\'s mean reward.' },
          ci: { type: ['array', 'null'], items: { type: 'number' }, minItems: 2, maxItems: 2, description: '95% normal interval of value.' },
          difference: { ...nullableNumber, description: 'Estimated value minus the served candidate\'s (paired).' },
          lowerBound: { ...nullableNumber, description: 'Anytime-valid lower bound of difference at the configured confidence: a switch needs it above 0.' },
        },
      },
    },
  },
} as const;

export const modelViewSchema = {
  type: 'object',
  required: ['name', 'version', 'config', 'createdAt', 'updatedAt', 'stats', 'offPolicy'],
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    version: { type: 'integer', description: 'Bumped by every reconfiguration.' },
    config: modelConfigInputSchema,
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    stats: {
      type: 'object',
      required: ['decisions', 'pending', 'clientRewards', 'defaultRewards', 'rewardedEvents', 'rewardTotal', 'meanReward', 'updates', 'rewardSeq', 'fingerprint'],
      additionalProperties: false,
      properties: {
        decisions: { type: 'integer' },
        pending: { type: 'integer', description: 'Decisions whose reward window is open.' },
        clientRewards: { type: 'integer', description: 'Rewards received from clients.' },
        defaultRewards: { type: 'integer', description: 'Default rewards applied to windows that closed empty.' },
        rewardedEvents: { type: 'integer' },
        rewardTotal: { type: 'number' },
        meanReward: { type: ['number', 'null'], description: 'Mean final reward of closed events.' },
        updates: { type: 'integer', description: 'Learning updates folded into the state.' },
        rewardSeq: { type: 'integer', description: 'Last reward-log sequence number folded into the state.' },
        fingerprint: { type: 'string', description: 'sha256 of the learned state: equal before and after a restart, and on every replica once caught up.' },
        replica: {
          type: 'object', required: ['behindEvents', 'behindMs'], additionalProperties: false,
          description: 'With FOCAL_DATABASE_URL (replicas on PostgreSQL) only: how far this replica is behind the shared reward log.',
          properties: {
            behindEvents: { type: 'integer', description: 'Rows of the shared reward log not yet applied by this replica.' },
            behindMs: { type: 'integer', description: 'Age of the oldest row not yet applied (0 when caught up).' },
          },
        },
        log: {
          type: 'object', required: ['events', 'bytes', 'oldest', 'retention'],
          description: 'The model\'s share of the event log (read from counters, not counted per request). The other counts cover the events kept. '
            + 'With FOCAL_DATABASE_URL: the shared database\'s log, the same on every replica (refreshed every second).',
          properties: {
            events: { type: 'integer', description: 'Logged events kept.' },
            bytes: { type: 'integer', description: 'Bytes of their stored (compressed) payloads and ids; SQLite pages and indexes add about 0.15 kB per event. '
              + 'On PostgreSQL: the bytes of the payloads\' and ids\' text.' },
            oldest: { type: ['string', 'null'], format: 'date-time', description: 'When the oldest kept event was logged.' },
            retention: { type: 'string', description: 'Retention in force: the model\'s log.retention, else FOCAL_LOG_RETENTION.' },
          },
        },
        apprentice: {
          type: 'object', required: ['events', 'imitated', 'imitationRate'], additionalProperties: false,
          description: 'Apprentice mode only: how closely the model\'s own choices follow the baseline it answers.',
          properties: {
            events: { type: 'integer', description: 'Decisions made in apprentice mode.' },
            imitated: { type: 'integer', description: 'Of them, those where the model\'s own draw was the baseline action.' },
            imitationRate: { type: ['number', 'null'], description: 'imitated / events (null before the first).' },
          },
        },
      },
    },
    offPolicy: estimateSchema,
    optimizer: optimizerSchema,
  },
} as const;

export function modelRoutes(service: DecisionService): AnyRoute[] {
  return [
    route<FromSchema<typeof modelConfigInputSchema>, Record<string, unknown>, FromSchema<typeof nameParams>>({
      method: 'put', path: '/models/:name', auth: 'admin', tags: ['bandit'],
      summary: 'Create or reconfigure a bandit model',
      description: 'Every field is optional; a bare PUT gives the default model. Replaces the whole configuration. '
        + 'A new strategy or learner resets the learned state (the old weights belong to another model); changing only '
        + 'actions or the reward policy keeps it. Any change bumps the version; an identical PUT changes nothing.',
      params: nameParams, body: modelConfigInputSchema, bodyOptional: true,
      responses: {
        200: { description: 'The model, as GET returns it', schema: modelViewSchema },
        400: { description: 'Unknown strategy or learner, or a parameter out of range (the error names the field)' },
        409: { description: 'The name belongs to a model of another kind' },
      },
      handler: async ({ params, body, res }) => {
        const view = await service.put(params.name, body);
        sendJson(res, view);
      },
    }),
    route<unknown, Record<string, unknown>, FromSchema<typeof nameParams>>({
      method: 'get', path: '/models/:name', tags: ['bandit'], summary: 'A bandit model: configuration and statistics',
      params: nameParams,
      responses: { 200: { description: 'The model', schema: modelViewSchema }, 404: { description: 'Unknown model' } },
      handler: ({ params, res }) => { sendJson(res, service.view(params.name)); },
    }),
    route({
      method: 'get', path: '/models', tags: ['bandit'], summary: 'Every bandit model',
      responses: {
        200: {
          description: 'The models',
          schema: { type: 'object', required: ['models'], additionalProperties: false, properties: { models: { type: 'array', items: modelViewSchema } } },
        },
      },
      handler: ({ res }) => { sendJson(res, { models: service.names().map((n) => service.view(n)) }); },
    }),
    route<unknown, Record<string, unknown>, FromSchema<typeof nameParams>>({
      method: 'delete', path: '/models/:name', auth: 'admin', tags: ['bandit'],
      summary: 'Delete a bandit model (default: reset it)',
      description: 'Removes the model and its snapshots and closes its open events (later rewards for them get 410); the '
        + 'logged events and rewards stay. The model `default` always exists: deleting it resets it to the default '
        + 'configuration with fresh state and answers 200 with it.',
      params: nameParams,
      responses: {
        200: { description: '`default` was reset', schema: modelViewSchema },
        204: { description: 'Deleted' },
        404: { description: 'Unknown model' },
      },
      handler: async ({ params, res }) => {
        const view = await service.delete(params.name);
        if (view) sendJson(res, view);
        else res.status(204).end();
      },
    }),
  ];
}
