/**
 * A writer thread for GroupCommitter: one connection, one transaction per
 * group of ops, built by the executor module the parent named. Commits (and
 * their fsync) happen here so the event loop keeps serving meanwhile.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { openConnection, type ConnectionOptions, type Db } from './database.js';
import type { BatchExecutor } from './group-commit.js';

const { path, executorModule, replies, connection } = workerData as { path: string; executorModule: string; replies: MessagePort; connection: ConnectionOptions };
const mod = (await import(executorModule)) as { createExecutor(db: Db): BatchExecutor<unknown, unknown> };

/**
 * The connection is opened on the first group, and again after a failed opening: on a full disk opening can
 * fail (SQLITE_FULL), and the thread must answer that group with the error and stay alive for the next one,
 * not exit and leave the service without a writer once space returns.
 */
let db: Db | undefined;
let executor: BatchExecutor<unknown, unknown> | undefined;
function ready(): BatchExecutor<unknown, unknown> {
  if (executor) return executor;
  try {
    db = openConnection(path, connection);
    executor = mod.createExecutor(db);
    return executor;
  } catch (err) {
    if (db?.open) db.close();
    db = undefined;
    throw err;
  }
}

type Message = { id: number; ops: unknown[] } | { close: true };

/**
 * Whatever groups the main thread sent while the previous commit ran are
 * pulled in synchronously and committed together, so the next commit starts
 * the moment the last one ends.
 */
parentPort!.on('message', (first: Message) => {
  const messages: Message[] = [first];
  for (let next = receiveMessageOnPort(parentPort!); next; next = receiveMessageOnPort(parentPort!)) messages.push(next.message as Message);
  const groups = messages.filter((m): m is { id: number; ops: unknown[] } => 'ops' in m);
  if (groups.length > 0) {
    try {
      const results = ready().run(groups.flatMap((g) => g.ops));
      let at = 0;
      replies.postMessage({ replies: groups.map((g) => ({ id: g.id, results: results.slice(at, (at += g.ops.length)) })) });
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      // SQLite's code (SQLITE_FULL for a full disk) travels with the message: the caller answers 503 for it, not 500.
      const code = (err as { code?: unknown }).code;
      replies.postMessage({ replies: groups.map((g) => ({ id: g.id, error, ...(typeof code === 'string' ? { code } : {}) })) });
    }
  }
  if (messages.some((m) => 'close' in m)) {
    if (db?.open) db.close();
    replies.close();
    parentPort!.close();
  }
});
