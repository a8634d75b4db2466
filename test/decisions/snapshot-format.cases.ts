import assert from 'node:assert/strict';
import { after, describe } from 'node:test';
import request from 'supertest';
import { it, startHarness, type Harness } from './harness.js';

describe('a snapshot in an older learner format', () => {
  const harnesses: Harness[] = [];
  after(async () => { for (const h of harnesses) await h.close(); });

  it('is rebuilt from the log at start-up instead of stopping the service (bayes-linear: shared → per action)', async () => {
    const h = await startHarness({ decisions: { sweepIntervalMs: 3_600_000 } });
    harnesses.push(h);
    // A model as an earlier version stored it: one shared posterior (its snapshot holds that learner's state).
    const learner = { name: 'bayes-linear', perAction: false, dims: 16 };
    await request(h.focal.app).put('/models/t').send({ actions: ['a', 'b', 'c'], strategy: { name: 'thompson' }, learner }).expect(200);
    for (let i = 0; i < 12; i++) {
      const d = (await request(h.focal.app).post('/decide').send({ model: 't', context: { i: i % 3 } }).expect(200)).body;
      await request(h.focal.app).post('/reward').send({ eventId: d.eventId, reward: d.action === ['a', 'b', 'c'][i % 3] ? 1 : 0 }).expect(200);
    }
    const dir = h.dir;
    await h.close(false);
    harnesses.pop();
    // The stored configuration loses `perAction`, as configurations stored before it existed: it now means per action.
    const [row] = await h.sql<{ config: string }>(`SELECT config FROM models WHERE name = 't'`);
    const config = JSON.parse(row!.config) as { learner: Record<string, unknown> };
    delete config.learner['perAction'];
    await h.sql(`UPDATE models SET config = ? WHERE name = 't'`, JSON.stringify(config));

    const next = await startHarness({ dir, decisions: { sweepIntervalMs: 3_600_000 } });
    harnesses.push(next);
    await request(next.focal.app).get('/readyz').expect(200);
    const view = (await request(next.focal.app).get('/models/t').expect(200)).body;
    assert.equal(view.stats.updates, 12, 'every rewarded event in the log was learned again');
    const d = await request(next.focal.app).post('/decide').send({ model: 't', context: { i: 1 } }).expect(200);
    assert.ok(d.body.probability > 0 && d.body.probability <= 1);
  });
});
