import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { ServiceUnavailableError } from '../http/errors.js';
import { closeDatabase, connectionOptions, openDatabase } from '../store/database.js';
import { ImageWriter, WorkerEventLog } from './event-writer.js';
import { ImageStore } from './image-store.js';

for (const where of ['a database file (writer thread)', 'memory (inline)']) {
  describe(`ImageWriter on ${where}`, () => {
    it('commits concurrent writes as groups, refusing duplicates without undoing the rest', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'focal-writer-'));
      const db = openDatabase({ path: where.startsWith('memory') ? ':memory:' : join(dir, 'focal.db') });
      const writer = new ImageWriter(db);
      try {
        const events = await Promise.all(Array.from({ length: 20 }, (_, i) =>
          writer.submit({ op: 'classification', eventId: `e${i % 15}`, model: 'mnist', createdAt: i, payload: '{}' })));
        assert.equal(events.filter((r) => r.ok).length, 15);
        assert.equal(events.filter((r) => !r.ok && r.reason === 'duplicate').length, 5);
        const feedback = await Promise.all([
          writer.submit({ op: 'feedback', eventId: 'e1', model: 'mnist', reward: 1, label: '3', now: 1 }),
          writer.submit({ op: 'feedback', eventId: 'e1', model: 'mnist', reward: 0, label: '4', now: 2 }),
          writer.submit({ op: 'feedback', eventId: 'nope', model: 'mnist', reward: 0, label: null, now: 3 }),
        ]);
        assert.ok(feedback[0]!.ok && feedback[0]!.seq !== undefined);
        assert.deepEqual(feedback[1], { ok: false, reason: 'duplicate', reward: 1 });
        assert.deepEqual(feedback[2], { ok: false, reason: 'not-found' });
        // Visible to the main connection once acknowledged.
        const store = new ImageStore(db);
        assert.equal(store.getEvent('e1')?.rewardCount, 1);
        assert.equal((db.prepare("SELECT COUNT(*) AS n FROM events WHERE kind = 'image'").get() as { n: number }).n, 15);
      } finally {
        await writer.close();
        closeDatabase(db);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

describe('ImageWriter when its writer thread fails', () => {
  it('refuses every later write with a 503 (nothing committed on the main thread) and reports the failure once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'focal-writer-'));
    const db = openDatabase({ path: join(dir, 'focal.db') });
    const failures: Error[] = [];
    const writer = new ImageWriter(db, (err) => failures.push(err));
    try {
      assert.deepEqual(await writer.submit({ op: 'classification', eventId: 'before', model: 'mnist', createdAt: 1, payload: '{}' }), { ok: true });
      // The thread dies (as on an out-of-memory abort): reach its Worker through the runner.
      const thread = (writer as unknown as { runner: { worker: Worker } }).runner.worker;
      const exited = new Promise((resolve) => thread.once('exit', resolve));
      await thread.terminate();
      await exited;
      for (const eventId of ['after-1', 'after-2']) {
        await assert.rejects(writer.submit({ op: 'classification', eventId, model: 'mnist', createdAt: 2, payload: '{}' }), (err: unknown) => {
          assert.ok(err instanceof ServiceUnavailableError);
          assert.equal(err.status, 503);
          assert.ok(err.retryAfter !== undefined && err.retryAfter > 0);
          return true;
        });
      }
      assert.equal(failures.length, 1);
      const ids = (db.prepare("SELECT event_id FROM events WHERE kind = 'image' ORDER BY event_id").all() as { event_id: string }[]).map((r) => r.event_id);
      assert.deepEqual(ids, ['before']);
    } finally {
      await writer.close().catch(() => undefined);
      closeDatabase(db);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Transactions in a WAL file since it was last reset: its valid frames (salts as in the header) that end a commit,
 * by SQLite's file format (https://sqlite.org/fileformat2.html#the_write_ahead_log).
 */
function walCommits(walPath: string): number {
  const wal = readFileSync(walPath);
  const pageSize = wal.readUInt32BE(8);
  const [salt1, salt2] = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

describe('WorkerEventLog (an image worker\'s own log)', () => {
  it('commits the classifications of one turn (an inference batch of 16) in one transaction', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'focal-worker-log-'));
    const path = join(dir, 'focal.db');
    const db = openDatabase({ path });
    try {
      const log = new WorkerEventLog(path, connectionOptions(path));
      assert.deepEqual(await log.submit({ op: 'classification', eventId: 'first', model: 'mnist', createdAt: 0, payload: '{}' }), { ok: true });
      const before = walCommits(`${path}-wal`);
      // As image-worker.ts's flush resolves a batch: each classification submits its event in the same turn.
      const batch = await Promise.all(Array.from({ length: 16 }, (_, i) =>
        log.submit({ op: 'classification', eventId: `e${i}`, model: 'mnist', createdAt: i, payload: '{}' })));
      assert.ok(batch.every((r) => r.ok));
      assert.equal(walCommits(`${path}-wal`) - before, 1, 'one transaction for the batch');
      assert.equal((db.prepare("SELECT COUNT(*) AS n FROM events WHERE kind = 'image'").get() as { n: number }).n, 17);
    } finally {
      closeDatabase(db);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
