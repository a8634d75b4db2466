import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import { siblingWorker } from '../platform/worker-thread.js';
import { connectionOptions } from './database.js';

/**
 * Group commit, shared by every capability that logs events: writes from
 * concurrent requests are queued and committed together, one transaction and
 * one fsync (synchronous=FULL) per group, and each caller is answered only
 * after its group is durable. For a database file the commits run on a writer
 * thread with its own connection, so the fsync (several milliseconds here)
 * never blocks the event loop; groups go to it as soon as they form, and it
 * merges whatever queued during one commit into the next. A group is also
 * handed over as soon as it holds `maxGroupSize` ops, without waiting for the
 * end of the I/O phase: otherwise every connection's request joins one large
 * group, the event loop idles while it commits, and the clients move in a
 * convoy (measured with bench:bandit: the main thread was busy 86% of the time
 * at maximum rate with one group per I/O phase, 97-99% with groups of 8, and
 * Focal served about a quarter more requests per second).
 *
 * Ops run in submission order and see each other's writes (a reward queued
 * after its decision finds it). Each op's `effect` runs in that same order once
 * its group is durable, so memory never gets ahead of the disk. If a commit
 * fails, every op in the group fails and no effect runs.
 */

/** Executes one batch of ops in one transaction on the connection it was built with. */
export interface BatchExecutor<Op, Result> {
  run(ops: Op[]): Result[];
}

/**
 * A module a writer thread can load: it exports `createExecutor(db)`.
 * Passed as the module's own `import.meta.url`.
 */
export type ExecutorModuleUrl = string;

/** Executes one batch in one transaction and resolves once it is durable. */
export interface BatchRunner<Op, Result> {
  run(ops: Op[]): Promise<Result[]>;
  /** Settles whatever replies have already arrived (runners on another thread). */
  poll?(): void;
  close(): Promise<void>;
}

export interface GroupCommitOptions<Result> {
  onCommit?: (size: number, seconds: number) => void;
  onCommitError?: (err: unknown) => void;
  /** A result that must fail its caller (an internal error decided by the executor), as a message. */
  failure?: (result: Result) => string | undefined;
  /** Hand a group over once it holds this many ops (default DEFAULT_MAX_GROUP_SIZE); the writer merges what queues meanwhile. */
  maxGroupSize?: number;
}

/** Small enough that the writer starts while the event loop still reads requests, large enough to share an fsync. */
export const DEFAULT_MAX_GROUP_SIZE = 8;

interface Job<Op, Result> {
  op: Op;
  effect: ((r: Result) => void) | undefined;
  resolve: (r: Result) => void;
  reject: (err: unknown) => void;
}

export class GroupCommitter<Op, Result> {
  private queue: Job<Op, Result>[] = [];
  /** Groups sent and not yet answered: the runner commits them back to back, answering in order. */
  private inFlight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];
  private closed = false;

  private readonly maxGroupSize: number;

  /** `runner` may be a function so that the runner (a thread) starts on the first write only. */
  constructor(
    private readonly runner: BatchRunner<Op, Result> | (() => BatchRunner<Op, Result>),
    private readonly options: GroupCommitOptions<Result> = {},
  ) {
    this.maxGroupSize = Math.max(1, options.maxGroupSize ?? DEFAULT_MAX_GROUP_SIZE);
  }

  private get activeRunner(): BatchRunner<Op, Result> {
    return typeof this.runner === 'function' ? this.runner() : this.runner;
  }

  /** Queues `op`; resolves with its result once the group holding it is durable and its effect applied. */
  submit(op: Op, effect?: (r: Result) => void): Promise<Result> {
    if (this.closed) return Promise.reject(new Error('the writer is closed'));
    if (this.inFlight > 0) this.activeRunner.poll?.();
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ op, effect, resolve, reject });
      if (this.queue.length >= this.maxGroupSize) void this.flush();
      else this.schedule();
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
    let results: Result[] | undefined;
    try {
      results = await this.activeRunner.run(jobs.map((j) => j.op));
    } catch (err) {
      this.options.onCommitError?.(err);
      for (const job of jobs) job.reject(err);
    }
    this.inFlight--;
    if (results) {
      this.options.onCommit?.(jobs.length, Number(process.hrtime.bigint() - start) / 1e9);
      jobs.forEach((job, i) => {
        const r = results[i]!;
        const failure = this.options.failure?.(r);
        if (failure !== undefined) {
          job.reject(new Error(`write failed: ${failure}`));
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

  /** Commits what is queued, then stops the runner. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    if (typeof this.runner !== 'function') await this.runner.close();
  }

  private settleIdle(): void {
    const waiting = this.idle;
    this.idle = [];
    for (const w of waiting) w();
  }
}

/** Runs batches on the calling thread (in-memory databases, which a worker cannot open). */
export class InlineRunner<Op, Result> implements BatchRunner<Op, Result> {
  constructor(private readonly executor: BatchExecutor<Op, Result>) {}

  run(ops: Op[]): Promise<Result[]> {
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

type Reply<Result> = { id: number; results: Result[] } | { id: number; error: string; code?: string };
interface ReplyMessage<Result> { replies: Reply<Result>[] }

/**
 * Runs batches on a writer thread with its own connection to the database
 * file; the thread builds its executor from `executorModule`'s `createExecutor`.
 */
export class WorkerRunner<Op, Result> implements BatchRunner<Op, Result> {
  private readonly worker: Worker;
  private readonly replies: MessagePort;
  private readonly pending = new Map<number, { resolve: (r: Result[]) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private failed: Error | undefined;

  constructor(path: string, executorModule: ExecutorModuleUrl, name: string, onFailure: (err: Error) => void) {
    const { port1, port2 } = new MessageChannel();
    this.replies = port1;
    const workerData = { path, executorModule, replies: port2, connection: connectionOptions(path) };
    const transferList = [port2];
    this.worker = siblingWorker(import.meta.url, 'commit-worker', { workerData, transferList, name });
    // Only a writer with work in flight keeps the process alive (tests and scripts exit when done).
    this.worker.unref();
    this.replies.unref();
    this.replies.on('message', (m: ReplyMessage<Result>) => this.settle(m));
    const fail = (err: Error) => {
      this.failed ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      onFailure(err);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => { if (code !== 0 || this.pending.size > 0) fail(new Error(`the ${name} thread exited with code ${code}`)); });
  }

  /** Answers the groups of one reply, in submission order, so effects apply in log order. */
  private settle({ replies }: ReplyMessage<Result>): void {
    for (const m of replies) {
      const p = this.pending.get(m.id);
      if (!p) continue;
      this.pending.delete(m.id);
      if ('error' in m) p.reject(Object.assign(new Error(m.error), m.code !== undefined ? { code: m.code } : {}));
      else p.resolve(m.results);
    }
    if (this.pending.size === 0) {
      this.worker.unref();
      this.replies.unref();
    }
  }

  /**
   * Takes the replies that have arrived without waiting for the event loop to deliver them. The loop
   * delivers a reply only after every socket event it polled with it: at full load that is a whole
   * batch of requests later (measured ≈ 4-5 ms of a 7 ms round trip), during which the finished
   * requests hold their connections. GroupCommitter calls this on every submit.
   */
  poll(): void {
    for (let m = receiveMessageOnPort(this.replies); m !== undefined; m = receiveMessageOnPort(this.replies)) this.settle(m.message as ReplyMessage<Result>);
  }

  run(ops: Op[]): Promise<Result[]> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.replies.ref();
      this.worker.postMessage({ id, ops });
    });
  }

  async close(): Promise<void> {
    if (this.failed) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref();
    this.worker.postMessage({ close: true });
    await exited;
    this.replies.close();
  }
}
