/**
 * The decisions capability's writer thread: one connection, one transaction
 * per group of ops. Commits (and their fsync) happen here so the event loop
 * keeps parsing and deciding meanwhile.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { WriteExecutor, type WriteOp } from './write-ops.js';

const db = new Database((workerData as { path: string }).path);
// Same guarantees as the main connection (src/store/database.ts): every commit is fsynced.
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
db.pragma('busy_timeout = 5000');
const executor = new WriteExecutor(db);

parentPort!.on('message', (m: { id: number; ops: WriteOp[] } | { close: true }) => {
  if ('close' in m) {
    db.close();
    parentPort!.close();
    return;
  }
  try {
    parentPort!.postMessage({ id: m.id, results: executor.run(m.ops) });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});
