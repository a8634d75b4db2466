/**
 * The thread an evaluation runs on: its own database connection, lowest CPU priority
 * (Linux nice values are per thread, so only this thread yields to /decide's), the
 * job's result written here so the event loop that answers decisions never serialises it.
 */
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { openConnection } from '../store/database.js';
import { runEvaluation, type EvaluationJob } from './evaluation-runner.js';

export type WorkerMessage =
  | { type: 'progress'; events: number; total: number }
  | { type: 'done'; events: number }
  | { type: 'failed'; error: string };

const { path, job, lag } = workerData as { path: string; job: EvaluationJob; lag?: Int32Array };
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

/** CPU seconds this thread has used (Linux: /proc/thread-self/stat, in clock ticks of 1/100 s); undefined elsewhere. */
function threadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

try {
  setPriority(19);
} catch {
  // Not permitted on this platform: the job still runs, at normal priority.
}

/**
 * Backs off while the main thread's event loop is late (its recent p99 delay, in ms, which the
 * service publishes in `lag`): the evaluation takes the CPU /decide does not need. Nice 19 alone
 * leaves V8's GC helper threads, SQLite reads and memory bandwidth at normal priority.
 */
const LATE_MS = 15;
/** At most this long per pause (every 32 events, ~6 ms of work): the job keeps at least about a quarter of its speed. */
const MAX_PAUSE_MS = 20;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const pace = lag
  ? () => {
    const late = Atomics.load(lag, 0);
    if (late > LATE_MS) Atomics.wait(sleeper, 0, 0, Math.min(late, MAX_PAUSE_MS));
  }
  : undefined;

const db = openConnection(path);
try {
  db.prepare(`UPDATE evaluations SET status = 'running', started_at = ? WHERE id = ?`).run(Date.now(), job.id);
  const cpuStart = threadCpuSeconds();
  const run = runEvaluation(db, job, pace);
  let lastPost = 0;
  for (;;) {
    const step = run.next();
    if (step.done) {
      const cpuEnd = threadCpuSeconds();
      // CPU time of this thread alone: how long the job takes on one core, whatever else the machine runs.
      const result = cpuStart !== undefined && cpuEnd !== undefined ? { ...step.value, cpuSeconds: cpuEnd - cpuStart } : step.value;
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
