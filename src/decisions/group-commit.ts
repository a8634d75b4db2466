import type { Db } from '../store/database.js';

/**
 * What a job does inside the shared transaction: its result (or an error for
 * this job alone) and, optionally, in-memory effects to apply once the
 * transaction has committed (model updates), in queue order.
 */
export interface JobOutcome<T> {
  result: T;
  afterCommit?: () => void;
}

type Job = {
  run: () => JobOutcome<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
};

/**
 * Group commit: writes from concurrent requests are queued and committed in
 * one transaction (one fsync under synchronous=FULL) at the end of the
 * current event-loop turn; each caller is answered only after the commit.
 *
 * Jobs run synchronously, in arrival order, inside the transaction, so they
 * see each other's writes (a reward queued after its decision finds it). A
 * job that throws fails alone: it must leave no partial writes (wrap
 * multi-statement work in a savepoint, see `savepoint`). If the commit
 * itself fails, every job in the group fails and no afterCommit runs, so
 * memory never gets ahead of the disk.
 */
export class GroupCommitter {
  private queue: Job[] = [];
  private scheduled = false;
  private idle: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly onFlush?: (size: number, seconds: number) => void,
    private readonly onCommitError?: (err: unknown) => void,
  ) {}

  /** Queues `run`; resolves with its result once the group holding it is durable. */
  submit<T>(run: () => JobOutcome<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Runs every queued job now (also used on shutdown). */
  flush(): void {
    this.scheduled = false;
    const jobs = this.queue;
    this.queue = [];
    if (jobs.length > 0) {
      const start = process.hrtime.bigint();
      const outcomes: ({ ok: true; outcome: JobOutcome<unknown> } | { ok: false; err: unknown })[] = [];
      try {
        this.db.transaction(() => {
          for (const job of jobs) {
            try {
              outcomes.push({ ok: true, outcome: job.run() });
            } catch (err) {
              outcomes.push({ ok: false, err });
            }
          }
        })();
      } catch (err) {
        this.onCommitError?.(err);
        for (const job of jobs) job.reject(err);
        this.settleIdle();
        return;
      }
      this.onFlush?.(jobs.length, Number(process.hrtime.bigint() - start) / 1e9);
      jobs.forEach((job, i) => {
        const o = outcomes[i]!;
        if (!o.ok) {
          job.reject(o.err);
          return;
        }
        try {
          o.outcome.afterCommit?.();
          job.resolve(o.outcome.result);
        } catch (err) {
          job.reject(err);
        }
      });
    }
    this.settleIdle();
  }

  /** Resolves once everything queued so far is committed. */
  drain(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Commits what is queued and refuses new work. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private settleIdle(): void {
    if (this.queue.length > 0) return;
    const waiting = this.idle;
    this.idle = [];
    for (const w of waiting) w();
  }
}

/** Runs `fn` in a savepoint so a failing multi-statement job leaves nothing behind. */
export function savepoint<T>(db: Db, fn: () => T): T {
  return db.transaction(fn)();
}
