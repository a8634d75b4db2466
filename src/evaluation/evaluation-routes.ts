import type { DecisionService } from '../decisions/decision-service.js';
import { learnerSchema, strategySchema } from '../decisions/model-config.js';
import { MODEL_NAME_PATTERN } from '../decisions/model-registry.js';
import { sendJson } from '../http/respond.js';
import type { FromSchema } from '../schema-types.js';
import { route, type AnyRoute } from '../http/route.js';
import type { JsonSchema } from '../http/validation.js';
import type { EvaluationService } from './evaluation-service.js';

const MAX_CANDIDATES = 16;

const nameParams = {
  type: 'object', required: ['name'], additionalProperties: false,
  properties: { name: { type: 'string', pattern: MODEL_NAME_PATTERN, description: 'Model name.' } },
} as const;

const idParams = {
  type: 'object', required: ['name', 'id'], additionalProperties: false,
  properties: { name: nameParams.properties.name, id: { type: 'string', minLength: 1, maxLength: 64, description: 'Evaluation id.' } },
} as const;

const policyConfigSchema = {
  type: 'object', additionalProperties: false,
  description: 'A bandit configuration, as in PUT /models/{name} (a strategy without a learner gets the strategy\'s default learner).',
  properties: { strategy: strategySchema, learner: learnerSchema },
} as const;

const applySchema = {
  type: 'object', required: ['policy'], additionalProperties: false, properties: { policy: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

export const evaluationRequestSchema = {
  type: 'object', additionalProperties: false,
  properties: {
    from: { type: 'string', format: 'date-time', description: 'Only decisions made at or after this time (default: the oldest).' },
    to: { type: 'string', format: 'date-time', description: 'Only decisions made before this time (default: up to the request).' },
    policies: {
      type: 'array', maxItems: MAX_CANDIDATES, description: 'Candidate learning policies, each replayed from fresh state over the events in time order.',
      items: {
        type: 'object', required: ['name', 'config'], additionalProperties: false,
        properties: { name: { type: 'string', pattern: MODEL_NAME_PATTERN }, config: policyConfigSchema },
      },
    },
    featureImportance: { type: 'boolean', description: 'Also replay the online configuration without each context namespace (one more replay per namespace, at most 16).' },
    replicates: { type: 'integer', minimum: 50, maximum: 2000, description: 'Bootstrap replicates of the 95% intervals (default 500).' },
  },
} as const;

const estimate = {
  type: 'object', properties: { value: { type: 'number' }, ci: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2, description: '95% bootstrap-percentile interval.' } },
} as const;

const evaluationViewSchema: JsonSchema = {
  type: 'object', required: ['id', 'status', 'progress', 'events'],
  properties: {
    id: { type: 'string' },
    model: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'running', 'completed', 'failed'] },
    progress: { type: 'number', minimum: 0, maximum: 1 },
    events: { type: 'integer', description: 'Events replayed so far (all of them once completed).' },
    createdAt: { type: 'string', format: 'date-time' },
    startedAt: { type: 'string', format: 'date-time' },
    completedAt: { type: 'string', format: 'date-time' },
    request: { type: 'object', description: 'The request as resolved (candidate configs with their defaults).' },
    error: { type: 'string' },
    policies: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          source: { type: 'string', enum: ['online', 'baseline', 'uniform', 'custom'] },
          config: { type: 'object' },
          events: { type: 'integer' },
          estimates: { type: 'object', properties: { ips: estimate, snips: estimate, dr: estimate, dm: estimate } },
          effectiveSampleSize: { type: 'number' },
          meanWeight: { type: 'number' },
          maxWeight: { type: 'number' },
        },
      },
    },
    best: { type: ['string', 'null'], description: 'The policy with the highest lower bound of its DR interval.' },
    skipped: { type: 'integer', description: 'Logged events that could not be weighed (no valid propensity).' },
    cpuSeconds: { type: 'number', description: 'CPU time of the evaluation thread (Linux), the cost of the job on one core.' },
    featureImportance: {
      type: 'array',
      items: { type: 'object', properties: { feature: { type: 'string' }, importance: { type: 'number' }, ci: { type: 'array', items: { type: 'number' } } } },
    },
  },
};

export function evaluationRoutes(evaluations: EvaluationService, decisions: DecisionService): AnyRoute[] {
  return [
    route<FromSchema<typeof evaluationRequestSchema>, Record<string, unknown>, FromSchema<typeof nameParams>>({
      method: 'post', path: '/models/:name/evaluations', tags: ['evaluation'],
      summary: 'Start an offline (counterfactual) evaluation',
      description: 'Replays candidate learning policies over the model\'s rewarded decisions in time order (progressive validation) '
        + 'beside the rows online, baseline and uniform; estimates IPS, SNIPS, DM and DR with 95% bootstrap intervals. Runs as a job '
        + 'on a worker thread: poll the Location.',
      params: nameParams, body: evaluationRequestSchema, bodyOptional: true,
      responses: {
        202: { description: 'Accepted; Location names the evaluation', schema: evaluationViewSchema },
        400: { description: 'Invalid request (the error names the field)' },
        404: { description: 'Unknown model' },
        501: { description: 'The bandit log is in PostgreSQL (FOCAL_DATABASE_URL): evaluations run on the embedded database only' },
      },
      handler: ({ params, body, res }) => {
        const view = evaluations.create(params.name, body);
        sendJson(res, view, 202, undefined, { Location: `/models/${encodeURIComponent(params.name)}/evaluations/${view.id}` });
      },
    }),
    route<unknown, Record<string, unknown>, FromSchema<typeof nameParams>>({
      method: 'get', path: '/models/:name/evaluations', tags: ['evaluation'], summary: 'The model\'s evaluations, newest first (without their rows)',
      params: nameParams,
      responses: { 200: { description: 'Evaluations', schema: { type: 'object', properties: { evaluations: { type: 'array', items: evaluationViewSchema } } } }, 404: { description: 'Unknown model' } },
      handler: ({ params, res }) => { sendJson(res, { evaluations: evaluations.list(params.name) }); },
    }),
    route<unknown, Record<string, unknown>, FromSchema<typeof idParams>>({
      method: 'get', path: '/models/:name/evaluations/:id', tags: ['evaluation'], summary: 'One evaluation: status, progress and, once completed, its estimates',
      params: idParams,
      responses: { 200: { description: 'The evaluation', schema: evaluationViewSchema }, 404: { description: 'Unknown model or evaluation' } },
      handler: ({ params, res }) => { sendJson(res, evaluations.get(params.name, params.id)); },
    }),
    route<unknown, Record<string, unknown>, FromSchema<typeof idParams>>({
      method: 'delete', path: '/models/:name/evaluations/:id', tags: ['evaluation'], summary: 'Delete an evaluation (a running one is stopped)',
      params: idParams,
      responses: { 204: { description: 'Deleted' }, 404: { description: 'Unknown model or evaluation' } },
      handler: async ({ params, res }) => {
        await evaluations.delete(params.name, params.id);
        res.status(204).end();
      },
    }),
    route<FromSchema<typeof applySchema>, Record<string, unknown>, FromSchema<typeof idParams>>({
      method: 'post', path: '/models/:name/evaluations/:id/apply', auth: 'admin', tags: ['evaluation'],
      summary: 'Reconfigure the model with one evaluated policy',
      description: 'PUT /models/{name} with the policy\'s strategy and learner, keeping the model\'s actions and reward settings. '
        + 'A new strategy or learner starts from fresh learned state, as PUT does.',
      params: idParams,
      body: applySchema,
      responses: {
        200: { description: 'The reconfigured model, as GET /models/{name} returns it' },
        400: { description: 'Unknown policy, or one without a configuration (baseline)' },
        404: { description: 'Unknown model or evaluation' },
        409: { description: 'The evaluation has not completed' },
      },
      handler: async ({ params, body, res }) => {
        const config = evaluations.policyConfig(params.name, params.id, body.policy);
        const current = decisions.view(params.name).config;
        const view = await decisions.put(params.name, {
          ...(current.actions ? { actions: current.actions } : {}), reward: current.reward,
          ...(config.strategy ? { strategy: config.strategy as never } : {}), ...(config.learner ? { learner: config.learner as never } : {}),
        });
        sendJson(res, view);
      },
    }),
  ];
}
