/**
 * The thread an evaluation runs on: its own database connection, lowest CPU priority
 * (Linux nice values are per thread, so only this thread yields to /decide's), the
 * job's result written here so the event loop that answers decisions never serialises it.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { openConnection } from '../store/database.js';
import { runEvaluation, type EvaluationJob } from './evaluation-runner.js';

export type WorkerMessage =
  | { type: 'progress'; events: number; total: number }
  | { type: 'done'; events: number }
  | { type: 'failed'; error: string };

const { path, job } = workerData as { path: string; job: EvaluationJob };
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

try {
  setPriority(19);
} catch {
  // Not permitted on this platform: the job still runs, at normal priority.
}

const db = openConnection(path);
try {
  db.prepare(`UPDATE evaluations SET status = 'running', started_at = ? WHERE id = ?`).run(Date.now(), job.id);
  const run = runEvaluation(db, job);
  let lastPost = 0;
  for (;;) {
    const step = run.next();
    if (step.done) {
      const result = step.value;
      db.prepare(`UPDATE evaluations SET status = 'completed', result = ?, completed_at = ? WHERE id = ?`).run(JSON.stringify(result), Date.now(), job.id);
      post({ type: 'done', events: result.events });
      break;
    }
    const now = Date.now();
    if (now - lastPost >= 100 || step.value.events === step.value.total) {
      post({ type: 'progress', ...step.value });
      lastPost = now;
    }
  }
} catch (err) {
  const error = err instanceof Error ? err.message : String(err);
  try {
    db.prepare(`UPDATE evaluations SET status = 'failed', error = ?, completed_at = ? WHERE id = ?`).run(error, Date.now(), job.id);
  } finally {
    post({ type: 'failed', error });
  }
} finally {
  db.close();
}
