/**
 * A writer thread for GroupCommitter: one connection, one transaction per
 * group of ops, built by the executor module the parent named. Commits (and
 * their fsync) happen here so the event loop keeps serving meanwhile.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { openConnection, type Db } from './database.js';
import type { BatchExecutor } from './group-commit.js';

const { path, executorModule, replies } = workerData as { path: string; executorModule: string; replies: MessagePort };
const db = openConnection(path);
const mod = (await import(executorModule)) as { createExecutor(db: Db): BatchExecutor<unknown, unknown> };
const executor = mod.createExecutor(db);

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
      const results = executor.run(groups.flatMap((g) => g.ops));
      let at = 0;
      replies.postMessage({ replies: groups.map((g) => ({ id: g.id, results: results.slice(at, (at += g.ops.length)) })) });
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      replies.postMessage({ replies: groups.map((g) => ({ id: g.id, error })) });
    }
  }
  if (messages.some((m) => 'close' in m)) {
    db.close();
    replies.close();
    parentPort!.close();
  }
});
