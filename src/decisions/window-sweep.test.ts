import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DecisionsWriter } from './decisions-writer.js';
import type { Learn, OpResult } from './op-result.js';
import { SWEEP_BATCH, WindowSweep } from './window-sweep.js';

/** A writer whose log holds `due` expired windows: each sweep op closes up to its limit of them, in order. */
function fakeWriter(due: number, limits: number[]): DecisionsWriter {
  let left = due;
  let seq = 0;
  const writer = {
    isReady: true,
    accepting: () => writer,
    submit: (op: { op: string; limit: number }, effect: (r: OpResult) => void) => {
      assert.equal(op.op, 'sweep');
      limits.push(op.limit);
      const n = Math.min(left, op.limit);
      left -= n;
      const learns = Array.from({ length: n }, () => ({ model: 'm', seq: ++seq, eventId: `e${seq}`, payload: '', reward: 0 }) as unknown as Learn);
      const r = { learns } as unknown as OpResult;
      effect(r);
      return Promise.resolve(r);
    },
  };
  return writer as unknown as DecisionsWriter;
}

/** A clock that moves only when a window is learned, by what learning one costs: the test does not depend on the machine's speed. */
function clock(): { now: () => number; learn: (ms: number) => void } {
  let t = 0;
  return { now: () => t, learn: (ms) => { t += ms; } };
}

test('the sweep sizes its batches so that one op hands the event loop about 5 ms of learning, and closes every window', async () => {
  // Expensive learning (1 ms a window): after the first full batch, batches shrink to the floor of 8.
  const limits: number[] = [];
  let learned = 0;
  const c1 = clock();
  const slow = new WindowSweep(fakeWriter(400, limits), (r) => { for (const _ of r.learns ?? []) { c1.learn(1); learned++; } }, c1.now);
  assert.equal(await slow.run(), 400);
  assert.equal(learned, 400);
  assert.equal(limits[0], SWEEP_BATCH);
  assert.ok(limits.slice(1).every((l) => l === 8), `batches after the first: ${limits.slice(1).join(', ')}`);
  assert.ok(slow.batchSize() === 8);

  // Cheap learning (20 µs a window): batches stay at SWEEP_BATCH.
  const cheapLimits: number[] = [];
  const c2 = clock();
  const cheap = new WindowSweep(fakeWriter(1000, cheapLimits), (r) => { for (const _ of r.learns ?? []) c2.learn(0.02); }, c2.now);
  assert.equal(await cheap.run(), 1000);
  assert.ok(cheapLimits.every((l) => l === SWEEP_BATCH), `batches: ${cheapLimits.join(', ')}`);

  // In between (0.1 ms a window): about 50 a batch.
  const midLimits: number[] = [];
  const c3 = clock();
  const mid = new WindowSweep(fakeWriter(600, midLimits), (r) => { for (const _ of r.learns ?? []) c3.learn(0.1); }, c3.now);
  assert.equal(await mid.run(), 600);
  assert.deepEqual(midLimits.slice(0, 3), [SWEEP_BATCH, 50, 50], 'then 5 ms / 0.1 ms = 50 a batch');
});
