import { openConnection, type ConnectionOptions, type Db } from '../store/database.js';
import { storageHealth } from '../store/storage-health.js';
import { GroupCommitter, InlineRunner, WorkerRunner, type BatchRunner } from '../store/group-commit.js';
import { ServiceUnavailableError } from '../http/errors.js';
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

function unavailable(): ServiceUnavailableError {
  return new ServiceUnavailableError('The image event log is not accepting writes (its writer thread failed); nothing was logged', 30);
}

/** For the writer thread (src/store/commit-worker.ts): this module's URL and its executor factory. */
export const EXECUTOR_MODULE = import.meta.url;
export function createExecutor(db: Db): ImageWriteExecutor {
  return new ImageWriteExecutor(db);
}

/**
 * The classification log of one image worker (image-worker.ts): the worker commits the events it classified
 * itself, on a connection of its own, as group commits (the classifications finished in one turn, so those of an
 * inference batch and more, go out in one transaction, one fsync), and answers the main thread only once they
 * are durable. Compared with handing
 * each event to the main thread and from there to the ImageWriter's thread, this saves two thread hops and
 * two copies of the payload per classification, and the event loop that answers /decide never sees the
 * payload (bench/image-traffic.ts). The fsync blocks only this worker; sharp keeps decoding the next uploads
 * on libuv's threads meanwhile. The connection opens on the first classification, and again after a failed
 * opening (a full disk), like the writer threads' (src/store/commit-worker.ts).
 */
export class WorkerEventLog {
  private db: Db | undefined;
  private runner: InlineRunner<ImageWrite, ImageWriteResult> | undefined;
  private readonly committer: GroupCommitter<ImageWrite, ImageWriteResult>;

  constructor(private readonly path: string, private readonly connection: ConnectionOptions) {
    // Groups are not cut at the committer's default size (DEFAULT_MAX_GROUP_SIZE, 8), which lets a writer thread start
    // committing while the event loop still reads requests: here the commit runs inline and blocks this thread, so
    // cutting an inference batch (up to 16) would answer none of it sooner and cost a second fsync.
    this.committer = new GroupCommitter(() => this.open(), { maxGroupSize: Number.POSITIVE_INFINITY });
  }

  private open(): InlineRunner<ImageWrite, ImageWriteResult> {
    if (this.runner) return this.runner;
    try {
      this.db = openConnection(this.path, this.connection);
      this.runner = new InlineRunner(createExecutor(this.db));
      return this.runner;
    } catch (err) {
      if (this.db?.open) this.db.close();
      this.db = undefined;
      throw err;
    }
  }

  /** Resolves once the group holding `op` is durable (a duplicate event id resolves `{ ok: false }`). */
  submit(op: ImageWrite): Promise<ImageWriteResult> {
    return this.committer.submit(op);
  }
}

/**
 * The images slice's group-committed writer. Its thread starts on the first
 * write, so a service that never classifies never pays for it. If the thread
 * dies, writes are refused with a 503 until restart — the same policy as the
 * decisions writer: committing on the main thread instead would put every
 * fsync back on the event loop that answers /decide.
 */
export class ImageWriter {
  private runner: BatchRunner<ImageWrite, ImageWriteResult> | undefined;
  private readonly committer: GroupCommitter<ImageWrite, ImageWriteResult>;

  private failed = false;

  /** `onFailure`: the writer thread died; later writes are refused. */
  constructor(private readonly db: Db, private readonly onFailure: (err: Error) => void = () => {}) {
    // A full disk is reported once, by the store's health (src/store/storage-health.ts); the requests answer 503.
    this.committer = new GroupCommitter(() => this.start(), { onCommitError: (err) => { storageHealth(db)?.failed(err); } });
  }

  private start(): BatchRunner<ImageWrite, ImageWriteResult> {
    this.runner ??= this.db.memory
      ? new InlineRunner(createExecutor(this.db))
      : new WorkerRunner<ImageWrite, ImageWriteResult>(this.db.name, EXECUTOR_MODULE, 'image writer', (err) => {
        if (!this.failed) this.onFailure(err);
        this.failed = true;
      });
    return this.runner;
  }

  /** Queues `op`; resolves with its result once the group holding it is durable. */
  async submit(op: ImageWrite): Promise<ImageWriteResult> {
    if (this.failed) throw unavailable();
    try {
      return await this.committer.submit(op);
    } catch (err) {
      // Nothing of a failed group is committed: the client may retry once the service is back.
      throw this.failed ? unavailable() : err;
    }
  }

  /** Resolves once everything queued so far is committed. */
  drain(): Promise<void> {
    return this.committer.drain();
  }

  async close(): Promise<void> {
    await this.committer.close();
    await this.runner?.close();
  }
}
