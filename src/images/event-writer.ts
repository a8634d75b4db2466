import { Worker } from 'node:worker_threads';
import type { Db } from '../store/database.js';
import { ImageStore } from './image-store.js';

/**
 * Durable writes of the images slice — classification events and feedback —
 * as group commits: writes queued while one group commits go out together in
 * the next transaction, one fsync (synchronous=FULL) for the group, and each
 * caller is answered only once its group is durable. For a database file the
 * commits run on a writer thread with its own connection, so the fsync (several
 * milliseconds) never blocks the event loop that /decide shares.
 */

export type ImageWrite =
  | { op: 'classification'; eventId: string; model: string; createdAt: number; payload: string }
  | { op: 'feedback'; eventId: string; model: string; reward: number; label: string | null; now: number };

export type ImageWriteResult =
  | { ok: true; seq?: number }
  | { ok: false; reason: 'duplicate' | 'not-found'; reward?: number | null };

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Runs one group in one transaction; a refused op (duplicate id, already rewarded) does not undo the others. */
export class ImageWriteExecutor {
  private readonly store: ImageStore;

  constructor(private readonly db: Db) {
    this.store = new ImageStore(db);
  }

  run(ops: readonly ImageWrite[]): ImageWriteResult[] {
    // IMMEDIATE: take the write lock up front, so another connection's commit cannot fail the group with SQLITE_BUSY.
    return this.db.transaction(() => ops.map((op): ImageWriteResult => {
      if (op.op === 'classification') {
        try {
          this.store.insertEvent(op.eventId, op.model, op.payload, op.createdAt);
          return { ok: true };
        } catch (err) {
          // A failed INSERT aborts only its own statement; the group's transaction goes on.
          if (isUniqueViolation(err)) return { ok: false, reason: 'duplicate' };
          throw err;
        }
      }
      return this.store.recordFeedback(op.eventId, op.model, op.reward, op.label, op.now);
    })).immediate();
  }
}

interface BatchRunner {
  run(ops: ImageWrite[]): Promise<ImageWriteResult[]>;
  close(): Promise<void>;
}

class InlineRunner implements BatchRunner {
  private readonly executor: ImageWriteExecutor;

  constructor(db: Db) {
    this.executor = new ImageWriteExecutor(db);
  }

  run(ops: ImageWrite[]): Promise<ImageWriteResult[]> {
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

type Reply = { id: number; results: ImageWriteResult[] } | { id: number; error: string };

class WorkerRunner implements BatchRunner {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: ImageWriteResult[]) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private failed: Error | undefined;

  constructor(path: string, onFailure: (err: Error) => void) {
    if (import.meta.url.endsWith('.ts')) {
      // Running from source under tsx: the worker needs tsx's loader before it can import TypeScript.
      const entry = new URL('./event-writer-worker.ts', import.meta.url).href;
      const code = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
      this.worker = new Worker(code, { eval: true, workerData: { path } });
    } else {
      this.worker = new Worker(new URL('./event-writer-worker.js', import.meta.url), { workerData: { path } });
    }
    // Only a writer with work in flight keeps the process alive.
    this.worker.unref();
    this.worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker.unref();
      if ('error' in m) p.reject(new Error(m.error));
      else p.resolve(m.results);
    });
    const fail = (err: Error) => {
      this.failed ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      onFailure(err);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => { if (code !== 0 || this.pending.size > 0) fail(new Error(`the image writer thread exited with code ${code}`)); });
  }

  get broken(): boolean {
    return this.failed !== undefined;
  }

  run(ops: ImageWrite[]): Promise<ImageWriteResult[]> {
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

interface Job {
  op: ImageWrite;
  resolve: (r: ImageWriteResult) => void;
  reject: (err: unknown) => void;
}

export class ImageWriter {
  private runner: BatchRunner | undefined;
  private queue: Job[] = [];
  private inFlight = false;
  private scheduled = false;
  private idle: (() => void)[] = [];
  private closed = false;

  /** `onFailure`: the writer thread died; later groups commit on the main connection instead. */
  constructor(private readonly db: Db, private readonly onFailure: (err: Error) => void = () => {}) {}

  /** Started on the first write, so a service that never classifies never pays for the thread. */
  private start(): BatchRunner {
    this.runner ??= this.db.memory ? new InlineRunner(this.db) : new WorkerRunner(this.db.name, (err) => {
      this.onFailure(err);
      this.runner = new InlineRunner(this.db);
    });
    return this.runner;
  }

  /** Queues `op`; resolves with its result once the group holding it is durable. */
  submit(op: ImageWrite): Promise<ImageWriteResult> {
    if (this.closed) return Promise.reject(new Error('the image event writer is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // After the current I/O phase, so every request that arrived in it joins the group.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight || this.queue.length === 0) return;
    const jobs = this.queue;
    this.queue = [];
    this.inFlight = true;
    try {
      const results = await this.start().run(jobs.map((j) => j.op));
      jobs.forEach((job, i) => job.resolve(results[i]!));
    } catch (err) {
      for (const job of jobs) job.reject(err);
    }
    this.inFlight = false;
    if (this.queue.length > 0) this.schedule();
    else {
      const waiting = this.idle;
      this.idle = [];
      for (const w of waiting) w();
    }
  }

  /** Resolves once everything queued so far is committed. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && !this.inFlight) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    await this.runner?.close();
  }
}
