import assert from 'node:assert/strict';
import { after, describe } from 'node:test';
import request from 'supertest';
import { it, startHarness, type Harness } from './harness.js';

const actions = ['a', 'b', 'c'];

describe('reading logged decisions (GET /models/{name}/events, GET /events/{id})', () => {
  const harnesses: Harness[] = [];
  after(async () => { for (const h of harnesses) await h.close(); });

  it('pages back through a model\'s decisions, newest first, with context, PMF, chosen action and reward', async () => {
    const h = await startHarness({ memory: true });
    harnesses.push(h);
    const app = h.focal.app;
    await request(app).put('/models/browse').send({}).expect(200);
    const made: { eventId: string; action: string; ranking: { id: string; probability: number }[] }[] = [];
    for (let i = 0; i < 5; i++) {
      made.push((await request(app).post('/decide').send({ model: 'browse', eventId: `browse-${i}`, context: { user: { i } }, actions }).expect(200)).body);
    }
    await request(app).post('/decide').send({ context: {}, actions }).expect(200); // another model's: not listed
    await request(app).post('/reward').send({ eventId: 'browse-3', reward: 0.75 }).expect(200);

    const first = (await request(app).get('/models/browse/events').query({ limit: 2 }).expect(200)).body;
    assert.deepEqual(first.events.map((e: { eventId: string }) => e.eventId), ['browse-4', 'browse-3']);
    assert.equal(first.next, 'browse-3');
    const rewarded = first.events[1];
    assert.equal(rewarded.reward, 0.75);
    assert.equal(rewarded.closed, true);
    assert.equal(rewarded.closedReason, 'reward');
    assert.deepEqual(rewarded.context, { user: { i: 3 } });
    assert.equal(rewarded.action, made[3]!.action);
    assert.equal(rewarded.probability, made[3]!.ranking.find((r) => r.id === made[3]!.action)!.probability);
    assert.ok(Math.abs(rewarded.pmf.reduce((s: number, p: number) => s + p, 0) - 1) < 1e-9);
    assert.deepEqual(rewarded.actions.map((a: { id: string }) => a.id), actions);
    assert.equal(first.events[0].reward, null);
    assert.equal(first.events[0].closed, false);

    const rest = (await request(app).get('/models/browse/events').query({ limit: 10, before: first.next }).expect(200)).body;
    assert.deepEqual(rest.events.map((e: { eventId: string }) => e.eventId), ['browse-2', 'browse-1', 'browse-0']);
    assert.equal(rest.next, null);

    const one = (await request(app).get('/events/browse-3').expect(200)).body;
    assert.deepEqual(one, rewarded);
    await request(app).get('/events/nope').expect(404);
    await request(app).get('/models/nope/events').expect(404);
    for (const query of [{ limit: 0 }, { limit: 501 }, { limit: 'x' }, { before: 'nope' }, { bogus: 1 }]) {
      const r = await request(app).get('/models/browse/events').query(query).expect(400);
      assert.equal(r.type, 'application/problem+json');
    }
    // A cursor of another model is refused, not silently mixed in.
    const other = (await request(app).get('/models/default/events').expect(200)).body.events[0].eventId;
    await request(app).get('/models/browse/events').query({ before: other }).expect(400);
  });

  it('needs the admin key when one is set', async () => {
    const h = await startHarness({ memory: true, config: { apiKey: 'user-key', adminKey: 'admin-key' } });
    harnesses.push(h);
    const app = h.focal.app;
    const id = (await request(app).post('/decide').set('authorization', 'Bearer user-key').send({ context: {}, actions }).expect(200)).body.eventId;
    for (const path of ['/models/default/events', `/events/${id}`]) {
      await request(app).get(path).expect(401);
      await request(app).get(path).set('authorization', 'Bearer user-key').expect(403);
      await request(app).get(path).set('authorization', 'Bearer admin-key').expect(200);
    }
  });
});
