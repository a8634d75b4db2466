import { ConflictError, GoneError, HttpError, NotFoundError, ServiceUnavailableError, ValidationError, type FieldError } from '../http/errors.js';
import type { Logger } from '../platform/logger.js';
import type { Db } from '../store/database.js';
import { GroupCommitter, InlineRunner, WorkerRunner } from '../store/group-commit.js';
import { storageHealth } from '../store/storage-health.js';
import type { DecisionMetrics } from './decision-metrics.js';
import type { OpResult } from './op-result.js';
import { createExecutor, EXECUTOR_MODULE, type WriteOp } from './write-executor.js';

/**
 * The decisions writer as the main thread sees it: a group committer in front of the writer thread
 * (write-executor.ts; inline for in-memory databases). It accepts writes only between `start` and `close`:
 * starting, shutting down or after the writer thread failed, a write is refused with a 503 (the decisions'
 * policy: nothing is committed on the main thread instead).
 */
export class DecisionsWriter {
  private committer: GroupCommitter<WriteOp, OpResult> | undefined;
  private closing = false;
  /** The writer thread failed, or the writer was closed. */
  private stopped = false;

  constructor(private readonly db: Db, private readonly logger: Logger, private readonly metrics: DecisionMetrics) {}

  start(): void {
    const runner = this.db.memory
      ? new InlineRunner(createExecutor(this.db))
      : new WorkerRunner<WriteOp, OpResult>(this.db.name, EXECUTOR_MODULE, 'decisions writer', (err) => {
        this.logger.fatal({ err }, 'the decisions writer thread failed: writes are refused until restart');
        this.stopped = true;
      });
    this.committer = new GroupCommitter(runner, {
      onCommit: (size, seconds) => { this.metrics.commitSize.observe(size); this.metrics.commitDuration.observe(seconds); },
      onCommitError: (err) => { if (!storageHealth(this.db)?.failed(err)) this.logger.error({ err }, 'group commit failed; its requests fail and memory is unchanged'); },
      failure: (r) => (r.problem?.internal ? r.problem.detail : undefined),
    });
  }

  get isReady(): boolean {
    return this.committer !== undefined && !this.closing && !this.stopped;
  }

  /** The committer, or a 503 if writes are not accepted. Take it before validating, as every write does. */
  accepting(): GroupCommitter<WriteOp, OpResult> {
    if (!this.committer || this.closing || this.stopped) throw new ServiceUnavailableError('The decisions service is not accepting writes (starting, shutting down or failed)');
    return this.committer;
  }

  /**
   * Stops accepting writes, waits for `settle` (admin operations in flight), commits what is queued, then the
   * `final` op (the last snapshots) unless the writer failed, and stops the writer.
   */
  async close(settle: () => Promise<unknown>, final: () => [WriteOp, () => void]): Promise<void> {
    if (this.closing || !this.committer) return;
    this.closing = true;
    const committer = this.committer;
    await settle();
    await committer.drain();
    if (!this.stopped) await committer.submit(...final());
    await committer.close();
    this.stopped = true;
  }
}

const PROBLEM_TYPES: Record<number, (detail: string, extra: Record<string, unknown>) => HttpError> = {
  400: (d, x) => new ValidationError(d, (x.errors as FieldError[] | undefined) ?? []),
  404: (d) => new NotFoundError(d),
  409: (d, x) => new ConflictError(d, x),
  410: (d, x) => new GoneError(d, x),
};

/** The HttpError for a problem the writer decided. */
export function httpError(r: OpResult): HttpError {
  const p = r.problem!;
  const make = PROBLEM_TYPES[p.status];
  return make ? make(p.detail, p.extra ?? {}) : new HttpError(p.status, '/problems/internal', 'Error', p.detail, p.extra ?? {});
}
