/**
 * The decisions capability's writer thread: one connection, one transaction
 * per group of ops. Commits (and their fsync) happen here so the event loop
 * keeps parsing and deciding meanwhile.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { WriteExecutor, type WriteOp } from './write-ops.js';

const db = new Database((workerData as { path: string }).path);
// Same guarantees as the main connection (src/store/database.ts): every commit is fsynced.
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
db.pragma('busy_timeout = 5000');
const executor = new WriteExecutor(db);

type Message = { id: number; ops: WriteOp[] } | { close: true };

/**
 * Group commit, second stage: whatever groups the main thread sent while the
 * previous commit was running are pulled in synchronously and committed
 * together, so the next commit starts the moment the last one ends.
 */
parentPort!.on('message', (first: Message) => {
  const messages: Message[] = [first];
  for (let next = receiveMessageOnPort(parentPort!); next; next = receiveMessageOnPort(parentPort!)) messages.push(next.message as Message);
  const groups = messages.filter((m): m is { id: number; ops: WriteOp[] } => 'ops' in m);
  if (groups.length > 0) {
    try {
      const results = executor.run(groups.flatMap((g) => g.ops));
      let at = 0;
      parentPort!.postMessage({ replies: groups.map((g) => ({ id: g.id, results: results.slice(at, (at += g.ops.length)) })) });
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      parentPort!.postMessage({ replies: groups.map((g) => ({ id: g.id, error })) });
    }
  }
  if (messages.some((m) => 'close' in m)) {
    db.close();
    parentPort!.close();
  }
});
