import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import request from 'supertest';
import { STRATEGY_NAMES } from '../../src/decisions/model-config.js';
import { learnerRegistry, strategyRegistry } from '../../src/bandit/index.js';
import { it, startHarness, type Harness } from './harness.js';

/**
 * GET /models/{name} → its `config` → PUT /models/{copy} gives 200 and the same config, for every
 * strategy × learner the engine accepts (linucb and thompson need a posterior: bayes-linear only).
 * Every parameter the engine fills in must therefore be one the request schema accepts.
 */
describe('configurations round-trip', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ memory: true }); });
  after(async () => { await h.close(); });

  const learners = Object.keys(learnerRegistry);
  assert.deepEqual([...STRATEGY_NAMES].sort(), Object.keys(strategyRegistry).sort(), 'the schema lists every strategy of the engine');

  for (const strategy of STRATEGY_NAMES) {
    for (const learner of learners) {
      it(`${strategy} × ${learner}`, async (t) => {
        const source = `rt-${strategy}-${learner}`;
        const put = await request(h.focal.app).put(`/models/${source}`).send({ strategy: { name: strategy }, learner: { name: learner } });
        if (put.status === 400) {
          // Only the documented refusals: a posterior strategy over a learner without one; auto over anything but linear.
          assert.equal(put.body.errors[0].path, '/learner/name', JSON.stringify(put.body));
          assert.ok((['linucb', 'thompson'].includes(strategy) && learner !== 'bayes-linear') || (strategy === 'auto' && learner !== 'linear'), `${strategy} × ${learner} refused: ${put.body.detail}`);
          t.diagnostic('refused as documented');
          return;
        }
        assert.equal(put.status, 200, JSON.stringify(put.body));
        const { config } = (await request(h.focal.app).get(`/models/${source}`).expect(200)).body as { config: Record<string, unknown> };
        const copy = await request(h.focal.app).put(`/models/copy-${strategy}-${learner}`).send(config);
        assert.equal(copy.status, 200, `PUT of the served config: ${JSON.stringify(copy.body)}`);
        assert.deepEqual(copy.body.config, config);
        // And once more onto itself: an identical configuration changes nothing.
        const again = await request(h.focal.app).put(`/models/${source}`).send(config).expect(200);
        assert.equal(again.body.version, 1);
      });
    }
  }

  it('a config with every optional parameter set round-trips', async () => {
    const full = {
      strategy: { name: 'neural-linear', hidden: 4, scale: 0.5, bodyRate: 0.2, forget: 0.99, memory: 256, trainEvery: 10 },
      learner: { name: 'linear', bits: 12, learningRate: 0.25, interactions: [['user', 'action']], ignoreLinear: ['user'], l2: 0.001, importanceWeighted: false, forget: 0.99 },
      actions: [{ id: 'a', features: { x: 1 } }, { id: 'b' }],
      reward: { waitSeconds: 30, default: -0.5, aggregation: 'sum' },
    };
    const put = await request(h.focal.app).put('/models/full').send(full).expect(200);
    assert.deepEqual(put.body.config, full);
    const bayes = { strategy: { name: 'linucb', alpha: 0.3 }, learner: { name: 'bayes-linear', perAction: false, dims: 32, prior: 2, noise: 0.5, interactions: [['context', 'action']], ignoreLinear: ['context'], importanceWeighted: true } };
    const b = await request(h.focal.app).put('/models/full-bayes').send(bayes).expect(200);
    assert.deepEqual(b.body.config.learner, bayes.learner);
    const copy = await request(h.focal.app).put('/models/full-bayes-copy').send(b.body.config).expect(200);
    assert.deepEqual(copy.body.config, b.body.config);
  });
});
