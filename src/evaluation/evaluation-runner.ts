/**
 * The body of an evaluation job: streams a model's rewarded decisions from SQLite
 * in pages (keyset on events.seq, one short read per page, so memory does not grow
 * with the log and no read transaction pins the WAL for the whole run), feeds them
 * to a Replay and yields progress after each page. The worker thread
 * (evaluation-worker.ts) drives it; an in-memory database (tests) is driven inline.
 */
import type { Statement } from 'better-sqlite3';
import type { BanditConfig, Features } from '../bandit/index.js';
import { decodeDecisionPayload } from '../decisions/decision-store.js';
import type { Db } from '../store/database.js';
import { contextNamespaces, Replay, type CandidatePolicy, type ReplayResult } from './replay.js';

/** Everything a job needs, fixed when it is created, so a re-run (after a restart) weighs the same events the same way. */
export interface EvaluationJob {
  id: string;
  model: string;
  /** Decision times, ms since epoch: from inclusive, to exclusive. */
  from: number;
  to: number;
  /** Last events.seq that existed when the job was created. */
  maxSeq: number;
  online: BanditConfig;
  candidates: CandidatePolicy[];
  featureImportance: boolean;
  replicates: number;
  seed: number;
}

export interface EvaluationProgress {
  events: number;
  total: number;
}

const PAGE = 1000;
/** Events whose contexts name the namespaces measured by feature importance. */
const NAMESPACE_SAMPLE = 1000;
/** Most namespaces measured (each costs one more replay of the online configuration). */
export const MAX_NAMESPACES = 16;

type Payload = Parameters<typeof decodeDecisionPayload>[0];

interface Row {
  seq: number;
  event_id: string;
  payload: Payload;
  reward: number;
}

const WHERE = `model = ? AND kind = 'decision' AND closed = 1 AND reward IS NOT NULL AND created_at >= ? AND created_at < ? AND seq <= ?`;

/** How often (in events) `pace` is called. */
export const PACE_EVERY = 32;

/** `pace` is called every PACE_EVERY events: the worker sleeps there while /decide's event loop is late. */
export function* runEvaluation(db: Db, job: EvaluationJob, pace?: () => void): Generator<EvaluationProgress, ReplayResult> {
  const count = db.prepare(`SELECT COUNT(*) AS n FROM events WHERE ${WHERE}`);
  const page: Statement = db.prepare(`SELECT seq, event_id, payload, reward FROM events WHERE ${WHERE} AND seq > ? ORDER BY seq LIMIT ?`);
  const bind = [job.model, job.from, job.to, job.maxSeq] as const;
  const total = (count.get(...bind) as { n: number }).n;
  let namespaces: string[] | undefined;
  if (job.featureImportance) {
    const seen = new Set<string>();
    for (const row of page.all(...bind, 0, NAMESPACE_SAMPLE) as Row[]) {
      for (const ns of contextNamespaces(decodeDecisionPayload(row.payload).context)) seen.add(ns);
    }
    namespaces = [...seen].sort().slice(0, MAX_NAMESPACES);
  }
  const replay = new Replay({ online: job.online, candidates: job.candidates, namespaces, replicates: job.replicates, seed: job.seed });
  let after = 0;
  let done = 0;
  yield { events: 0, total };
  for (;;) {
    const rows = page.all(...bind, after, PAGE) as Row[];
    if (rows.length === 0) break;
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r]!;
      if (pace && r % PACE_EVERY === 0) pace();
      const p = decodeDecisionPayload(row.payload);
      const baselineId = (p as { baseline?: unknown }).baseline;
      const baseline = typeof baselineId === 'string' ? p.actions.findIndex((a) => a.id === baselineId) : -1;
      replay.add({
        eventId: row.event_id, context: p.context as Features, actions: p.actions, chosen: p.chosen, probability: p.probability,
        pmf: p.pmf, reward: row.reward, ...(baseline >= 0 ? { baseline } : {}), ...(p.excluded ? { excluded: p.excluded } : {}),
      });
    }
    after = rows[rows.length - 1]!.seq;
    done += rows.length;
    yield { events: done, total };
  }
  return replay.result();
}
