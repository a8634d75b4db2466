import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import request from 'supertest';
import { defaultBanditConfig } from '../../src/bandit/index.js';
import { it, startHarness, type Harness } from './harness.js';

describe('bandit models: CRUD and validation', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  it('has a default model from the start', async () => {
    const res = await request(h.focal.app).get('/models/default').expect(200);
    assert.equal(res.body.name, 'default');
    assert.equal(res.body.version, 1);
    assert.equal(res.body.config.strategy.name, defaultBanditConfig().strategy.name);
    assert.equal(res.body.config.reward.aggregation, 'first');
    assert.equal(res.body.stats.decisions, 0);
    assert.match(res.body.stats.fingerprint, /^[0-9a-f]{64}$/);
    const list = await request(h.focal.app).get('/models').expect(200);
    assert.deepEqual(list.body.models.map((m: { name: string }) => m.name), ['default']);
  });

  it('a bare PUT creates a model with the default configuration', async () => {
    const res = await request(h.focal.app).put('/models/bare').expect(200);
    const def = await request(h.focal.app).get('/models/default').expect(200);
    assert.deepEqual(res.body.config, def.body.config);
    assert.equal(res.body.version, 1);
  });

  it('creates, reconfigures (version bump, reset on a new strategy) and deletes', async () => {
    const created = await request(h.focal.app).put('/models/news').send({
      strategy: { name: 'squarecb', gamma: 100 }, learner: { name: 'linear', interactions: [['user', 'action']] },
      actions: ['sports', 'politics', 'music'], reward: { waitSeconds: 60, default: 0, aggregation: 'sum' },
    }).expect(200);
    assert.equal(created.body.config.strategy.gamma, 100);
    assert.deepEqual(created.body.config.actions, [{ id: 'sports' }, { id: 'politics' }, { id: 'music' }]);
    assert.equal(created.body.config.reward.aggregation, 'sum');

    const same = await request(h.focal.app).put('/models/news').send({
      strategy: { name: 'squarecb', gamma: 100 }, learner: { name: 'linear', interactions: [['user', 'action']] },
      actions: ['sports', 'politics', 'music'], reward: { waitSeconds: 60, default: 0, aggregation: 'sum' },
    }).expect(200);
    assert.equal(same.body.version, 1, 'an identical PUT changes nothing');

    const thompson = await request(h.focal.app).put('/models/news').send({ strategy: { name: 'thompson' } }).expect(200);
    assert.equal(thompson.body.version, 2);
    assert.equal(thompson.body.config.learner.name, 'bayes-linear', 'thompson gets a learner with a posterior');

    await request(h.focal.app).delete('/models/news').expect(204);
    await request(h.focal.app).get('/models/news').expect(404);
    await request(h.focal.app).delete('/models/news').expect(404);
  });

  it('DELETE /models/default resets it instead of removing it', async () => {
    await request(h.focal.app).put('/models/default').send({ strategy: { name: 'softmax', lambda: 3 } }).expect(200);
    const reset = await request(h.focal.app).delete('/models/default').expect(200);
    assert.equal(reset.body.config.strategy.name, defaultBanditConfig().strategy.name);
    assert.ok(reset.body.version >= 3);
    await request(h.focal.app).get('/models/default').expect(200);
  });

  it('rejects unknown names and out-of-range parameters with a 400 naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ strategy: { name: 'nope' } }, '/strategy/name'],
      [{ strategy: { name: 'epsilon-greedy', epsilon: 1.5 } }, '/strategy/epsilon'],
      [{ strategy: { name: 'softmax', epsilon: 0.1 } }, '/strategy/epsilon'],
      [{ strategy: { name: 'squarecb', gamma: 0 } }, '/strategy/gamma'],
      [{ strategy: { name: 'bagging', bags: 0 } }, '/strategy/bags'],
      [{ learner: { name: 'forest' } }, '/learner/name'],
      [{ learner: { name: 'linear', bits: 40 } }, '/learner/bits'],
      [{ reward: { aggregation: 'max' } }, '/reward/aggregation'],
      [{ reward: { waitSeconds: -1 } }, '/reward/waitSeconds'],
      [{ actions: ['a', 'a'] }, '/actions/1/id'],
      [{ colour: 'blue' }, '/colour'],
    ];
    for (const [body, path] of cases) {
      const res = await request(h.focal.app).put('/models/bad').send(body as object).expect(400);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.ok(res.body.errors.some((e: { path: string }) => e.path === path), `${JSON.stringify(body)} → ${JSON.stringify(res.body.errors)}`);
    }
    await request(h.focal.app).get('/models/bad').expect(404);
  });

  it('the engine\'s own check becomes a 400 with its path', async () => {
    const res = await request(h.focal.app).put('/models/bad').send({ strategy: { name: 'linucb' }, learner: { name: 'linear' } }).expect(400);
    assert.equal(res.body.errors[0].path, '/learner/name');
  });

  it('validates model names', async () => {
    await request(h.focal.app).put('/models/-bad').expect(400);
    await request(h.focal.app).put(`/models/${'a'.repeat(65)}`).expect(400);
    await request(h.focal.app).put('/models/ok.name_1-2').expect(200);
  });

  it('PUT and DELETE need the admin key when one is configured', async () => {
    const secured = await startHarness({ config: { adminKey: 'admin-key-0123456789', apiKey: 'user-key-0123456789' } });
    try {
      await request(secured.focal.app).put('/models/x').set('Authorization', 'Bearer user-key-0123456789').expect(403);
      await request(secured.focal.app).put('/models/x').set('Authorization', 'Bearer admin-key-0123456789').expect(200);
      await request(secured.focal.app).get('/models/x').set('Authorization', 'Bearer user-key-0123456789').expect(200);
    } finally {
      await secured.close();
    }
  });

  it('describes its routes in /openapi.json', async () => {
    const res = await request(h.focal.app).get('/openapi.json').expect(200);
    for (const p of ['/models/{name}', '/models', '/decide', '/reward']) assert.ok(res.body.paths[p], p);
  });
});
