/**
 * `GET /metrics/learning` (Personalizer's LearningMetrics_Get, the numbers behind its apprentice-mode report):
 * per time (or event-count) bucket, the events, their rewards, how many of them matched the baseline action, and
 * the rewards of those; one series per run of the same learning mode, with cumulative sums within the series.
 *
 * "Matched" is read from Focal's log: in apprentice and logging modes, the model's own draw was the baseline it
 * answered (`stats.apprentice.imitated`); online, the chosen action was the baseline (its `baseline`, else the
 * first action not excluded).
 */
import { decodeDecisionPayload, type DecisionPayload } from '../decisions/decision-store.js';
import type { StoredPayload } from '../store/payload-codec.js';
import type { Db } from '../store/database.js';

export interface Metric {
  learningMode: 'Online' | 'Apprentice' | 'LoggingOnly';
  startDate: string;
  endDate: string;
  numberOfEvents: number;
  sumOfRewards: number;
  numberOfMatchedEvents: number;
  sumOfImitatedRewards: number;
  cumulativeNumberOfEvents: number;
  cumulativeSumOfRewards: number;
  cumulativeNumberOfMatchedEvents: number;
  cumulativeSumOfImitatedRewards: number;
}

export interface MetricsQuery {
  from?: number;
  to?: number;
  /** Bucket length in ms (default one hour), unless `everyEvents` is given. */
  intervalMs?: number;
  everyEvents?: number;
  /** Only the most recent events (at most MAX_EVENTS). */
  recent?: number;
}

/** Most events read per request (the most recent in the range): the payloads are decoded on the event loop, in pages. */
export const MAX_EVENTS = 20_000;
const PAGE = 1000;

function modeOf(p: DecisionPayload): Metric['learningMode'] {
  return p.mode === 'apprentice' ? 'Apprentice' : p.mode === 'logging' ? 'LoggingOnly' : 'Online';
}

function matched(p: DecisionPayload): boolean {
  const excluded = new Set(p.excluded ?? []);
  const baseline = p.baseline !== undefined ? p.actions.findIndex((a) => a.id === p.baseline) : p.actions.findIndex((_, i) => !excluded.has(i));
  if (p.mode !== undefined) return p.modelChoice === baseline;
  return p.chosen === baseline;
}

export async function learningMetrics(db: Db, model: string, q: MetricsQuery): Promise<Metric[][]> {
  const limit = Math.min(q.recent ?? MAX_EVENTS, MAX_EVENTS);
  const rows = db.prepare(`SELECT seq FROM events WHERE model = ? AND kind = 'decision' AND created_at >= ? AND created_at < ? ORDER BY seq DESC LIMIT ?`)
    .all(model, q.from ?? 0, q.to ?? Number.MAX_SAFE_INTEGER, limit) as { seq: number }[];
  if (rows.length === 0) return [];
  const first = rows[rows.length - 1]!.seq;
  const last = rows[0]!.seq;
  const page = db.prepare(`SELECT seq, created_at, payload, reward FROM events WHERE model = ? AND kind = 'decision' AND seq >= ? AND seq <= ? AND created_at >= ? AND created_at < ? ORDER BY seq LIMIT ?`);
  const series: Metric[][] = [];
  let current: Metric | undefined;
  let bucketKey = -1;
  let inBucket = 0;
  let index = 0;
  const interval = q.intervalMs ?? 3_600_000;
  for (let from = first; from <= last;) {
    const batch = page.all(model, from, last, q.from ?? 0, q.to ?? Number.MAX_SAFE_INTEGER, PAGE) as { seq: number; created_at: number; payload: StoredPayload; reward: number | null }[];
    if (batch.length === 0) break;
    for (const row of batch) {
      const p = decodeDecisionPayload(row.payload);
      const mode = modeOf(p);
      const key = q.everyEvents ? Math.floor(index / q.everyEvents) : Math.floor(row.created_at / interval);
      index++;
      let list = series[series.length - 1];
      if (!list || list[0]!.learningMode !== mode) {
        list = [];
        series.push(list);
        current = undefined;
      }
      if (!current || key !== bucketKey || (q.everyEvents && inBucket >= q.everyEvents)) {
        const prev = list[list.length - 1];
        current = {
          learningMode: mode,
          startDate: new Date(q.everyEvents ? row.created_at : key * interval).toISOString(),
          endDate: new Date(q.everyEvents ? row.created_at : (key + 1) * interval).toISOString(),
          numberOfEvents: 0, sumOfRewards: 0, numberOfMatchedEvents: 0, sumOfImitatedRewards: 0,
          cumulativeNumberOfEvents: prev?.cumulativeNumberOfEvents ?? 0, cumulativeSumOfRewards: prev?.cumulativeSumOfRewards ?? 0,
          cumulativeNumberOfMatchedEvents: prev?.cumulativeNumberOfMatchedEvents ?? 0, cumulativeSumOfImitatedRewards: prev?.cumulativeSumOfImitatedRewards ?? 0,
        };
        list.push(current);
        bucketKey = key;
        inBucket = 0;
      }
      inBucket++;
      const reward = row.reward ?? 0;
      const hit = matched(p);
      current.numberOfEvents++;
      current.cumulativeNumberOfEvents++;
      current.sumOfRewards += reward;
      current.cumulativeSumOfRewards += reward;
      if (hit) {
        current.numberOfMatchedEvents++;
        current.cumulativeNumberOfMatchedEvents++;
        current.sumOfImitatedRewards += reward;
        current.cumulativeSumOfImitatedRewards += reward;
      }
      if (q.everyEvents) current.endDate = new Date(row.created_at).toISOString();
    }
    from = batch[batch.length - 1]!.seq + 1;
    // Let requests in between: the payloads are decoded here, on the event loop.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return series;
}
