/**
 * Offline evaluations as jobs: created by POST (202), run one at a time on a worker
 * thread at the lowest CPU priority, observable while running (`progress`), deletable
 * at any moment (the worker is terminated), and persisted in the `evaluations` table so
 * results survive restarts; a job a restart interrupted runs again from its stored
 * request (which fixes its events and seed, so it gives the same numbers).
 */
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { siblingWorker } from '../platform/worker-thread.js';
import { BanditConfigError, normalizeBanditConfig, type BanditConfig, type BanditConfigInput } from '../bandit/index.js';
import { DEFAULT_REPLICATES } from '../bandit/evaluation/estimators.js';
import type { DecisionService } from '../decisions/decision-service.js';
import { canonical } from '../decisions/model-config.js';
import { ConflictError, HttpError, NotFoundError, ValidationError } from '../http/errors.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { Db } from '../store/database.js';
import { runEvaluation, type EvaluationJob } from './evaluation-runner.js';
import type { WorkerMessage } from './evaluation-worker.js';
import { requestSeed, type ReplayResult } from './replay.js';

export type EvaluationStatus = 'pending' | 'running' | 'completed' | 'failed';

export const RESERVED_POLICY_NAMES = ['online', 'baseline', 'uniform'];

export interface EvaluationRequest {
  from?: string;
  to?: string;
  policies?: { name: string; config: BanditConfigInput }[];
  featureImportance?: boolean;
  replicates?: number;
}

export interface EvaluationView {
  id: string;
  model: string;
  status: EvaluationStatus;
  progress: number;
  events: number;
  createdAt: string;
  startedAt?: string;
  completedAt?: string;
  request: { from: string | null; to: string | null; policies: { name: string; config: BanditConfig }[]; featureImportance: boolean; replicates: number };
  error?: string;
  policies?: ReplayResult['policies'];
  best?: string | null;
  skipped?: number;
  featureImportance?: ReplayResult['featureImportance'];
  cpuSeconds?: number;
}

interface Row {
  id: string;
  model: string;
  status: EvaluationStatus;
  request: string;
  result: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
}

interface Running {
  id: string;
  events: number;
  total: number;
  stop(): Promise<void>;
}

function iso(ms: number | null | undefined): string | undefined {
  return ms === null || ms === undefined ? undefined : new Date(ms).toISOString();
}

export class EvaluationService {
  private readonly queue: string[] = [];
  private running: Running | undefined;
  private closed = false;
  private readonly metrics;

  constructor(
    private readonly db: Db,
    private readonly decisions: DecisionService,
    private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.metrics = {
      finished: metrics.counter('focal_evaluations_total', 'Offline evaluations finished, by status (completed, failed).', ['status']),
      events: metrics.counter('focal_evaluation_events_total', 'Logged events replayed by offline evaluations.'),
      running: metrics.gauge('focal_evaluations_running', 'Offline evaluations running now (0 or 1: they run one at a time).'),
    };
  }

  /** Queues every job a restart interrupted (they run again from their stored request). */
  start(): void {
    const rows = this.db.prepare(`SELECT id FROM evaluations WHERE status IN ('pending', 'running') ORDER BY created_at`).all() as { id: string }[];
    for (const { id } of rows) this.queue.push(id);
    if (rows.length > 0) this.logger.info({ evaluations: rows.length }, 'evaluations interrupted by a restart are queued again');
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running?.stop();
    this.running = undefined;
  }

  create(model: string, body: EvaluationRequest): EvaluationView {
    const online = this.decisions.view(model).config; // 404 for an unknown model
    if (this.decisions.sharedPool) {
      // The job replays the log on a worker thread that reads the embedded SQLite database; with FOCAL_DATABASE_URL the
      // bandit log is in PostgreSQL, where it would find no events and report an empty evaluation as if it were one.
      throw new HttpError(501, '/problems/not-on-postgresql', 'Not available on PostgreSQL',
        'Offline evaluations read the embedded database, and this model\'s log is in PostgreSQL (FOCAL_DATABASE_URL): export it with '
        + `GET /models/${model}/log and import it (POST /models/{name}/log) into a Focal without FOCAL_DATABASE_URL to evaluate it there`);
    }
    const from = body.from !== undefined ? Date.parse(body.from) : 0;
    const to = body.to !== undefined ? Date.parse(body.to) : Number.MAX_SAFE_INTEGER;
    if (!(from < to)) throw new ValidationError('from must be earlier than to', [{ path: '/from', message: 'must be earlier than to' }]);
    const names = new Set<string>();
    const candidates = (body.policies ?? []).map((p, i) => {
      if (RESERVED_POLICY_NAMES.includes(p.name)) {
        throw new ValidationError(`policies[${i}].name "${p.name}" is reserved (${RESERVED_POLICY_NAMES.join(', ')} are always evaluated)`, [{ path: `/policies/${i}/name`, message: 'is reserved' }]);
      }
      if (names.has(p.name)) throw new ValidationError(`policies[${i}].name "${p.name}" is used twice`, [{ path: `/policies/${i}/name`, message: 'must be unique' }]);
      names.add(p.name);
      try {
        return { name: p.name, config: normalizeBanditConfig(p.config) };
      } catch (err) {
        if (err instanceof BanditConfigError) {
          const path = `/policies/${i}/config${err.path}`;
          throw new ValidationError(`${path.slice(1).replaceAll('/', '.')} ${err.message}`, [{ path, message: err.message }]);
        }
        throw err;
      }
    });
    const maxSeq = (this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS s FROM events').get() as { s: number }).s;
    const id = randomUUID();
    const onlineConfig: BanditConfig = { strategy: online.strategy, learner: online.learner };
    const job: Omit<EvaluationJob, 'seed'> = {
      id, model, from, to, maxSeq, online: onlineConfig, candidates,
      featureImportance: body.featureImportance ?? false, replicates: body.replicates ?? DEFAULT_REPLICATES,
    };
    // The seed depends on what is evaluated, not on the job's id or time: the same request over the same events gives the same numbers.
    const seed = requestSeed(canonical({ ...job, id: undefined }));
    const request = { ...job, seed, fromText: body.from ?? null, toText: body.to ?? null };
    this.db.prepare(`INSERT INTO evaluations (id, model, status, request, created_at) VALUES (?, ?, 'pending', ?, ?)`)
      .run(id, model, JSON.stringify(request), Date.now());
    this.queue.push(id);
    this.pump();
    return this.get(model, id);
  }

  get(model: string, id: string): EvaluationView {
    const row = this.db.prepare('SELECT * FROM evaluations WHERE id = ? AND model = ?').get(id, model) as Row | undefined;
    if (!row) throw new NotFoundError(`No evaluation "${id}" for model "${model}"`);
    return this.view(row);
  }

  list(model: string): EvaluationView[] {
    if (!this.decisions.names().includes(model)) throw new NotFoundError(`No bandit model named "${model}"`);
    const rows = this.db.prepare('SELECT * FROM evaluations WHERE model = ? ORDER BY created_at DESC, id').all(model) as Row[];
    return rows.map((r) => this.view(r, false));
  }

  /** Removes an evaluation; a running one is stopped first. */
  async delete(model: string, id: string): Promise<void> {
    this.get(model, id);
    const i = this.queue.indexOf(id);
    if (i >= 0) this.queue.splice(i, 1);
    if (this.running?.id === id) {
      const r = this.running;
      this.running = undefined;
      await r.stop();
    }
    this.db.prepare('DELETE FROM evaluations WHERE id = ?').run(id);
    this.pump();
  }

  /** The configuration of one evaluated policy, to reconfigure the model with. */
  policyConfig(model: string, id: string, policy: string): BanditConfigInput {
    const view = this.get(model, id);
    if (view.status !== 'completed') throw new ConflictError(`Evaluation "${id}" is ${view.status}: only a completed evaluation can be applied`, { status: view.status });
    const row = view.policies?.find((p) => p.name === policy);
    if (!row) {
      throw new ValidationError(`policy "${policy}" is not one of this evaluation's policies (${(view.policies ?? []).map((p) => p.name).join(', ')})`, [{ path: '/policy', message: 'unknown policy' }]);
    }
    if (policy === 'uniform') return { strategy: { name: 'uniform' } };
    if (!row.config) throw new ValidationError(`policy "${policy}" has no configuration to apply (the baseline row always plays the baseline action)`, [{ path: '/policy', message: 'has no configuration' }]);
    return row.config;
  }

  private view(row: Row, full = true): EvaluationView {
    const request = JSON.parse(row.request) as EvaluationJob & { fromText: string | null; toText: string | null };
    const running = this.running?.id === row.id ? this.running : undefined;
    const result = row.status === 'completed' && row.result ? (JSON.parse(row.result) as ReplayResult) : undefined;
    const events = result?.events ?? running?.events ?? 0;
    const progress = row.status === 'completed' ? 1 : running && running.total > 0 ? running.events / running.total : 0;
    const view: EvaluationView = {
      id: row.id, model: row.model, status: running && row.status === 'pending' ? 'running' : row.status, progress, events,
      createdAt: iso(row.created_at)!,
      ...(row.started_at ? { startedAt: iso(row.started_at)! } : {}),
      ...(row.completed_at ? { completedAt: iso(row.completed_at)! } : {}),
      request: { from: request.fromText, to: request.toText, policies: request.candidates as { name: string; config: BanditConfig }[], featureImportance: request.featureImportance, replicates: request.replicates },
    };
    if (row.error) view.error = row.error;
    if (result) {
      view.best = result.best;
      if (full) {
        view.policies = result.policies;
        view.skipped = result.skipped;
        if (result.featureImportance) view.featureImportance = result.featureImportance;
        if (result.cpuSeconds !== undefined) view.cpuSeconds = result.cpuSeconds;
      }
    }
    return view;
  }

  // ---- running ----

  private pump(): void {
    if (this.closed || this.running) return;
    const id = this.queue.shift();
    if (id === undefined) return;
    const row = this.db.prepare('SELECT * FROM evaluations WHERE id = ?').get(id) as Row | undefined;
    if (!row) {
      this.pump();
      return;
    }
    const job = JSON.parse(row.request) as EvaluationJob;
    this.running = this.db.memory ? this.runInline(job) : this.runOnWorker(job);
    this.metrics.running.set(1);
  }

  private finish(id: string, status: 'completed' | 'failed', events: number): void {
    if (this.running?.id !== id) return;
    this.running = undefined;
    this.metrics.running.set(0);
    this.metrics.finished.inc({ status });
    this.metrics.events.inc(events);
    this.pump();
  }

  private runOnWorker(job: EvaluationJob): Running {
    // The main thread's recent event-loop delay (p99 over the last 50 ms, in ms), for the worker to back off on.
    const lag = new Int32Array(new SharedArrayBuffer(4));
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const sampler = setInterval(() => {
      Atomics.store(lag, 0, Math.round(delay.percentile(99) / 1e6));
      delay.reset();
    }, 50);
    sampler.unref();
    const stopSampling = () => { clearInterval(sampler); delay.disable(); Atomics.store(lag, 0, 0); };
    const workerData = { path: this.db.name, job, lag };
    const worker = siblingWorker(import.meta.url, 'evaluation-worker', { workerData, name: `evaluation ${job.id}` });
    worker.unref();
    worker.once('exit', stopSampling);
    let settled = false;
    const running: Running = {
      id: job.id, events: 0, total: 0,
      stop: async () => {
        settled = true;
        await worker.terminate();
      },
    };
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') {
        running.events = m.events;
        running.total = m.total;
      } else {
        settled = true;
        if (m.type === 'failed') this.logger.error({ evaluation: job.id, error: m.error }, 'evaluation failed');
        this.finish(job.id, m.type === 'done' ? 'completed' : 'failed', running.events);
      }
    });
    const crashed = (error: string) => {
      if (settled) return;
      settled = true;
      this.logger.error({ evaluation: job.id, error }, 'evaluation thread failed');
      this.db.prepare(`UPDATE evaluations SET status = 'failed', error = ?, completed_at = ? WHERE id = ? AND status <> 'completed'`).run(error, Date.now(), job.id);
      this.finish(job.id, 'failed', running.events);
    };
    worker.on('error', (err) => crashed(err.message));
    worker.on('exit', (code) => crashed(`the evaluation thread exited with code ${code}`));
    return running;
  }

  /** An in-memory database cannot be shared with a thread: run on the event loop, one page per turn. */
  private runInline(job: EvaluationJob): Running {
    let stopped = false;
    const running: Running = { id: job.id, events: 0, total: 0, stop: async () => { stopped = true; } };
    this.db.prepare(`UPDATE evaluations SET status = 'running', started_at = ? WHERE id = ?`).run(Date.now(), job.id);
    const run = runEvaluation(this.db, job);
    const step = () => {
      if (stopped) return;
      try {
        const s = run.next();
        if (s.done) {
          this.db.prepare(`UPDATE evaluations SET status = 'completed', result = ?, completed_at = ? WHERE id = ?`).run(JSON.stringify(s.value), Date.now(), job.id);
          this.finish(job.id, 'completed', s.value.events);
          return;
        }
        running.events = s.value.events;
        running.total = s.value.total;
        setImmediate(step);
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        this.db.prepare(`UPDATE evaluations SET status = 'failed', error = ?, completed_at = ? WHERE id = ?`).run(error, Date.now(), job.id);
        this.finish(job.id, 'failed', running.events);
      }
    };
    setImmediate(step);
    return running;
  }
}
