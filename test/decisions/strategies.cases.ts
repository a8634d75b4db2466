import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import fc from 'fast-check';
import request from 'supertest';
import { normalizeBanditConfig } from '../../src/bandit/index.js';
import { it, startHarness, type Harness } from './harness.js';

/** One configuration per strategy name the schema accepts. */
const STRATEGIES: Record<string, unknown>[] = [
  { name: 'greedy' }, { name: 'uniform' }, { name: 'epsilon-greedy', epsilon: 0.4 }, { name: 'softmax', lambda: 3 },
  { name: 'squarecb', gamma: 50 }, { name: 'bagging', bags: 3 }, { name: 'linucb', alpha: 1 }, { name: 'thompson', scale: 1 },
  { name: 'neural-linear', hidden: 8, scale: 1 },
];

const featureValue = fc.oneof(fc.double({ min: -1000, max: 1000, noNaN: true }), fc.constantFrom('a', 'b', 'DE', 'FR'), fc.boolean());
const features = fc.dictionary(fc.constantFrom('x', 'y', 'z', 'topic', 'len'), featureValue, { maxKeys: 4 });

describe('every strategy over HTTP: a PMF ranked best first that sums to 1, learning from rewards', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  for (const strategy of STRATEGIES) {
    it(String(strategy.name), async () => {
      const model = `s-${String(strategy.name)}`;
      const put = await request(h.focal.app).put(`/models/${model}`).send({ strategy, reward: { waitSeconds: 3600 } }).expect(200);
      assert.equal(put.body.config.strategy.name, strategy.name);
      await fc.assert(fc.asyncProperty(
        fc.record({ user: features, hour: fc.integer({ min: 0, max: 23 }) }),
        fc.uniqueArray(fc.record({ id: fc.constantFrom('a1', 'a2', 'a3', 'a4', 'a5', 'a6'), features }), { minLength: 1, maxLength: 6, selector: (a) => a.id }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (context, actions, reward) => {
          const res = await request(h.focal.app).post('/decide').send({ model, context, actions }).expect(200);
          const ranking = res.body.ranking as { id: string; probability: number }[];
          assert.equal(ranking.length, actions.length);
          assert.ok(Math.abs(ranking.reduce((s, r) => s + r.probability, 0) - 1) < 1e-9);
          for (const r of ranking) assert.ok(r.probability >= 0 && r.probability <= 1);
          for (let i = 1; i < ranking.length; i++) assert.ok(ranking[i - 1]!.probability >= ranking[i]!.probability);
          assert.ok(res.body.probability > 0, 'the drawn action had positive probability');
          assert.equal(ranking.find((r) => r.id === res.body.action)!.probability, res.body.probability);
          await request(h.focal.app).post('/reward').send({ eventId: res.body.eventId, reward }).expect(200);
        },
      ), { numRuns: 12 });
      const stats = (await request(h.focal.app).get(`/models/${model}`).expect(200)).body.stats;
      assert.equal(stats.updates, 12);
    });
  }
});

describe('schema defaults agree with the engine', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  for (const name of ['epsilon-greedy', 'softmax', 'squarecb', 'bagging', 'linucb', 'thompson', 'neural-linear']) {
    it(`a bare ${name} gets the engine's own defaults`, async () => {
      const put = await request(h.focal.app).put(`/models/d-${name}`).send({ strategy: { name } }).expect(200);
      const engine = normalizeBanditConfig({ strategy: { name } } as never);
      for (const [key, value] of Object.entries(put.body.config.strategy as Record<string, unknown>)) {
        const expected = (engine.strategy as unknown as Record<string, unknown>)[key];
        if (expected !== undefined) assert.deepEqual(value, expected, `${name}.${key}`);
      }
    });
  }
});
