import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import request from 'supertest';
import { defaultBanditConfig } from '../../src/bandit/index.js';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';
import { it, startHarness, type Harness } from './harness.js';

const actions = [
  { id: 'sports', features: { topic: 'sports', length: 120 } },
  { id: 'music', features: { topic: 'music', length: 30 } },
  'politics',
];

describe('POST /decide', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ config: { limits: { actionsPerRequest: 8, featuresPerRequest: 40, stringLength: 64 } } }); });
  after(async () => { await h.close(); });

  it('answers the contract shape, a PMF summing to 1 ranked best first, and logs the decision', async () => {
    const res = await request(h.focal.app).post('/decide')
      .send({ context: { user: { age: 31, country: 'DE', premium: true }, hour: 14 }, actions }).expect(200);
    const b = res.body;
    assert.deepEqual(Object.keys(b).sort(), ['action', 'eventId', 'model', 'probability', 'ranking', 'strategy']);
    assert.match(b.eventId, /^[0-9a-f-]{36}$/);
    assert.equal(b.model, 'default');
    assert.equal(b.strategy, defaultBanditConfig().strategy.name);
    assert.equal(b.ranking.length, 3);
    const sum = b.ranking.reduce((s: number, r: { probability: number }) => s + r.probability, 0);
    assert.ok(Math.abs(sum - 1) < 1e-9, `sum ${sum}`);
    for (let i = 1; i < b.ranking.length; i++) assert.ok(b.ranking[i - 1].probability >= b.ranking[i].probability);
    assert.equal(b.ranking.find((r: { id: string }) => r.id === b.action).probability, b.probability);
    const [row] = await h.sql<{ model: string; kind: string; payload: string }>('SELECT model, kind, payload FROM events WHERE event_id = ?', b.eventId);
    assert.equal(row!.kind, 'decision');
    const payload = decodeDecisionPayload(row!.payload);
    assert.equal(payload.probability, b.probability);
    assert.equal(payload.actions[payload.chosen]!.id, b.action);
    assert.equal(payload.modelVersion, 1);
  });

  it('is reproducible for a given eventId and model state, and a reused eventId is a 409', async () => {
    const first = await request(h.focal.app).post('/decide').send({ context: { x: 1 }, actions, eventId: 'evt-1' }).expect(200);
    const again = await request(h.focal.app).post('/decide').send({ context: { x: 1 }, actions, eventId: 'evt-1' }).expect(409);
    assert.equal(again.body.status, 409);
    assert.equal(first.body.eventId, 'evt-1');
    assert.deepEqual(await h.sql("SELECT COUNT(*) AS n FROM events WHERE event_id = 'evt-1'"), [{ n: 1 }]);
  });

  it('concurrent requests with one eventId: exactly one wins', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => request(h.focal.app).post('/decide').send({ actions, eventId: 'race-1' })));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 409, 409, 409, 409, 409, 409, 409]);
  });

  it('a model reconfigured while decisions are in flight: every decision succeeds and logs the version that made it', async () => {
    await request(h.focal.app).put('/models/moving').send({ strategy: { name: 'epsilon-greedy', epsilon: 0.2 } }).expect(200);
    const decides = Array.from({ length: 12 }, (_, i) => request(h.focal.app).post('/decide').send({ model: 'moving', actions, eventId: `moving-${i}` }));
    const put = request(h.focal.app).put('/models/moving').send({ strategy: { name: 'softmax', lambda: 2 } });
    const results = await Promise.all([...decides, put]);
    assert.ok(results.every((r) => r.status === 200), JSON.stringify(results.map((r) => r.status)));
    const rows = await h.sql<{ payload: string }>("SELECT payload FROM events WHERE event_id LIKE 'moving-%'");
    assert.equal(rows.length, 12);
    for (const row of rows) {
      const p = decodeDecisionPayload(row.payload);
      assert.deepEqual([p.modelVersion, p.strategy].join(), p.modelVersion === 1 ? '1,epsilon-greedy' : '2,softmax');
    }
  });

  it('uses the model\'s fixed actions when none are sent', async () => {
    await request(h.focal.app).put('/models/fixed').send({ actions: ['a', 'b', { id: 'c', features: { f: 1 } }], strategy: { name: 'uniform' } }).expect(200);
    const res = await request(h.focal.app).post('/decide').send({ model: 'fixed', context: {} }).expect(200);
    assert.deepEqual(res.body.ranking.map((r: { id: string }) => r.id).sort(), ['a', 'b', 'c']);
    for (const r of res.body.ranking) assert.ok(Math.abs(r.probability - 1 / 3) < 1e-12);
    const none = await request(h.focal.app).post('/decide').send({ context: {} }).expect(400);
    assert.equal(none.body.errors[0].path, '/actions');
  });

  it('rejects malformed input with a 400 naming the field, and logs nothing', async () => {
    const before = await h.countEvents();
    const cases: [unknown, string][] = [
      [{ actions: ['a', 'a'] }, '/actions/1/id'],
      [{ actions: [] }, '/actions'],
      [{ actions: [{ id: 'a', features: { x: [1] } }] }, '/actions/0/features/x'],
      [{ context: { user: { age: null } }, actions: ['a'] }, '/context/user/age'],
      [JSON.parse('{"context":{"__proto__":1},"actions":["a"]}'), '/context/__proto__'],
      [JSON.parse('{"context":{"u":{"constructor":"x"}},"actions":["a"]}'), '/context/u/constructor'],
      [{ context: 'x', actions: ['a'] }, '/context'],
      [{ context: { a: 1e300 }, actions: ['a'] }, '/context/a'],
      [{ actions: ['bad\u0001id'] }, '/actions/0'],
      [{ actions: ['a'], eventId: 'has space' }, '/eventId'],
      [{ actions: ['a'], extra: 1 }, '/extra'],
      [{ model: '../x', actions: ['a'] }, '/model'],
      // Pointers through an action's nested namespaces, escaped as RFC 6901 says (the walk builds them only on error).
      [{ actions: ['a', { id: 'b', features: { ns: { 'bad\u0001': 1 } } }] }, '/actions/1/features/ns/bad\u0001'],
      [{ actions: ['a', 'b', { id: 'c', features: { '': 1 } }] }, '/actions/2/features/'],
      [JSON.parse('{"actions":[{"id":"a","features":{"a/b~c":{"prototype":1}}}]}'), '/actions/0/features/a~1b~0c/prototype'],
      [{ actions: [{ id: 'a', features: { ok: 1, ns: { deeper: { n: Infinity } } } }] }, '/actions/0/features/ns/deeper/n'],
    ];
    for (const [body, path] of cases) {
      const res = await request(h.focal.app).post('/decide').set('Content-Type', 'application/json').send(JSON.stringify(body)).expect(400);
      assert.ok(res.body.errors?.some((e: { path: string }) => e.path === path), `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
    }
    let deep: Record<string, unknown> = { v: 1 };
    for (let i = 0; i < 20; i++) deep = { n: deep };
    await request(h.focal.app).post('/decide').send({ context: deep, actions: ['a'] }).expect(400);
    await request(h.focal.app).post('/decide').send({ model: 'nope', actions: ['a'] }).expect(404);
    const after = await h.countEvents();
    assert.equal(after, before);
  });

  it('names the exceeded limit', async () => {
    const tooMany = await request(h.focal.app).post('/decide').send({ actions: Array.from({ length: 9 }, (_, i) => `a${i}`) }).expect(413);
    assert.equal(tooMany.body.limit, 'FOCAL_MAX_ACTIONS');
    assert.match(tooMany.body.detail, /FOCAL_MAX_ACTIONS/);
    const features = Object.fromEntries(Array.from({ length: 41 }, (_, i) => [`f${i}`, i]));
    const tooWide = await request(h.focal.app).post('/decide').send({ context: features, actions: ['a'] }).expect(413);
    assert.equal(tooWide.body.limit, 'FOCAL_MAX_FEATURES');
    const tooLong = await request(h.focal.app).post('/decide').send({ actions: ['x'.repeat(65)] }).expect(413);
    assert.equal(tooLong.body.limit, 'FOCAL_MAX_STRING_LENGTH');
    const longName = await request(h.focal.app).post('/decide').send({ actions: ['a', { id: 'b', features: { ns: { ['k'.repeat(65)]: 1 } } }] }).expect(413);
    assert.equal(longName.body.limit, 'FOCAL_MAX_STRING_LENGTH');
    assert.match(longName.body.detail, /^actions\.1\.features\.ns\.k{65} is 65 characters long/);
  });

  it('counts decisions in the model stats and metrics', async () => {
    const res = await request(h.focal.app).get('/models/default').expect(200);
    assert.ok(res.body.stats.decisions >= 3);
    assert.equal(res.body.stats.pending, res.body.stats.decisions);
    const metrics = await request(h.focal.app).get('/metrics').expect(200);
    assert.match(metrics.text, new RegExp(`focal_bandit_decisions_total\\{model="default",strategy="${defaultBanditConfig().strategy.name}"\\} \\d+`));
    assert.match(metrics.text, /focal_bandit_pending_events\{model="default"\} \d+/);
  });
});
