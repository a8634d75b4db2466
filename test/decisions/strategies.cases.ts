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

/**
 * HTTP fills omitted parameters from the route schema (ajv's defaults) before the engine sees them, while an
 * in-process caller gets the engine's own fallbacks: both must be the defaults /openapi.json publishes.
 */
describe('the defaults published in /openapi.json are the ones a bare strategy gets, over HTTP and in process', () => {
  let h: Harness;
  /** Strategy name → its parameters' published defaults, from the PUT /models/{name} schema's if/then branches. */
  const published = new Map<string, Record<string, unknown>>();
  before(async () => {
    h = await startHarness();
    const doc = (await request(h.focal.app).get('/openapi.json').expect(200)).body as unknown;
    const put = (doc as { paths: Record<string, { put?: unknown }> }).paths['/models/{name}']!.put;
    const walk = (node: unknown): void => {
      if (node === null || typeof node !== 'object') return;
      const branch = node as { if?: { properties?: { name?: { const?: string } } }; then?: { properties?: Record<string, { default?: unknown }> } };
      const name = branch.if?.properties?.name?.const;
      if (name !== undefined && branch.then?.properties !== undefined) {
        const defaults = Object.fromEntries(Object.entries(branch.then.properties).filter(([, p]) => p && typeof p === 'object' && 'default' in p).map(([k, p]) => [k, p.default]));
        published.set(name, { ...published.get(name), ...defaults });
      }
      for (const child of Object.values(node)) walk(child);
    };
    walk(put);
  });
  after(async () => { await h.close(); });

  for (const name of ['epsilon-greedy', 'softmax', 'squarecb', 'bagging', 'linucb', 'thompson', 'neural-linear', 'auto']) {
    it(`a bare ${name} reads back with its published defaults`, async () => {
      const defaults = published.get(name);
      assert.ok(defaults && Object.keys(defaults).length > 0, `/openapi.json publishes defaults for ${name}`);
      const put = await request(h.focal.app).put(`/models/d-${name}`).send({ strategy: { name } }).expect(200);
      const strategy = put.body.config.strategy as Record<string, unknown>;
      const engine = normalizeBanditConfig({ strategy: { name } } as never).strategy as unknown as Record<string, unknown>;
      for (const [key, value] of Object.entries(defaults)) {
        assert.deepEqual(strategy[key], value, `${name}.${key} over HTTP`);
        assert.deepEqual(engine[key], value, `${name}.${key} in process`);
      }
    });
  }
});
