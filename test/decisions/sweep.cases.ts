import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe } from 'node:test';
import request from 'supertest';
import { createBanditModel, type BanditConfig } from '../../src/bandit/index.js';
import { SWEEP_BATCH } from '../../src/decisions/decision-service.js';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';
import { it, startHarness, type Harness } from './harness.js';

const actions = ['a', 'b', 'c'];

/** Decides `n` times on `model` through the service (the HTTP path adds nothing this test is about), 64 at a time. */
async function decideMany(h: Harness, model: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 64) {
    const wave = await Promise.all(Array.from({ length: Math.min(64, n - i) }, (_, j) =>
      h.service.decide({ model, context: { user: { k: (i + j) % 7 }, hour: (i + j) % 24 }, actions })));
    ids.push(...wave.map((d) => d.eventId));
  }
  return ids;
}

/** The model as the reward log alone rebuilds it (seq order), and its sha256. */
async function rebuildFromLog(h: Harness, model: string, config: BanditConfig): Promise<string> {
  const rows = await h.sql<{ reward: number; payload: string }>(`SELECT r.reward AS reward, e.payload AS payload FROM rewards r JOIN events e ON e.event_id = r.event_id
    WHERE r.model = ? AND r.learn = 1 ORDER BY r.seq`, model);
  const rebuilt = createBanditModel(config);
  for (const row of rows) {
    const p = decodeDecisionPayload(row.payload);
    rebuilt.learn({ context: p.context, actions: p.actions, chosen: p.chosen, probability: p.probability, reward: row.reward });
  }
  return createHash('sha256').update(rebuilt.snapshot()).digest('hex');
}

describe('closing reward windows in bulk', () => {
  const harnesses: Harness[] = [];
  after(async () => { for (const h of harnesses) await h.close(); });

  it('one sweep closes every expired window, in deadline order, learned as the log replays', async () => {
    // No timer: the test sweeps by hand with a clock past every deadline.
    const h = await startHarness({ decisions: { sweepIntervalMs: 3_600_000 } });
    harnesses.push(h);
    // Windows of 30 s, closed by a clock 60 s ahead: the rewards below must land inside them even on a loaded machine.
    await request(h.focal.app).put('/models/bulk').send({ reward: { waitSeconds: 30, default: 0.25 } }).expect(200);
    await request(h.focal.app).put('/models/summed').send({ reward: { waitSeconds: 30, default: -1, aggregation: 'sum' } }).expect(200);
    const n = SWEEP_BATCH * 5 + 17;
    const bulk = await decideMany(h, 'bulk', n);
    const summed = await decideMany(h, 'summed', 40);
    // A third of the summed events get two rewards each: their window closes with the total, not the default.
    const rewarded = summed.filter((_, i) => i % 3 === 0);
    for (const eventId of rewarded) {
      await request(h.focal.app).post('/reward').send({ eventId, reward: 0.5 }).expect(200);
      await request(h.focal.app).post('/reward').send({ eventId, reward: 0.25 }).expect(200);
    }
    // One window still open: its deadline is after the sweep's clock.
    const later = Date.now() + 60_000;
    await request(h.focal.app).put('/models/later').send({ reward: { waitSeconds: 3600 } }).expect(200);
    const open = (await decideMany(h, 'later', 1))[0]!;
    assert.equal(h.service.view('bulk').stats.pending, n);

    const closed = await h.service.sweep(later);
    assert.equal(closed, n + summed.length, 'every expired window of every model, in one call');

    const bulkView = h.service.view('bulk');
    assert.equal(bulkView.stats.pending, 0);
    assert.equal(bulkView.stats.defaultRewards, n);
    assert.equal(bulkView.stats.updates, n);
    assert.equal(bulkView.stats.rewardTotal, n * 0.25);
    const summedView = h.service.view('summed');
    assert.equal(summedView.stats.rewardTotal, rewarded.length * 0.75 + (summed.length - rewarded.length) * -1);
    assert.equal(summedView.stats.defaultRewards, summed.length - rewarded.length);
    assert.equal(h.service.view('later').stats.pending, 1);

    // Rows: each event closed once by its window, its learned row carrying the default or the total.
    const rows = await h.sql<{ id: string; deadline: number; eseq: number; why: string; seq: number; reward: number; source: string }>(`SELECT e.event_id AS id,
      e.deadline_at AS deadline, e.seq AS eseq, e.closed_reason AS why, r.seq AS seq, r.reward AS reward, r.source AS source
      FROM events e JOIN rewards r ON r.event_id = e.event_id AND r.learn = 1 WHERE e.model IN ('bulk', 'summed') ORDER BY r.seq`);
    assert.equal(rows.length, n + summed.length);
    assert.ok(rows.every((r) => r.why === 'window'));
    for (let i = 1; i < rows.length; i++) {
      const [a, b] = [rows[i - 1]!, rows[i]!];
      assert.ok(a.deadline < b.deadline || (a.deadline === b.deadline && a.eseq < b.eseq), 'the log holds the windows in deadline order');
    }
    assert.deepEqual(new Set(rows.filter((r) => r.source === 'aggregate').map((r) => r.id)), new Set(rewarded));
    assert.ok(rows.filter((r) => r.source === 'aggregate').every((r) => r.reward === 0.75));
    assert.deepEqual(await h.sql('SELECT closed FROM events WHERE event_id = ?', open), [{ closed: 0 }]);
    assert.ok(bulk.length === n);

    // Live learning followed the log: the model equals the log's rebuild; the counters equal the tables.
    assert.equal(bulkView.stats.fingerprint, await rebuildFromLog(h, 'bulk', bulkView.config as BanditConfig));
    assert.equal(summedView.stats.fingerprint, await rebuildFromLog(h, 'summed', summedView.config as BanditConfig));
    for (const name of ['bulk', 'summed', 'later', 'default']) {
      const v = h.service.view(name);
      const { meanReward: _m, updates: _u, rewardSeq: _r, fingerprint: _f, log: _l, replica: _p, ...counters } = v.stats;
      assert.deepEqual(counters, await h.storedStats(name, Date.parse(v.createdAt)), `${name}: in-memory counters = the tables`);
    }

    // Restart without snapshots: replaying the whole log gives the same models.
    const before = { bulk: bulkView.stats.fingerprint, summed: summedView.stats.fingerprint };
    const dir = h.dir;
    await h.close(false);
    harnesses.pop();
    await h.sql('DELETE FROM snapshots');
    const again = await startHarness({ dir, decisions: { sweepIntervalMs: 3_600_000 } });
    harnesses.push(again);
    assert.equal(again.service.view('bulk').stats.fingerprint, before.bulk);
    assert.equal(again.service.view('summed').stats.fingerprint, before.summed);
    assert.equal(again.service.view('bulk').stats.pending, 0);
    assert.equal(again.service.view('later').stats.pending, 1);
  });

  it('a sweep with nothing due writes nothing', async () => {
    const h = await startHarness({ memory: true, decisions: { sweepIntervalMs: 3_600_000 } });
    harnesses.push(h);
    await decideMany(h, 'default', 3);
    const seq = () => h.sql('SELECT COALESCE(MAX(seq), 0) AS s FROM rewards');
    const before = await seq();
    assert.equal(await h.service.sweep(), 0);
    assert.deepEqual(await seq(), before);
    assert.equal(h.service.view('default').stats.pending, 3);
  });
});
