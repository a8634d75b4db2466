import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { closeDatabase, openDatabase } from '../store/database.js';
import { ImageWriter } from './event-writer.js';
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
