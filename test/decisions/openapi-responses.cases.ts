import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import request from 'supertest';
import { learnerRegistry } from '../../src/bandit/index.js';
import { STRATEGY_NAMES } from '../../src/decisions/model-config.js';
import { OpenApiResponses } from '../openapi-responses.js';
import { currentStore, it, startHarness, type Harness } from './harness.js';

/**
 * Every response of the bandit and operations routes, success and problem documents, validates against the
 * schema GET /openapi.json gives for its route and status.
 */
describe('responses match the OpenAPI document', () => {
  let h: Harness;
  let secured: Harness;
  let api: OpenApiResponses;
  before(async () => {
    h = await startHarness({ config: { limits: { rewardBatch: 3, actionsPerRequest: 8 } }, decisions: { sweepIntervalMs: 3_600_000 } });
    secured = await startHarness({ memory: true, config: { apiKey: 'user-key-0123456789', adminKey: 'admin-key-0123456789' } });
    api = new OpenApiResponses((await request(h.focal.app).get('/openapi.json').expect(200)).body);
  });
  after(async () => { await h.close(); await secured.close(); });

  async function call(method: 'get' | 'put' | 'post' | 'delete', path: string, body?: unknown, app = h.focal.app, auth?: string) {
    let req = request(app)[method](path);
    if (auth) req = req.set('Authorization', `Bearer ${auth}`);
    const res = body === undefined ? await req : typeof body === 'string' ? await req.set('content-type', 'application/json').send(body) : await req.send(body as object);
    api.check(method, path, res);
    return res;
  }

  it('operations', async () => {
    assert.equal((await call('get', '/healthz')).status, 200);
    assert.equal((await call('get', '/readyz')).status, 200);
    assert.equal((await call('get', '/metrics')).status, 200);
    assert.equal((await call('get', '/openapi.json')).status, 200);
  });

  it('models: every strategy and learner, and their errors', async () => {
    for (const strategy of STRATEGY_NAMES) {
      for (const learner of Object.keys(learnerRegistry)) {
        const res = await call('put', `/models/oa-${strategy}-${learner}`, { strategy: { name: strategy }, learner: { name: learner }, actions: ['a', 'b'] });
        assert.ok([200, 400].includes(res.status));
      }
    }
    assert.equal((await call('put', '/models/bare')).status, 200);
    assert.equal((await call('put', '/models/bad', { strategy: { name: 'nope' } })).status, 400);
    assert.equal((await call('put', '/models/-bad')).status, 400);
    assert.equal((await call('put', '/models/bad', '{"strategy":')).status, 400);
    assert.equal((await call('get', '/models/oa-squarecb-linear')).status, 200);
    assert.equal((await call('get', '/models/none')).status, 404);
    assert.equal((await call('delete', '/models/bare')).status, 204);
    assert.equal((await call('delete', '/models/bare')).status, 404);
    assert.equal((await call('delete', '/models/default')).status, 200);
  });

  it('decide and reward, single and batch, success and every problem', async () => {
    await call('put', '/models/summed', { reward: { aggregation: 'sum', waitSeconds: 3600 }, actions: ['x', 'y'] });
    const d = await call('post', '/decide', { context: { u: { a: 1 } }, actions: ['a', 'b', { id: 'c', features: { f: 2 } }] });
    assert.equal(d.status, 200);
    assert.equal((await call('post', '/decide', { model: 'summed' })).status, 200);
    assert.equal((await call('post', '/decide', { actions: ['a', 'a'] })).status, 400);
    assert.equal((await call('post', '/decide', { actions: [] , context: 5 })).status, 400);
    assert.equal((await call('post', '/decide', { model: 'none', actions: ['a'] })).status, 404);
    assert.equal((await call('post', '/decide', { actions: ['a'], eventId: d.body.eventId })).status, 409);
    assert.equal((await call('post', '/decide', { actions: Array.from({ length: 9 }, (_, i) => `a${i}`) })).status, 413);
    assert.equal((await call('post', '/decide', '{"actions":')).status, 400);

    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await call('post', '/decide', { actions: ['a', 'b'], context: { i } })).body.eventId);
    const s = (await call('post', '/decide', { model: 'summed' })).body.eventId;
    assert.equal((await call('post', '/reward', { eventId: ids[0], reward: 1 })).status, 200);
    assert.equal((await call('post', '/reward', { eventId: s, reward: 0.5 })).status, 200);
    assert.equal((await call('post', '/reward', { eventId: ids[0], reward: 1 })).status, 409);
    assert.equal((await call('post', '/reward', { eventId: 'nope', reward: 1 })).status, 404);
    assert.equal((await call('post', '/reward', { eventId: ids[1] })).status, 400);
    assert.equal((await call('post', '/reward', { reward: 'x' })).status, 400);
    const batch = await call('post', '/reward', { events: [{ eventId: ids[2], reward: 1 }, { eventId: 'nope', reward: 1 }, { eventId: ids[0], reward: 0 }] });
    assert.deepEqual(batch.body.results.map((r: { status: number }) => r.status), [200, 404, 409]);
    assert.equal((await call('post', '/reward', { events: ids.map((eventId) => ({ eventId, reward: 1 })) })).status, 413);
    // A closed window: 410, with the reward that was applied.
    await call('put', '/models/short', { reward: { waitSeconds: 0 } });
    const late = (await call('post', '/decide', { model: 'short', actions: ['a'] })).body.eventId;
    assert.equal((await call('post', '/reward', { eventId: late, reward: 1 })).status, 410);
    // Statistics and estimates populated.
    // (PostgreSQL computes the estimates from a read of the shared log that the first GET starts: poll briefly.)
    let view = await call('get', '/models/default');
    for (let waited = 0; view.body.offPolicy === null && currentStore() === 'postgres' && waited < 5_000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      view = await call('get', '/models/default');
    }
    assert.notEqual(view.body.offPolicy, null);
    assert.equal((await call('get', '/models')).status, 200);
  });

  it('401 and 403 under keys', async () => {
    assert.equal((await call('get', '/models', undefined, secured.focal.app)).status, 401);
    assert.equal((await call('post', '/decide', { actions: ['a'] }, secured.focal.app)).status, 401);
    assert.equal((await call('put', '/models/x', {}, secured.focal.app, 'user-key-0123456789')).status, 403);
    assert.equal((await call('put', '/models/x', {}, secured.focal.app, 'admin-key-0123456789')).status, 200);
  });

  it('every operation was checked with a success response', () => {
    assert.deepEqual(api.unexercised(['/healthz', '/readyz', '/metrics', '/openapi.json', '/models', '/models/{name}', '/decide', '/reward']), []);
  });
});
