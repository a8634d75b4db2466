/**
 * Azure Personalizer's REST API (the `Personalizer` data-plane specs of Azure/azure-rest-api-specs) on Focal:
 * the same operations under `/personalizer/v1.0`, `/personalizer/v1.1-preview.3` and `/personalizer?api-version=
 * 2022-09-01-preview`. Keys come from `Ocp-Apim-Subscription-Key` (or Authorization: Bearer); errors take
 * Personalizer's `{ error: { code, message } }` shape. Left out of Focal's /openapi.json: Microsoft's specs are
 * these routes' contract, and Focal's typed client should not grow a second API.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import getRawBody from 'raw-body';
import type { JSONSchema } from 'json-schema-to-ts';
import { EVENT_ID_PATTERN } from '../decisions/decide.js';
import { sendJson } from '../http/respond.js';
import { route, type AnyRoute, type HandlerContext } from '../http/route.js';
import type { AuthLevel } from '../http/auth.js';
import type { JsonSchema } from '../http/validation.js';
import type { FromSchema } from '../schema-types.js';
import { PersonalizerError, personalizerErrors } from './errors.js';
import { learningMetrics } from './learning-metrics.js';
import { MAX_MODEL_FILE_BYTES } from './model-file.js';
import { parseTimeSpan } from './durations.js';
import type { PersonalizerEvaluations } from './evaluations.js';
import type { PersonalizerService } from './personalizer-service.js';
import {
  evaluationContractSchema, multiSlotRankSchema, multiSlotRewardSchema, policyReferenceSchema, policySchema, rankSchema, rewardSchema, serviceConfigurationSchema,
} from './schemas.js';

/** The API versions served under /personalizer/{version}. */
export const PATH_VERSIONS = ['v1.0', 'v1.1-preview.3'] as const;
/** The versions of the /personalizer?api-version=… form. */
export const QUERY_VERSIONS = ['2022-09-01-preview'] as const;

export const KEY_HEADER = 'Ocp-Apim-Subscription-Key';

const eventParams = {
  type: 'object', required: ['eventId'], additionalProperties: false,
  properties: { eventId: { type: 'string', minLength: 1, maxLength: 256, pattern: EVENT_ID_PATTERN } },
} as const;

const evaluationParams = {
  type: 'object', required: ['evaluationId'], additionalProperties: false,
  properties: { evaluationId: { type: 'string', minLength: 1, maxLength: 256 } },
} as const;

/** GET /model's query. */
const modelQuery = {
  type: 'object', properties: { signed: { type: 'string', enum: ['true', 'false'], description: 'Accepted; Focal\'s model files are not signed (their sha256 detects corruption, not tampering).' } },
} as const;

/** GET /metrics/learning's query. */
const learningMetricsQuery = {
  type: 'object',
  properties: {
    StartDate: { type: 'string', format: 'date-time' }, EndDate: { type: 'string', format: 'date-time' },
    AggregationInterval: { type: 'string', minLength: 1, maxLength: 64 },
    NumberOfRecentEvents: { type: 'string', pattern: '^[1-9][0-9]{0,9}$' }, AggregationEventCount: { type: 'string', pattern: '^[1-9][0-9]{0,9}$' },
  },
} as const;

/** What a handler sees of a request part: the type its schema derives, else `Absent` (no schema: nothing validated). */
type Typed<S, Absent> = S extends JSONSchema ? FromSchema<S> : Absent;

/** One Personalizer operation, mounted under every base path; its handler is typed from its schemas (see `op`). */
interface Operation<B, Q, P> {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  /** Only under these forms (default: all): v1 = /personalizer/v1.x, 2022 = ?api-version=2022-09-01-preview. */
  forms?: ('v1' | '2022')[];
  summary: string;
  /** The error code of its 400s. */
  code: string;
  auth?: AuthLevel;
  params?: P;
  query?: Q;
  body?: B;
  /** NoInfer: the schemas alone decide B, Q and P (inferring them back through FromSchema is TS2589, too deep). */
  handler: (ctx: NoInfer<HandlerContext<Typed<B, never>, Typed<Q, Record<string, unknown>>, Typed<P, Record<string, string>>>>) => unknown;
}

/** An operation as listed: its schemas untyped, its handler's types erased (as AnyRoute). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyOperation = Omit<Operation<JsonSchema, JsonSchema, JsonSchema>, 'handler'> & { handler: (ctx: HandlerContext<any, any, any>) => unknown };

/** Infers the operation's schema types from the schemas it is given, so its handler's types come from the schemas it validates with. */
function op<B extends JSONSchema | undefined = undefined, Q extends JSONSchema | undefined = undefined, P extends JSONSchema | undefined = undefined>(o: Operation<B, Q, P>): AnyOperation {
  return o as AnyOperation;
}

function noContent(res: ServerResponse, headers: Record<string, string> = {}): void {
  res.writeHead(204, headers);
  res.end();
}

const MODEL_FILE_TYPES = ['application/octet-stream', 'application/zip', 'application/x-zip-compressed'];

/** PUT /model's body: the file's bytes, as sent (application/octet-stream). */
async function readModelBody(req: IncomingMessage): Promise<Buffer> {
  const type = req.headers['content-type']?.split(';')[0]!.trim().toLowerCase();
  if (type !== undefined && !MODEL_FILE_TYPES.includes(type)) throw new PersonalizerError(415, 'BadRequest', `Send the model file as application/octet-stream, not ${type}`);
  try {
    return await getRawBody(req, { limit: MAX_MODEL_FILE_BYTES, length: req.headers['content-length'] ?? null });
  } catch (err) {
    if ((err as { type?: string }).type === 'entity.too.large') throw new PersonalizerError(413, 'PayloadSizeExceeded', `A model file is at most ${MAX_MODEL_FILE_BYTES} bytes`);
    throw err;
  }
}

function operations(p: PersonalizerService, e: PersonalizerEvaluations): AnyOperation[] {
  return [
    op({
      method: 'post', path: '/rank', summary: 'Rank: choose the action to show (rewardActionId)', code: 'InvalidRankRequest', body: rankSchema,
      handler: async ({ body, res }) => { sendJson(res, await p.rank(body), 201); },
    }),
    op({
      method: 'post', path: '/events/:eventId/reward', summary: 'Reward the event\'s rewardActionId', code: 'InvalidRewardRequest', params: eventParams, body: rewardSchema,
      handler: async ({ body, params, res }) => {
        const r = await p.reward(params.eventId, body.value);
        noContent(res, r.ignored ? { 'X-Focal-Reward': `ignored; ${r.ignored}` } : {});
      },
    }),
    op({
      method: 'post', path: '/events/:eventId/activate', summary: 'Activate a deferred event: its rewards are learned from now on', code: 'InvalidEventIdToActivate', params: eventParams,
      handler: async ({ params, res }) => {
        const r = await p.activate(params.eventId);
        noContent(res, r.ignored ? { 'X-Focal-Activate': `ignored; ${r.ignored}` } : {});
      },
    }),
    op({
      method: 'post', path: '/multislot/rank', summary: 'Multi-slot rank: one distinct action per slot', code: 'InvalidRankRequest', body: multiSlotRankSchema,
      handler: async ({ body, res }) => { sendJson(res, await p.multiSlotRank(body), 201); },
    }),
    op({
      method: 'post', path: '/multislot/events/:eventId/reward', summary: 'Reward the slots of a multi-slot event', code: 'InvalidRewardRequest', params: eventParams, body: multiSlotRewardSchema,
      handler: async ({ body, params, res }) => {
        const r = await p.multiSlotReward(params.eventId, body.reward);
        noContent(res, r.ignored.length ? { 'X-Focal-Reward': `ignored; ${r.ignored.join(', ')}` } : {});
      },
    }),
    op({
      method: 'post', path: '/multislot/events/:eventId/activate', summary: 'Activate every slot of a deferred multi-slot event', code: 'InvalidEventIdToActivate', params: eventParams,
      handler: async ({ params, res }) => {
        const r = await p.activate(params.eventId);
        noContent(res, r.ignored ? { 'X-Focal-Activate': `ignored; ${r.ignored}` } : {});
      },
    }),
    op({
      method: 'get', path: '/configurations/service', summary: 'Service configuration', code: 'BadRequest',
      handler: async ({ res }) => { sendJson(res, await p.serviceConfiguration()); },
    }),
    op({
      method: 'put', path: '/configurations/service', summary: 'Update the service configuration', code: 'InvalidServiceConfiguration', auth: 'admin', body: serviceConfigurationSchema,
      handler: async ({ body, res }) => { sendJson(res, await p.updateServiceConfiguration(body)); },
    }),
    op({
      method: 'get', path: '/configurations/policy', summary: 'Learning settings (a VW command line)', code: 'BadRequest',
      handler: async ({ res }) => { sendJson(res, await p.policy()); },
    }),
    op({
      method: 'put', path: '/configurations/policy', summary: 'Update the learning settings', code: 'InvalidPolicyContract', auth: 'admin', body: policySchema,
      handler: async ({ body, res }) => { sendJson(res, await p.updatePolicy(body)); },
    }),
    op({
      method: 'delete', path: '/configurations/policy', summary: 'Reset the learning settings to the default', code: 'BadRequest', auth: 'admin',
      handler: async ({ res }) => { sendJson(res, await p.resetPolicy()); },
    }),
    op({
      method: 'post', path: '/configurations/applyFromEvaluation', summary: 'Apply the learning settings of an evaluated policy', code: 'BadRequest', auth: 'admin', body: policyReferenceSchema,
      handler: async ({ body, res }) => {
        await e.apply(body.evaluationId, body.policyName);
        noContent(res);
      },
    }),
    op({
      method: 'post', path: '/evaluations', forms: ['v1'], summary: 'Start an offline evaluation', code: 'InvalidEvaluationContract', body: evaluationContractSchema,
      handler: async ({ body, req, res }) => {
        const view = await e.create(body);
        const path = (req.originalUrl ?? req.url).split('?')[0]!.replace(/\/+$/, '');
        sendJson(res, view, 201, undefined, { Location: `${path}/${encodeURIComponent(String(view.id))}` });
      },
    }),
    op({
      method: 'put', path: '/evaluations/:evaluationId', forms: ['2022'], summary: 'Start an offline evaluation under a chosen id', code: 'InvalidEvaluationContract', params: evaluationParams, body: evaluationContractSchema,
      handler: async ({ body, params, res }) => {
        await e.create(body, params.evaluationId);
        res.writeHead(200, { 'Content-Length': '0' });
        res.end();
      },
    }),
    op({
      method: 'get', path: '/evaluations', forms: ['v1'], summary: 'The evaluations, newest first', code: 'BadRequest',
      handler: ({ res }) => { sendJson(res, e.list()); },
    }),
    op({
      method: 'get', path: '/evaluations', forms: ['2022'], summary: 'The evaluations, newest first', code: 'BadRequest',
      handler: ({ res }) => { sendJson(res, { value: e.list('2022') }); },
    }),
    op({
      method: 'get', path: '/evaluations/:evaluationId', forms: ['v1'], summary: 'One evaluation with its policy results', code: 'BadRequest', params: evaluationParams,
      handler: ({ params, res }) => { sendJson(res, e.get(params.evaluationId)); },
    }),
    op({
      method: 'get', path: '/evaluations/:evaluationId', forms: ['2022'], summary: 'One evaluation with its policy results', code: 'BadRequest', params: evaluationParams,
      handler: ({ params, res }) => { sendJson(res, e.get(params.evaluationId, '2022')); },
    }),
    op({
      method: 'delete', path: '/evaluations/:evaluationId', summary: 'Delete an evaluation (a running one is stopped)', code: 'BadRequest', params: evaluationParams,
      handler: async ({ params, res }) => {
        await e.delete(params.evaluationId);
        noContent(res);
      },
    }),
    op({
      method: 'get', path: '/model', summary: 'Export the learned model (Focal\'s model file)', code: 'BadRequest', auth: 'admin',
      query: modelQuery,
      handler: async ({ res }) => {
        const file = await p.exportModel();
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(file.length), 'Content-Disposition': `attachment; filename="${p.model}.focalmodel"` });
        res.end(file);
      },
    }),
    op({
      method: 'put', path: '/model', summary: 'Import a model file (replaces the learned model)', code: 'InvalidModelImportFormat', auth: 'admin',
      handler: async ({ req, res }) => {
        await p.importModel(await readModelBody(req));
        noContent(res);
      },
    }),
    op({
      method: 'delete', path: '/model', summary: 'Reset the learned model', code: 'BadRequest', auth: 'admin',
      handler: async ({ res }) => {
        await p.resetModel();
        noContent(res);
      },
    }),
    op({
      method: 'get', path: '/model/properties', summary: 'When the model was created and last changed', code: 'BadRequest',
      handler: async ({ res }) => { sendJson(res, await p.modelProperties()); },
    }),
    op({
      method: 'delete', path: '/logs', summary: 'Delete the logged events (except open reward windows)', code: 'BadRequest', auth: 'admin',
      handler: async ({ res }) => {
        const deleted = await p.deleteLogs();
        noContent(res, { 'X-Focal-Deleted-Events': String(deleted) });
      },
    }),
    op({
      method: 'get', path: '/metrics/learning', summary: 'Learning metrics: events, rewards and baseline matches per bucket, by learning mode', code: 'BadRequest',
      query: learningMetricsQuery,
      handler: async ({ query: q, res }) => {
        const seconds = q.AggregationInterval !== undefined ? parseTimeSpan(q.AggregationInterval) : undefined;
        if (q.AggregationInterval !== undefined && !(seconds !== undefined && seconds >= 1)) {
          throw new PersonalizerError(400, 'BadRequest', `AggregationInterval "${q.AggregationInterval}" is not a duration of at least a second (PT1H, 01:00:00)`, 'AggregationInterval');
        }
        await p.ensure();
        sendJson(res, await learningMetrics(p.db, p.model, {
          ...(q.StartDate ? { from: Date.parse(q.StartDate) } : {}), ...(q.EndDate ? { to: Date.parse(q.EndDate) } : {}),
          ...(seconds !== undefined ? { intervalMs: seconds * 1000 } : {}),
          ...(q.NumberOfRecentEvents ? { recent: Number(q.NumberOfRecentEvents) } : {}),
          ...(q.AggregationEventCount ? { everyEvents: Number(q.AggregationEventCount) } : {}),
        }));
      },
    }),
    op({
      method: 'get', path: '/logs/properties', summary: 'The time range of the logged events', code: 'BadRequest',
      handler: async ({ res }) => { sendJson(res, await p.logProperties()); },
    }),
  ];
}

/** The base path's query (api-version) and the operation's own, as one schema. */
function mergeQuery(a: JsonSchema | undefined, b: JsonSchema | undefined): JsonSchema {
  if (!a || !b) return (a ?? b)!;
  return {
    type: 'object',
    required: [...new Set([...((a.required ?? []) as string[]), ...((b.required ?? []) as string[])])],
    properties: { ...(a.properties as object), ...(b.properties as object) },
  };
}

/** Every operation under every base path: /personalizer/v1.0/…, /personalizer/v1.1-preview.3/…, /personalizer/…?api-version=. */
export function personalizerRoutes(p: PersonalizerService, e: PersonalizerEvaluations): AnyRoute[] {
  const routes: AnyRoute[] = [];
  const apiVersion = {
    type: 'object', required: ['api-version'],
    properties: { 'api-version': { type: 'string', enum: [...QUERY_VERSIONS], description: 'Personalizer API version.' } },
  } as const;
  const bases: { base: string; form: 'v1' | '2022'; query?: JsonSchema }[] = [
    ...PATH_VERSIONS.map((v) => ({ base: `/personalizer/${v}`, form: 'v1' as const })),
    ...QUERY_VERSIONS.map(() => ({ base: '/personalizer', form: '2022' as const, query: apiVersion })),
  ];
  const seen = new Set<string>();
  for (const { base, form, query } of bases) {
    for (const op of operations(p, e)) {
      if (op.forms && !op.forms.includes(form)) continue;
      const key = `${op.method} ${base}${op.path}`;
      if (seen.has(key)) continue;
      seen.add(key);
      routes.push(route({
        method: op.method, path: `${base}${op.path}`, summary: op.summary, tags: ['personalizer'], openapi: false,
        auth: op.auth ?? 'user', keyHeader: KEY_HEADER, renderError: personalizerErrors(op.code),
        ...(op.params ? { params: op.params } : {}),
        ...(op.query || query ? { query: mergeQuery(query, op.query) } : {}),
        ...(op.body ? { body: op.body } : {}),
        responses: { default: { description: 'See Azure Personalizer\'s REST specification' } },
        handler: op.handler,
      }));
    }
  }
  return routes;
}
