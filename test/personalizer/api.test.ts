import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { prototypeState } from '../helpers.js';
import { ACTIONS, ADMIN_KEY, API_KEY, contextFor, startPersonalizer, type PersonalizerHarness } from './harness.js';

type Body = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const V = 'api-version=2022-09-01-preview';
const key = { 'Ocp-Apim-Subscription-Key': API_KEY };
const admin = { 'Ocp-Apim-Subscription-Key': ADMIN_KEY };

/** The /personalizer?api-version=2022-09-01-preview form, keys and hostile input, over HTTP without a client library. */
describe('Personalizer API: the 2022-09-01-preview form, keys, bad input', { timeout: 180_000 }, () => {
  let h: PersonalizerHarness;
  before(async () => { h = await startPersonalizer(); });
  after(async () => { await h.close(); });

  const count = () => (h.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;

  it('ranks and rewards under /personalizer?api-version=…; the api-version is required', async () => {
    const r = await request(h.focal.app).post(`/personalizer/rank?${V}`).set(key).send({ contextFeatures: contextFor(0).contextFeatures, actions: ACTIONS });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.ok(ACTIONS.some((a) => a.id === r.body.rewardActionId));
    assert.equal((await request(h.focal.app).post(`/personalizer/events/${r.body.eventId}/reward?${V}`).set(key).send({ value: 1 })).status, 204);
    for (const query of ['', '?api-version=2019-01-01']) {
      const bad = await request(h.focal.app).post(`/personalizer/rank${query}`).set(key).send({ actions: ACTIONS });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'InvalidRankRequest');
      assert.match(bad.body.error.message, /api-version/);
    }
  });

  it('evaluations in the 2022 shape: PUT under a chosen id, list as { value }, results under content', async () => {
    for (let i = 1; i < 80; i++) {
      const { contextFeatures, best } = contextFor(i);
      const r = await request(h.focal.app).post(`/personalizer/rank?${V}`).set(key).send({ contextFeatures, actions: ACTIONS });
      await request(h.focal.app).post(`/personalizer/events/${r.body.eventId}/reward?${V}`).set(key).send({ value: r.body.rewardActionId === best ? 1 : 0 });
    }
    const contract = { name: 'e2022', startTime: new Date(Date.now() - 3_600_000).toISOString(), endTime: new Date(Date.now() + 60_000).toISOString(), policies: [{ name: 'eps', arguments: '--cb_explore_adf --epsilon 0.1 -q ::' }] };
    const put = await request(h.focal.app).put(`/personalizer/evaluations/my-eval?${V}`).set(key).send(contract);
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const again = await request(h.focal.app).put(`/personalizer/evaluations/my-eval?${V}`).set(key).send(contract);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'EvaluationAlreadyExists');
    let ev: Body = {};
    for (let i = 0; i < 600 && ev.status !== 'Succeeded' && ev.status !== 'Failed'; i++) {
      ev = (await request(h.focal.app).get(`/personalizer/evaluations/my-eval?${V}`).set(key)).body as Body;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(ev.status, 'Succeeded', JSON.stringify(ev));
    assert.deepEqual(ev.content.value.map((p: Body) => p.policySource), ['Online', 'Baseline', 'Random', 'Custom']);
    for (const p of ev.content.value as Body[]) assert.ok(Number.isFinite(p.summary[0].expectedReward) && p.summary[0].confidenceInterval.length === 2);
    const list = await request(h.focal.app).get(`/personalizer/evaluations?${V}`).set(key);
    assert.deepEqual(list.body.value.map((e: Body) => e.id), ['my-eval']);
    // The same evaluation through the v1.1 form.
    assert.equal((await request(h.focal.app).get('/personalizer/v1.1-preview.3/evaluations/my-eval').set(key)).body.status, 'completed');
    const none = await request(h.focal.app).put(`/personalizer/evaluations/empty?${V}`).set(key).send({ ...contract, startTime: '2001-01-01T00:00:00Z', endTime: '2001-01-02T00:00:00Z' });
    assert.equal(none.status, 400);
    assert.equal(none.body.error.code, 'NoLogsExistInDateRange');
  });

  it('keys: Ocp-Apim-Subscription-Key or Bearer; admin operations need the admin key', async () => {
    assert.equal((await request(h.focal.app).get('/personalizer/v1.0/configurations/service')).status, 401);
    const wrong = await request(h.focal.app).get('/personalizer/v1.0/configurations/service').set('Ocp-Apim-Subscription-Key', 'wrong-key-0000000000000');
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, '401');
    assert.equal((await request(h.focal.app).get('/personalizer/v1.0/configurations/service').set('Authorization', `Bearer ${API_KEY}`)).status, 200);
    const forbidden = await request(h.focal.app).delete('/personalizer/v1.0/model').set(key);
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.error.code, '403');
    assert.equal((await request(h.focal.app).delete('/personalizer/v1.0/model').set(admin)).status, 204);
    // Focal's own routes do not take the Azure header.
    assert.equal((await request(h.focal.app).get('/models').set(key)).status, 401);
  });

  it('bad input gets Personalizer\'s error shape, a precise code and changes nothing', async () => {
    const n = count();
    const prototypeBefore = prototypeState();
    const cases: [string, () => request.Test, number, string][] = [
      ['malformed JSON', () => request(h.focal.app).post('/personalizer/v1.0/rank').set(key).set('content-type', 'application/json').send('{"actions": ['), 400, 'InvalidRankRequest'],
      ['wrong media type', () => request(h.focal.app).post('/personalizer/v1.0/rank').set(key).set('content-type', 'text/plain').send('hello'), 415, 'BadRequest'],
      ['no actions', () => request(h.focal.app).post('/personalizer/v1.0/rank').set(key).send({ contextFeatures: [] }), 400, 'InvalidRankRequest'],
      ['unknown member', () => request(h.focal.app).post('/personalizer/v1.0/rank').set(key).send({ actions: ACTIONS, surprise: 1 }), 400, 'InvalidRankRequest'],
      ['features not a list', () => request(h.focal.app).post('/personalizer/v1.0/rank').set(key).send({ actions: ACTIONS, contextFeatures: { user: 1 } }), 400, 'InvalidRankRequest'],
      ['an array feature', () => request(h.focal.app).post('/personalizer/v1.0/rank').set(key).send({ actions: ACTIONS, contextFeatures: [{ user: { embedding: [0.1, 0.2] } }] }), 400, 'InvalidRankRequest'],
      ['a feature twice', () => request(h.focal.app).post('/personalizer/v1.0/rank').set(key).send({ actions: ACTIONS, contextFeatures: [{ a: 1 }, { a: 2 }] }), 400, 'InvalidRankRequest'],
      ['1e999', () => request(h.focal.app).post('/personalizer/v1.0/rank').set(key).set('content-type', 'application/json').send('{"actions":[{"id":"a"}],"contextFeatures":[{"v":1e999}]}'), 400, 'InvalidRankRequest'],
      ['__proto__ key', () => request(h.focal.app).post('/personalizer/v1.0/rank').set(key).set('content-type', 'application/json').send('{"actions":[{"id":"a"}],"contextFeatures":[{"__proto__":{"polluted":1}}]}'), 400, 'InvalidRankRequest'],
      ['reward out of range', () => request(h.focal.app).post('/personalizer/v1.0/events/some-event/reward').set(key).send({ value: 2 }), 400, 'InvalidRewardRequest'],
      ['reward not a number', () => request(h.focal.app).post('/personalizer/v1.0/events/some-event/reward').set(key).send({ value: '1' }), 400, 'InvalidRewardRequest'],
      ['policy without arguments', () => request(h.focal.app).put('/personalizer/v1.0/configurations/policy').set(admin).send({ name: 'x' }), 400, 'InvalidPolicyContract'],
      ['evaluation without a range', () => request(h.focal.app).post('/personalizer/v1.0/evaluations').set(key).send({ name: 'x', policies: [] }), 400, 'InvalidEvaluationContract'],
      ['duplicate policy names', () => request(h.focal.app).post('/personalizer/v1.0/evaluations').set(key).send({ name: 'x', startTime: '2026-01-01T00:00:00Z', endTime: '2027-01-01T00:00:00Z', policies: [{ name: 'a', arguments: '--cb_explore_adf' }, { name: 'a', arguments: '--cb_explore_adf' }] }), 400, 'DuplicateCustomPolicyNames'],
      ['bad policy in an evaluation', () => request(h.focal.app).post('/personalizer/v1.0/evaluations').set(key).send({ name: 'x', startTime: '2026-01-01T00:00:00Z', endTime: '2027-01-01T00:00:00Z', policies: [{ name: 'a', arguments: '--cb_explore_adf --cover 2' }] }), 400, 'InvalidPolicyConfiguration'],
      ['model file as JSON', () => request(h.focal.app).put('/personalizer/v1.0/model').set(admin).send({ not: 'a model' }), 415, 'BadRequest'],
    ];
    for (const [what, send, status, code] of cases) {
      const r = await send();
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
      assert.match(r.headers['content-type'] ?? '', /^application\/json/, what);
      assert.equal(r.body.error?.code, code, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(typeof r.body.error.message, 'string', what);
      assert.equal(r.headers['x-ms-error-code'], code, what);
    }
    assert.equal(count(), n);
    assert.deepEqual(prototypeState(), prototypeBefore);
  });

  it('the Personalizer routes stay out of /openapi.json', async () => {
    const doc = (await request(h.focal.app).get('/openapi.json')).body as { paths: Record<string, unknown> };
    assert.ok(Object.keys(doc.paths).length > 5);
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/personalizer')));
  });
});
