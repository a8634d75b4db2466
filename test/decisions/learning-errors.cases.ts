import assert from 'node:assert/strict';
import { after, describe } from 'node:test';
import request from 'supertest';
import * as engine from '../../src/bandit/index.js';
import type { BanditEngine } from '../../src/decisions/decision-service.js';
import { it, startHarness, type Harness } from './harness.js';

/** A reward value the injected engine refuses to learn from: its learn() throws after the reward is committed. */
const POISON = 0.125;

/** The real engine, except that every model's learn() throws on a POISON reward (the same way on replay). */
const poisoned: BanditEngine = {
  ...engine,
  createBanditModel: (config, snapshot) => {
    const model = engine.createBanditModel(config, snapshot);
    const learn = model.learn.bind(model);
    model.learn = (event) => {
      if (event.reward === POISON) throw new Error('injected: this learning step fails');
      learn(event);
    };
    return model;
  },
};

async function learningErrors(h: Harness, model: string): Promise<number> {
  const text = (await request(h.focal.app).get('/metrics').expect(200)).text;
  const line = text.split('\n').find((l) => l.startsWith(`focal_bandit_learning_errors_total{model="${model}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('a learning step that throws after the commit', () => {
  const harnesses: Harness[] = [];
  after(async () => { for (const h of harnesses) await h.close(); });

  it('answers 2xx, counts it, keeps the model equal to the log, and a restart replays past it', async () => {
    const h = await startHarness({ decisions: { engine: poisoned, sweepIntervalMs: 3_600_000 } });
    harnesses.push(h);
    await request(h.focal.app).put('/models/p').send({ actions: ['a', 'b', 'c'], reward: { waitSeconds: 3600, default: POISON } }).expect(200);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await request(h.focal.app).post('/decide').send({ model: 'p', context: { i } }).expect(200)).body.eventId);

    // Ten client rewards, half of them poisoned: every one is durable, so every one is a 200.
    for (let i = 0; i < 10; i++) {
      const res = await request(h.focal.app).post('/reward').send({ eventId: ids[i], reward: i % 2 === 0 ? POISON : 1 });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    const batch = await request(h.focal.app).post('/reward').send({ events: [{ eventId: ids[10], reward: POISON }, { eventId: ids[11], reward: 0 }] }).expect(200);
    assert.deepEqual(batch.body.results.map((r: { status: number }) => r.status), [200, 200]);
    // The other eight windows close with the (poisoned) default reward.
    assert.equal(await h.service.sweep(Date.now() + 3_601_000), 8);

    const failed = 5 + 1 + 8;
    assert.equal(await learningErrors(h, 'p'), failed);
    const view = (await request(h.focal.app).get('/models/p').expect(200)).body;
    assert.equal(view.stats.updates, 20 - failed, 'the failed steps are not counted as updates');
    const maxSeq = (await h.sql<{ s: number }>(`SELECT MAX(seq) AS s FROM rewards WHERE model = 'p'`))[0]!.s;
    assert.equal(view.stats.rewardSeq, maxSeq, 'the model moved past the failed rows');
    assert.equal(view.stats.pending, 0);
    assert.equal(view.stats.clientRewards, 12);
    // Later rewards still learn.
    const next = (await request(h.focal.app).post('/decide').send({ model: 'p' }).expect(200)).body.eventId;
    await request(h.focal.app).post('/reward').send({ eventId: next, reward: 1 }).expect(200);
    const live = (await request(h.focal.app).get('/models/p').expect(200)).body;
    assert.equal(live.stats.updates, 20 - failed + 1);

    // Restart after a snapshot: nothing to replay, same model, service ready.
    const dir = h.dir;
    await h.close(false);
    harnesses.pop();
    const warm = await startHarness({ dir, decisions: { engine: poisoned, sweepIntervalMs: 3_600_000 } });
    await request(warm.focal.app).get('/readyz').expect(200);
    assert.equal((await request(warm.focal.app).get('/models/p').expect(200)).body.stats.fingerprint, live.stats.fingerprint);
    await warm.close(false);

    // Restart with no snapshot (as after a crash right after start): replay meets every failing row, records it and goes on.
    await warm.sql(`DELETE FROM snapshots WHERE model = 'p'`);
    const cold = await startHarness({ dir, decisions: { engine: poisoned, sweepIntervalMs: 3_600_000 } });
    harnesses.push(cold);
    await request(cold.focal.app).get('/readyz').expect(200);
    const replayed = (await request(cold.focal.app).get('/models/p').expect(200)).body;
    assert.equal(replayed.stats.fingerprint, live.stats.fingerprint, 'the replayed model equals the live one');
    assert.equal(replayed.stats.updates, live.stats.updates);
    assert.equal(replayed.stats.rewardSeq, live.stats.rewardSeq);
    assert.equal(await learningErrors(cold, 'p'), failed, 'replay counted the failed rows');
    // And it serves.
    const d = (await request(cold.focal.app).post('/decide').send({ model: 'p' }).expect(200)).body.eventId;
    await request(cold.focal.app).post('/reward').send({ eventId: d, reward: POISON }).expect(200);
    assert.equal(await learningErrors(cold, 'p'), failed + 1);
  });
});
