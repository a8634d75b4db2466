/**
 * The images slice's writer thread: one connection, one transaction per group
 * of classification and feedback writes, so their fsync happens off the event
 * loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { ImageWriteExecutor, type ImageWrite } from './event-writer.js';

const db = new Database((workerData as { path: string }).path);
// Same guarantees as the main connection (src/store/database.ts): every commit is fsynced.
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
db.pragma('busy_timeout = 5000');
const executor = new ImageWriteExecutor(db);

parentPort!.on('message', (m: { id: number; ops: ImageWrite[] } | { close: true }) => {
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
