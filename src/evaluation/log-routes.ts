/**
 * A model's log out and in: GET /models/{name}/log streams its decisions as DSJSON
 * (or Focal's own JSON lines), POST /models/{name}/log imports DSJSON lines from
 * another system as this model's decisions — learned from and evaluable as if
 * decided here; a batch with any bad line is refused whole, its lines named.
 */
import type { ServerResponse } from 'node:http';
import getRawBody from 'raw-body';
import type { DecisionService } from '../decisions/decision-service.js';
import { decodeDecisionPayload, HOLD_DEFERRED, HOLD_NONE, type DecisionPayload, type ExportRow } from '../decisions/decision-store.js';
import { MODEL_NAME_PATTERN } from '../decisions/model-registry.js';
import { checkActions, FeatureBudget } from '../decisions/request-limits.js';
import { HttpError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../http/errors.js';
import { sendJson } from '../http/respond.js';
import type { FromSchema } from '../schema-types.js';
import { route, type AnyRoute } from '../http/route.js';
import type { Config } from '../platform/config.js';
import { DsjsonLineError, fromDsjson, toDsjson } from './dsjson.js';

/** Rows read per page of an export: each page is one short read, then the event loop gets a turn. */
const PAGE = 500;
/** An import holds at most this many FOCAL_MAX_BODY worth of lines. */
const IMPORT_BODY_FACTOR = 64;
/** Most lines in one import (more: send several batches). */
export const MAX_IMPORT_LINES = 100_000;
/** Most bad lines listed in a refusal. */
const MAX_REPORTED = 100;
const NDJSON_TYPES = ['application/x-ndjson', 'application/jsonl', 'application/json-lines', 'application/ndjson'];

const nameParams = {
  type: 'object', required: ['name'], additionalProperties: false,
  properties: { name: { type: 'string', pattern: MODEL_NAME_PATTERN, description: 'Model name.' } },
} as const;

const logQuery = {
  type: 'object', additionalProperties: false,
  properties: {
    format: { type: 'string', enum: ['dsjson', 'jsonl'], default: 'dsjson', description: 'dsjson: Vowpal Wabbit DSJSON; jsonl: Focal\'s own event records.' },
    from: { type: 'string', format: 'date-time', description: 'Only decisions made at or after this time.' },
    to: { type: 'string', format: 'date-time', description: 'Only decisions made before this time.' },
  },
} as const;

function jsonlRecord(row: ExportRow, p: DecisionPayload, reward: number | null): string {
  return JSON.stringify({
    eventId: row.event_id, createdAt: new Date(row.created_at).toISOString(),
    context: p.context, actions: p.actions, pmf: p.pmf, scores: p.scores, chosen: p.chosen, action: p.actions[p.chosen]?.id,
    probability: p.probability, modelVersion: p.modelVersion, strategy: p.strategy,
    reward, closed: row.closed === 1, closedReason: row.closed_reason,
    ...(p.baseline !== undefined ? { baseline: p.baseline } : {}),
    ...(p.excluded !== undefined ? { excludedActions: p.excluded.map((i) => p.actions[i]?.id) } : {}),
    ...(p.mode !== undefined ? { mode: p.mode, modelChoice: p.actions[p.modelChoice ?? -1]?.id } : {}),
    ...(p.slot !== undefined ? { slot: p.slot, parent: p.parent } : {}),
    ...(row.hold === HOLD_DEFERRED ? { deferred: true } : {}), ...(row.hold !== HOLD_NONE ? { skipLearn: true } : {}),
  });
}

function waitDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function streamLog(decisions: DecisionService, res: ServerResponse, model: string, format: 'dsjson' | 'jsonl', from: number, to: number): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson; charset=utf-8', 'Cache-Control': 'no-store' });
  let after = 0;
  for (;;) {
    if (res.destroyed) return;
    const rows = await decisions.exportPage(model, from, to, after, PAGE);
    if (rows.length === 0) break;
    let chunk = '';
    for (const row of rows) {
      const p = decodeDecisionPayload(row.payload);
      // Only a closed event's reward is final (an open 'sum' window is still adding up).
      const reward = row.closed === 1 && row.reward !== null ? row.reward : null;
      chunk += (format === 'dsjson'
        ? toDsjson({
          eventId: row.event_id, createdAt: row.created_at, context: p.context, actions: p.actions,
          // Apprentice and logging modes served the baseline with probability 1: that is the logging policy's PMF.
          pmf: p.mode !== undefined ? p.actions.map((_, i) => (i === p.chosen ? 1 : 0)) : p.pmf,
          chosen: p.chosen, probability: p.probability, reward, ...(row.hold !== HOLD_NONE ? { skipLearn: true } : {}),
        })
        : jsonlRecord(row, p, reward)) + '\n';
    }
    after = rows[rows.length - 1]!.seq;
    if (!res.write(chunk)) await waitDrain(res);
    else await new Promise((r) => setImmediate(r));
  }
  res.end();
}

function isNdjson(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return NDJSON_TYPES.includes(type);
}

export function logRoutes(decisions: DecisionService, config: Config): AnyRoute[] {
  const importLimit = IMPORT_BODY_FACTOR * config.limits.bodyBytes;
  return [
    route<unknown, FromSchema<typeof logQuery>, FromSchema<typeof nameParams>>({
      method: 'get', path: '/models/:name/log', tags: ['evaluation'],
      summary: 'Stream the model\'s logged decisions (Vowpal Wabbit DSJSON, or Focal\'s JSON lines)',
      description: 'One line per decision, oldest first. DSJSON: EventId, Timestamp, a (1-based, the chosen action first), p, '
        + 'c (the context, with the actions under _multi: `_tag` and `action.id` carry each action\'s id) and, for rewarded events, '
        + '_label_cost (= −reward), _label_probability, _label_Action (1-based) and _labelIndex (0-based) before c, as '
        + '`vw --cb_explore_adf --dsjson` reads it.',
      params: nameParams, query: logQuery,
      responses: {
        200: { description: 'Newline-delimited JSON', contentType: 'application/x-ndjson' },
        400: { description: 'Invalid query' },
        404: { description: 'Unknown model' },
      },
      handler: async ({ params, query, res }) => {
        decisions.view(params.name); // 404 for an unknown model
        const from = query.from !== undefined ? Date.parse(query.from) : 0;
        const to = query.to !== undefined ? Date.parse(query.to) : Number.MAX_SAFE_INTEGER;
        await streamLog(decisions, res, params.name, query.format ?? 'dsjson', from, to);
      },
    }),
    route<unknown, Record<string, unknown>, FromSchema<typeof nameParams>>({
      method: 'post', path: '/models/:name/log', tags: ['evaluation'], auth: 'admin',
      summary: 'Import logged decisions (DSJSON lines) from another system',
      description: 'Each line is one DSJSON event (a Personalizer or Decision Service export, or GET …/log?format=dsjson of another '
        + 'Focal). The events are logged as this model\'s decisions in line order; those with a label are learned from, in line '
        + 'order, and are evaluable, as if decided here; those without are kept but neither learned nor evaluated. A batch with '
        + `any bad line is refused whole (400 naming every bad line, up to ${MAX_REPORTED}); an EventId already logged is a 409. `
        + `At most ${MAX_IMPORT_LINES} lines and ${IMPORT_BODY_FACTOR} × FOCAL_MAX_BODY bytes per request.`,
      params: nameParams,
      rawRequestBody: { required: true, content: { 'application/x-ndjson': { schema: { type: 'string', description: 'DSJSON, one event per line.' } } } },
      responses: {
        200: { description: 'Imported', schema: { type: 'object', properties: { imported: { type: 'integer' }, learned: { type: 'integer' } } } },
        400: { description: 'Bad lines (each named by its 1-based line number in `lines`); nothing was imported' },
        404: { description: 'Unknown model' },
        409: { description: 'An EventId is already logged; nothing was imported' },
        413: { description: `Over ${IMPORT_BODY_FACTOR} × FOCAL_MAX_BODY bytes or ${MAX_IMPORT_LINES} lines` },
        415: { description: 'Not application/x-ndjson' },
      },
      handler: async ({ params, req, res }) => {
        decisions.view(params.name);
        if (!isNdjson(req.headers['content-type'])) {
          throw new UnsupportedMediaTypeError(`Expected Content-Type: application/x-ndjson (DSJSON lines), got ${req.headers['content-type'] ?? 'none'}`);
        }
        let text: string;
        try {
          text = await getRawBody(req, { length: req.headers['content-length'] ?? null, limit: importLimit, encoding: 'utf8' });
        } catch (err) {
          const e = err as { type?: string; message?: string };
          if (e.type === 'entity.too.large') {
            throw new PayloadTooLargeError(`An import may hold ${importLimit} bytes (${IMPORT_BODY_FACTOR} × FOCAL_MAX_BODY); send several batches`, 'FOCAL_MAX_BODY', importLimit);
          }
          throw new HttpError(400, '/problems/malformed-body', 'Malformed body', `The body could not be read: ${e.message ?? String(err)}`);
        }
        const lines = text.split('\n');
        const bad: { line: number; message: string }[] = [];
        const events: { eventId: string; createdAt: number; payload: DecisionPayload; reward: number | null; skipLearn?: boolean }[] = [];
        const ids = new Map<string, number>();
        const now = Date.now();
        let count = 0;
        for (let i = 0; i < lines.length; i++) {
          const raw = lines[i]!.replace(/\r$/, '');
          if (raw.trim().length === 0) continue;
          if (++count > MAX_IMPORT_LINES) {
            throw new PayloadTooLargeError(`An import may hold ${MAX_IMPORT_LINES} lines; send several batches`, 'lines', MAX_IMPORT_LINES);
          }
          try {
            const e = fromDsjson(raw);
            // The same limits as POST /decide.
            const budget: FeatureBudget = new FeatureBudget(config.limits);
            budget.string('/EventId', e.eventId, 'eventId');
            budget.features('/c', e.context);
            const actions = checkActions(e.actions, budget, config.limits, '/c/_multi');
            const first = ids.get(e.eventId);
            if (first !== undefined) throw new DsjsonLineError(`EventId "${e.eventId}" repeats line ${first}`);
            ids.set(e.eventId, i + 1);
            events.push({
              eventId: e.eventId, createdAt: e.createdAt ?? now, reward: e.reward, ...(e.skipLearn ? { skipLearn: true } : {}),
              payload: { context: e.context, actions, pmf: e.pmf, scores: e.pmf.map(() => 0), chosen: e.chosen, probability: e.probability, modelVersion: 0, strategy: 'imported' },
            });
          } catch (err) {
            if (!(err instanceof DsjsonLineError || err instanceof HttpError)) throw err;
            bad.push({ line: i + 1, message: err.message });
          }
        }
        if (bad.length > 0) {
          const shown = bad.slice(0, MAX_REPORTED);
          throw new HttpError(400, '/problems/validation', 'Invalid request',
            `${bad.length} line(s) are not valid DSJSON events, first line ${bad[0]!.line}: ${bad[0]!.message}; nothing was imported`,
            { lines: shown, errors: shown.map((b) => ({ path: `/${b.line - 1}`, message: `line ${b.line}: ${b.message}` })) });
        }
        if (events.length === 0) throw new HttpError(400, '/problems/validation', 'Invalid request', 'The body holds no DSJSON lines', { lines: [] });
        sendJson(res, await decisions.importEvents(params.name, events));
      },
    }),
  ];
}
