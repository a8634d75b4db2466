import { Worker } from 'node:worker_threads';
import type { Db } from '../store/database.js';
import { WriteExecutor, type OpResult, type WriteOp } from './write-ops.js';

/** Executes one batch of ops in one transaction and resolves once it is durable. */
export interface BatchRunner {
  run(ops: WriteOp[]): Promise<OpResult[]>;
  close(): Promise<void>;
}

interface Job {
  op: WriteOp;
  effect: ((r: OpResult) => void) | undefined;
  resolve: (r: OpResult) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: writes from concurrent requests are queued and committed
 * together, one transaction and one fsync (synchronous=FULL) per group; each
 * caller is answered only after its group is durable. Groups go to the
 * writer thread as soon as they form; while it commits one, the next ones
 * queue there and are committed together the moment it is done, so the
 * fsync neither blocks the event loop nor serialises requests one by one.
 *
 * Ops run in submission order and see each other's writes (a reward queued
 * after its decision finds it). Each op's `effect` (folding a reward into a
 * model, swapping a reconfigured model in) runs in that same order once the
 * group is durable, so memory never gets ahead of the disk and follows the
 * reward log's order exactly. If a commit fails, every op in the group fails
 * and no effect runs.
 */
export class GroupCommitter {
  private queue: Job[] = [];
  /** Groups sent and not yet answered: the writer commits them back to back, answering in order. */
  private inFlight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly runner: BatchRunner,
    private readonly onCommit?: (size: number, seconds: number) => void,
    private readonly onCommitError?: (err: unknown) => void,
  ) {}

  /** Queues `op`; resolves with its result once the group holding it is durable and its effect applied. */
  submit(op: WriteOp, effect?: (r: OpResult) => void): Promise<OpResult> {
    if (this.closed) return Promise.reject(new Error('the decision store is closed'));
    return new Promise<OpResult>((resolve, reject) => {
      this.queue.push({ op, effect, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    // After the current I/O phase: every request that arrived in it joins the group.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.queue.length === 0) return;
    const jobs = this.queue;
    this.queue = [];
    this.inFlight++;
    const start = process.hrtime.bigint();
    let results: OpResult[] | undefined;
    try {
      results = await this.runner.run(jobs.map((j) => j.op));
    } catch (err) {
      this.onCommitError?.(err);
      for (const job of jobs) job.reject(err);
    }
    this.inFlight--;
    if (results) {
      this.onCommit?.(jobs.length, Number(process.hrtime.bigint() - start) / 1e9);
      jobs.forEach((job, i) => {
        const r = results[i]!;
        if (r.problem?.internal) {
          job.reject(new Error(`write failed: ${r.problem.detail}`));
          return;
        }
        try {
          job.effect?.(r);
          job.resolve(r);
        } catch (err) {
          job.reject(err);
        }
      });
    }
    if (this.queue.length === 0 && this.inFlight === 0) this.settleIdle();
  }

  /** Resolves once everything queued so far is committed. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Commits what is queued, then stops the writer. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    await this.runner.close();
  }

  private settleIdle(): void {
    const waiting = this.idle;
    this.idle = [];
    for (const w of waiting) w();
  }
}

/** Runs batches on the calling thread (in-memory databases, which a worker cannot open). */
export class InlineRunner implements BatchRunner {
  private readonly executor: WriteExecutor;
  constructor(db: Db) {
    this.executor = new WriteExecutor(db);
  }
  run(ops: WriteOp[]): Promise<OpResult[]> {
    try {
      return Promise.resolve(this.executor.run(ops));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

type Reply = { id: number; results: OpResult[] } | { id: number; error: string };

/**
 * Runs batches on a worker thread with its own connection to the database
 * file, so the fsync of each commit happens off the event loop.
 */
export class WorkerRunner implements BatchRunner {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: OpResult[]) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private failed: Error | undefined;

  constructor(path: string, onFailure: (err: Error) => void) {
    if (import.meta.url.endsWith('.ts')) {
      // Running from source under tsx: the worker needs tsx's loader registered before it imports TypeScript.
      const entry = new URL('./commit-worker.ts', import.meta.url).href;
      const code = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
      this.worker = new Worker(code, { eval: true, workerData: { path } });
    } else {
      this.worker = new Worker(new URL('./commit-worker.js', import.meta.url), { workerData: { path } });
    }
    // Only a worker with work in flight keeps the process alive (tests and scripts exit when done).
    this.worker.unref();
    this.worker.on('message', ({ replies }: { replies: Reply[] }) => {
      // In submission order, so effects apply in reward-log order.
      for (const m of replies) {
        const p = this.pending.get(m.id);
        if (!p) continue;
        this.pending.delete(m.id);
        if ('error' in m) p.reject(new Error(m.error));
        else p.resolve(m.results);
      }
      if (this.pending.size === 0) this.worker.unref();
    });
    const fail = (err: Error) => {
      this.failed ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      onFailure(err);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => { if (code !== 0 || this.pending.size > 0) fail(new Error(`the commit worker exited with code ${code}`)); });
  }

  run(ops: WriteOp[]): Promise<OpResult[]> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ id, ops });
    });
  }

  async close(): Promise<void> {
    if (this.failed) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref();
    this.worker.postMessage({ close: true });
    await exited;
  }
}
