import type { Statement } from 'better-sqlite3';
import { ValidationError } from '../http/errors.js';
import { sendJson } from '../http/respond.js';
import { route, type AnyRoute } from '../http/route.js';
import { parseDuration } from '../platform/duration.js';
import type { FromSchema } from '../schema-types.js';
import type { Db } from '../store/database.js';
import type { PgPool } from '../store/postgres.js';
import type { DecisionService } from './decision-service.js';
import { MODEL_NAME_PATTERN } from './model-registry.js';

/**
 * GET /models/{name}/timeseries: the per-minute aggregates of the `timeseries` table (migration 130, kept by
 * triggers in the transaction of each decision and learned reward) summed into buckets of `step`.
 */

export const MINUTE_MS = 60_000;
/** Most buckets one request may ask for: a day at one-minute steps. */
export const MAX_POINTS = 1440;
const DEFAULT_RANGE_MS = 60 * MINUTE_MS;

export interface TimeseriesPoint {
  /** Start of the bucket (ISO 8601, UTC). */
  time: string;
  decisions: number;
  rewards: number;
  rewardSum: number;
  meanReward: number | null;
  clientRewards: number;
  defaultRewards: number;
}

export interface Timeseries {
  model: string;
  from: string;
  to: string;
  /** Seconds per bucket. */
  step: number;
  points: TimeseriesPoint[];
}

const pointSchema = {
  type: 'object', additionalProperties: false,
  required: ['time', 'decisions', 'rewards', 'rewardSum', 'meanReward', 'clientRewards', 'defaultRewards'],
  properties: {
    time: { type: 'string', format: 'date-time', description: 'Start of the bucket; it covers [time, time + step).' },
    decisions: { type: 'integer', description: 'Decisions logged in the bucket (by decision time).' },
    rewards: { type: 'integer', description: 'Rewards learned in the bucket (a client\'s, a window\'s default, a `sum` window\'s total).' },
    rewardSum: { type: 'number', description: 'Sum of those rewards.' },
    meanReward: { type: ['number', 'null'], description: 'rewardSum / rewards; null without rewards.' },
    clientRewards: { type: 'integer', description: 'Rewards sent by clients (or imported).' },
    defaultRewards: { type: 'integer', description: 'Default rewards of windows that closed empty.' },
  },
} as const;

export const timeseriesSchema = {
  type: 'object', additionalProperties: false, required: ['model', 'from', 'to', 'step', 'points'],
  properties: {
    model: { type: 'string' },
    from: { type: 'string', format: 'date-time', description: 'Start of the first bucket (`from` rounded down to the minute).' },
    to: { type: 'string', format: 'date-time', description: 'End of the last bucket.' },
    step: { type: 'integer', description: 'Seconds per bucket.' },
    points: { type: 'array', items: pointSchema, description: 'One per bucket, oldest first, empty buckets included (zeros).' },
  },
} as const;

const nameParams = {
  type: 'object', required: ['name'], additionalProperties: false,
  properties: { name: { type: 'string', pattern: MODEL_NAME_PATTERN, description: 'Model name.' } },
} as const;

const querySchema = {
  type: 'object', additionalProperties: false,
  properties: {
    from: { type: 'string', format: 'date-time', description: 'Start (default: an hour before `to`); rounded down to the minute.' },
    to: { type: 'string', format: 'date-time', description: 'End, exclusive (default: now).' },
    step: {
      type: 'string', default: '60s', pattern: '^[1-9][0-9]{0,7}(s|m|h|d)?$',
      description: `Bucket size: a duration (\`60s\`, \`5m\`, \`1h\`, \`1d\`) or seconds (\`300\`), a whole number of minutes; at most ${MAX_POINTS} buckets.`,
    },
  },
} as const;

type Query = FromSchema<typeof querySchema>;

/** Checks the query: from < to, step a multiple of a minute, at most MAX_POINTS buckets. Throws a 400 naming the field. */
export function resolveRange(q: Query, now: number): { from: number; to: number; stepMs: number } {
  const to = q.to !== undefined ? Date.parse(q.to) : now;
  const from = Math.floor((q.from !== undefined ? Date.parse(q.from) : to - DEFAULT_RANGE_MS) / MINUTE_MS) * MINUTE_MS;
  const stepMs = /^[0-9]+$/.test(q.step) ? Number(q.step) * 1000 : parseDuration(q.step)!;
  if (stepMs % MINUTE_MS !== 0) {
    throw new ValidationError(`step must be a whole number of minutes (60s, 5m, 1h, 300); got ${q.step}`, [{ path: '/query/step', message: 'must be a multiple of 60 seconds' }]);
  }
  if (!(from < to)) {
    throw new ValidationError(`from must be before to (from ${new Date(from).toISOString()}, rounded down to the minute; to ${new Date(to).toISOString()})`,
      [{ path: '/query/from', message: 'must be before to' }]);
  }
  const points = Math.ceil((to - from) / stepMs);
  if (points > MAX_POINTS) {
    throw new ValidationError(`from..to at step ${q.step} is ${points} points; at most ${MAX_POINTS}: use a larger step or a shorter range`,
      [{ path: '/query/step', message: `gives more than ${MAX_POINTS} points` }]);
  }
  return { from, to, stepMs };
}

const statements = new WeakMap<Db, Statement>();

/** The buckets of [from, to) at `stepMs`: one range read of the (model, minute) primary key. */
export function readTimeseries(db: Db, model: string, from: number, to: number, stepMs: number): Timeseries {
  let s = statements.get(db);
  if (!s) {
    // Integer division: better-sqlite3 binds a JS number as a REAL.
    s = db.prepare(`SELECT (minute - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS bucket, SUM(decisions) AS decisions, SUM(rewards) AS rewards, SUM(reward_sum) AS rewardSum,
      SUM(client_rewards) AS clientRewards, SUM(default_rewards) AS defaultRewards
      FROM timeseries WHERE model = ? AND minute >= ? AND minute < ? GROUP BY bucket`);
    statements.set(db, s);
  }
  return bucketed(model, from, to, stepMs, s.all(from, stepMs, model, from, to) as BucketRow[]);
}

/** The same buckets from PostgreSQL's delta rows (its migration 103: several rows per model and minute, summed alike). */
export async function readTimeseriesPg(pool: PgPool, model: string, from: number, to: number, stepMs: number): Promise<Timeseries> {
  const rows = (await pool.query<BucketRow>(`SELECT (minute - $1::bigint) / $2::bigint AS bucket, SUM(decisions)::bigint AS decisions,
    SUM(rewards)::bigint AS rewards, SUM(reward_sum)::float8 AS "rewardSum", SUM(client_rewards)::bigint AS "clientRewards",
    SUM(default_rewards)::bigint AS "defaultRewards" FROM timeseries WHERE model = $3 AND minute >= $1 AND minute < $4 GROUP BY bucket`,
  [from, stepMs, model, to])).rows;
  return bucketed(model, from, to, stepMs, rows);
}

type BucketRow = { bucket: number; decisions: number; rewards: number; rewardSum: number; clientRewards: number; defaultRewards: number };

function bucketed(model: string, from: number, to: number, stepMs: number, rows: readonly BucketRow[]): Timeseries {
  const n = Math.ceil((to - from) / stepMs);
  const points: TimeseriesPoint[] = Array.from({ length: n }, (_, i) => ({
    time: new Date(from + i * stepMs).toISOString(), decisions: 0, rewards: 0, rewardSum: 0, meanReward: null, clientRewards: 0, defaultRewards: 0,
  }));
  for (const r of rows) {
    const p = points[r.bucket];
    if (!p) continue;
    p.decisions = r.decisions;
    p.rewards = r.rewards;
    p.rewardSum = r.rewardSum;
    p.clientRewards = r.clientRewards;
    p.defaultRewards = r.defaultRewards;
    p.meanReward = r.rewards > 0 ? r.rewardSum / r.rewards : null;
  }
  return { model, from: new Date(from).toISOString(), to: new Date(from + n * stepMs).toISOString(), step: stepMs / 1000, points };
}

export function timeseriesRoutes(db: Db, service: DecisionService): AnyRoute[] {
  return [
    route<unknown, Query, FromSchema<typeof nameParams>>({
      method: 'get', path: '/models/:name/timeseries', tags: ['bandit'],
      summary: 'Decisions and rewards over time, per bucket of `step`',
      description: 'Sums of per-minute aggregates kept in the database as decisions and rewards are logged (in the same transaction), '
        + 'so reading them scans no events. Kept as long as the model\'s log retention. Decisions count at their decision time, '
        + `rewards when they were learned. At most ${MAX_POINTS} buckets.`,
      params: nameParams,
      query: querySchema,
      responses: {
        200: { description: 'The buckets', schema: timeseriesSchema },
        400: { description: 'A bad time, from not before to, a step that is not a whole number of minutes, or too many buckets' },
        404: { description: 'Unknown model' },
      },
      handler: async ({ params, query, res }) => {
        service.view(params.name); // 404 for an unknown model
        const { from, to, stepMs } = resolveRange(query, Date.now());
        const pool = service.sharedPool;
        sendJson(res, pool ? await readTimeseriesPg(pool, params.name, from, to, stepMs) : readTimeseries(db, params.name, from, to, stepMs));
      },
    }),
  ];
}
