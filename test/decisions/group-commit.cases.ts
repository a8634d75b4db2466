import assert from 'node:assert/strict';
import { describe } from 'node:test';
import request from 'supertest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroupCommitter, WorkerRunner, type BatchRunner } from '../../src/store/group-commit.js';
import { closeDatabase, openDatabase } from '../../src/store/database.js';
import { DecisionStore } from '../../src/decisions/decision-store.js';
import { EXECUTOR_MODULE, type WriteOp } from '../../src/decisions/write-executor.js';
import type { OpResult } from '../../src/decisions/op-result.js';
import { it, startHarness } from './harness.js';

const payload = { context: {}, actions: [{ id: 'a' }], pmf: [1], scores: [0], chosen: 0, probability: 1, modelVersion: 1, strategy: 'greedy' };
const op = (eventId: string): WriteOp => ({ op: 'decision', eventId, model: 'default', createdAt: 0, deadlineAt: 0, payload: JSON.stringify(payload) });

/** A runner that records each batch and can be told to fail the next commit. */
class FakeRunner implements BatchRunner<WriteOp, OpResult> {
  batches: string[][] = [];
  failNext = false;
  async run(ops: WriteOp[]): Promise<OpResult[]> {
    this.batches.push(ops.map((o) => (o.op === 'decision' ? o.eventId : o.op)));
    await new Promise((r) => setTimeout(r, 5));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk full');
    }
    return ops.map(() => ({ inserted: true }));
  }
  async close(): Promise<void> {}
}

describe('group commit', () => {
  it('commits concurrent submissions together, applies effects in order, and answers after the commit', async () => {
    const runner = new FakeRunner();
    const committer = new GroupCommitter<WriteOp, OpResult>(runner);
    const order: string[] = [];
    const all = ['a', 'b', 'c'].map((id) => committer.submit(op(id), () => order.push(id)).then(() => order.push(`done ${id}`)));
    await Promise.all(all);
    assert.deepEqual(runner.batches, [['a', 'b', 'c']]);
    assert.deepEqual(order.slice(0, 3), ['a', 'b', 'c']);
  });

  it('fills the next group while one is in flight', async () => {
    const runner = new FakeRunner();
    const committer = new GroupCommitter<WriteOp, OpResult>(runner);
    const first = committer.submit(op('1'));
    await new Promise((r) => setImmediate(r));
    const later = [committer.submit(op('2')), committer.submit(op('3'))];
    await Promise.all([first, ...later]);
    assert.deepEqual(runner.batches, [['1'], ['2', '3']]);
  });

  it('hands a group over once it holds maxGroupSize ops, keeping every effect in submission order', async () => {
    const runner = new FakeRunner();
    const committer = new GroupCommitter<WriteOp, OpResult>(runner, { maxGroupSize: 8 });
    const effects: string[] = [];
    const ids = Array.from({ length: 20 }, (_, i) => `${i}`);
    await Promise.all(ids.map((id) => committer.submit(op(id), () => effects.push(id))));
    assert.deepEqual(runner.batches.map((b) => b.length), [8, 8, 4]);
    assert.deepEqual(runner.batches.flat(), ids);
    assert.deepEqual(effects, ids);
    await committer.drain();
  });

  it('a failed commit fails every op in its group and runs no effect', async () => {
    const runner = new FakeRunner();
    runner.failNext = true;
    const committer = new GroupCommitter<WriteOp, OpResult>(runner);
    let effects = 0;
    const results = await Promise.allSettled([committer.submit(op('x'), () => effects++), committer.submit(op('y'), () => effects++)]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    assert.equal(effects, 0);
    await committer.submit(op('z'));
    await committer.close();
    await assert.rejects(committer.submit(op('after')));
  });
});

describe('writer thread', () => {
  it('poll() settles a reply that has arrived while the event loop is blocked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'focal-poll-'));
    const path = join(dir, 'focal.db');
    const db = openDatabase({ path });
    new DecisionStore(db).insertModel('default', JSON.stringify({ reward: { waitSeconds: 60, default: 0, aggregation: 'first' } }), 1, Date.now());
    const runner = new WorkerRunner<WriteOp, OpResult>(path, EXECUTOR_MODULE, 'test writer', () => {});
    try {
      await runner.run([op('warm-up')]); // the thread has started and opened its connection
      let settled: OpResult[] | undefined;
      void runner.run([op('polled')]).then((r) => { settled = r; });
      // Never yields to the event loop (only microtasks run), so the 'message' event cannot deliver the reply.
      const deadline = Date.now() + 10_000;
      while (settled === undefined && Date.now() < deadline) {
        runner.poll();
        for (let i = 0; i < 3; i++) await Promise.resolve();
        const spin = Date.now() + 2;
        while (Date.now() < spin) { /* let the writer thread commit */ }
      }
      assert.deepEqual(settled, [{ inserted: true }]);
      assert.equal((db.prepare("SELECT COUNT(*) AS n FROM events WHERE event_id = 'polled'").get() as { n: number }).n, 1);
    } finally {
      await runner.close();
      closeDatabase(db);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('in-memory database', () => {
  it('commits on the main thread when no worker can open the database', async () => {
    const h = await startHarness({ memory: true });
    try {
      const d = await request(h.focal.app).post('/decide').send({ actions: ['a', 'b'] }).expect(200);
      await request(h.focal.app).post('/reward').send({ eventId: d.body.eventId, reward: 1 }).expect(200);
      const m = await request(h.focal.app).get('/models/default').expect(200);
      assert.equal(m.body.stats.updates, 1);
    } finally {
      await h.close();
    }
  });
});
