import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKeyCredentials } from '@azure/ms-rest-js';
import { PersonalizerClient } from '@azure/cognitiveservices-personalizer';
import request from 'supertest';
import { ACTIONS, ADMIN_KEY, API_KEY, contextFor, startPersonalizer, type PersonalizerHarness } from './harness.js';

function client(endpoint: string, key: string): PersonalizerClient {
  return new PersonalizerClient(new ApiKeyCredentials({ inHeader: { 'Ocp-Apim-Subscription-Key': key } }), endpoint);
}

/** Microsoft's v1.0 JavaScript client (@azure/cognitiveservices-personalizer) pointed at Focal, unchanged. */
describe('Personalizer v1.0 with @azure/cognitiveservices-personalizer', { timeout: 120_000 }, () => {
  let h: PersonalizerHarness;
  before(async () => { h = await startPersonalizer(); });
  after(async () => { await h.close(); });

  it('ranks (201, every action with its probability, rewardActionId) and takes rewards (204)', async () => {
    const c = client(h.endpoint, API_KEY);
    const r = await c.rank({ contextFeatures: contextFor(0).contextFeatures, actions: ACTIONS, eventId: 'v1-first' });
    assert.equal(r._response.status, 201);
    assert.equal(r.eventId, 'v1-first');
    assert.deepEqual(r.ranking!.map((a) => a.id).sort(), [...ACTIONS.map((a) => a.id)].sort());
    assert.ok(Math.abs(r.ranking!.reduce((s, a) => s + a.probability!, 0) - 1) < 1e-9);
    assert.ok(ACTIONS.some((a) => a.id === r.rewardActionId));
    const rewarded = await c.events.reward('v1-first', { value: 1 });
    assert.equal(rewarded._response.status, 204);
    // The decision and its reward are Focal's: logged under the Personalizer model.
    const row = h.db.prepare('SELECT model, reward FROM events WHERE event_id = ?').get('v1-first') as { model: string; reward: number };
    assert.deepEqual(row, { model: 'personalizer', reward: 1 });
  });

  it('learns from rewards: after a few hundred rounds it picks each user\'s topic far more often than chance', async () => {
    const c = client(h.endpoint, API_KEY);
    const late: boolean[] = [];
    for (let i = 0; i < 400; i++) {
      const { contextFeatures, best } = contextFor(i);
      const r = await c.rank({ contextFeatures, actions: ACTIONS });
      await c.events.reward(r.eventId!, { value: r.rewardActionId === best ? 1 : 0 });
      if (i >= 300) late.push(r.rewardActionId === best);
    }
    const rate = late.filter(Boolean).length / late.length;
    // Chance is 1/4; ε = 0.2 caps a perfect learner at 0.85.
    assert.ok(rate > 0.6, `hit rate over the last 100 rounds ${rate}`);
  });

  it('excluded actions are listed with probability 0 and never chosen', async () => {
    const c = client(h.endpoint, API_KEY);
    for (let i = 0; i < 30; i++) {
      const r = await c.rank({ contextFeatures: contextFor(i).contextFeatures, actions: ACTIONS, excludedActions: ['news', 'music'] });
      assert.ok(!['news', 'music'].includes(r.rewardActionId!), r.rewardActionId);
      const p = Object.fromEntries(r.ranking!.map((a) => [a.id, a.probability]));
      assert.equal(r.ranking!.length, 4);
      assert.deepEqual([p.news, p.music], [0, 0]);
      assert.ok(Math.abs(p.sports! + p.travel! - 1) < 1e-9);
    }
    await assert.rejects(c.rank({ actions: ACTIONS, excludedActions: ['news', 'sports', 'music', 'travel'] }), (err: { statusCode?: number; code?: string }) => {
      assert.equal(err.statusCode, 400);
      assert.equal(err.code, 'InvalidRankRequest');
      return true;
    });
    await assert.rejects(c.rank({ actions: ACTIONS, excludedActions: ['podcasts'] }), (err: { statusCode?: number; code?: string }) => err.statusCode === 400 && err.code === 'InvalidRankRequest');
  });

  it('deferred activation: nothing is learned before activation (no default reward either); a reward sent before counts once activated', async () => {
    const c = client(h.endpoint, API_KEY);
    const fingerprint = async () => (await request(h.focal.app).get('/models/personalizer').set('Authorization', `Bearer ${API_KEY}`)).body.stats.fingerprint as string;
    const before = await fingerprint();
    const r = await c.rank({ contextFeatures: contextFor(1).contextFeatures, actions: ACTIONS, deferActivation: true, eventId: 'deferred-1' });
    assert.equal(r._response.status, 201);
    assert.equal((await c.events.reward('deferred-1', { value: 1 }))._response.status, 204);
    assert.equal(await fingerprint(), before, 'a reward before activation is not learned');
    const learnedRows = () => (h.db.prepare('SELECT COUNT(*) AS n FROM rewards WHERE event_id = ? AND learn = 1').get('deferred-1') as { n: number }).n;
    assert.equal(learnedRows(), 0);
    assert.equal((await c.events.activate('deferred-1'))._response.status, 204);
    assert.equal(learnedRows(), 1);
    assert.notEqual(await fingerprint(), before, 'activation learns the reward sent before it');
    // Activating again, or an event that was never deferred, is a no-op as in Personalizer; an unknown one is refused.
    const again = await c.events.activate('deferred-1');
    assert.equal(again._response.status, 204);
    assert.equal(again._response.headers.get('x-focal-activate'), 'ignored; not-deferred');
    await assert.rejects(c.events.activate('no-such-event'), (err: { statusCode?: number; code?: string }) => err.statusCode === 404 && err.code === 'InvalidEventIdToActivate');
  });

  it('a deferred event never activated gets no default reward when its wait time ends', async () => {
    const admin = client(h.endpoint, ADMIN_KEY);
    // Short reward windows for this check (Focal's own API: the same model).
    const view = (await request(h.focal.app).get('/models/personalizer').set('Authorization', `Bearer ${ADMIN_KEY}`)).body;
    assert.equal((await request(h.focal.app).put('/models/personalizer').set('Authorization', `Bearer ${ADMIN_KEY}`).send({ ...view.config, reward: { ...view.config.reward, waitSeconds: 0.2 } })).status, 200);
    const before = (await request(h.focal.app).get('/models/personalizer').set('Authorization', `Bearer ${API_KEY}`)).body.stats.fingerprint;
    await admin.rank({ contextFeatures: contextFor(2).contextFeatures, actions: ACTIONS, deferActivation: true, eventId: 'deferred-never' });
    await admin.rank({ contextFeatures: contextFor(2).contextFeatures, actions: ACTIONS, eventId: 'not-deferred' });
    await new Promise((resolve) => setTimeout(resolve, 800));
    const rows = h.db.prepare('SELECT event_id, source, learn FROM rewards WHERE event_id IN (?, ?) ORDER BY event_id').all('deferred-never', 'not-deferred') as { event_id: string; source: string; learn: number }[];
    // The active event got its default reward and learned it; the deferred one was closed without learning anything.
    assert.deepEqual(rows.filter((r) => r.learn === 1).map((r) => r.event_id), ['not-deferred']);
    const closed = h.db.prepare('SELECT closed FROM events WHERE event_id = ?').get('deferred-never') as { closed: number };
    assert.equal(closed.closed, 1);
    assert.notEqual((await request(h.focal.app).get('/models/personalizer').set('Authorization', `Bearer ${API_KEY}`)).body.stats.fingerprint, before);
    assert.equal((await request(h.focal.app).put('/models/personalizer').set('Authorization', `Bearer ${ADMIN_KEY}`).send(view.config)).status, 200);
  });

  it('a bad rank is a 400 with Personalizer\'s error code; a wrong key is a 401', async () => {
    const c = client(h.endpoint, API_KEY);
    await assert.rejects(c.rank({ actions: [] }), (err: { statusCode?: number; code?: string; body?: unknown }) => {
      assert.equal(err.statusCode, 400);
      assert.equal(err.code, 'InvalidRankRequest');
      return true;
    });
    await assert.rejects(c.rank({ actions: [{ id: 'a', features: [] }, { id: 'a', features: [] }] }), (err: { statusCode?: number; code?: string }) => {
      assert.equal(err.statusCode, 400);
      assert.equal(err.code, 'InvalidRankRequest');
      return true;
    });
    await assert.rejects(client(h.endpoint, 'not-the-key-000000000').rank({ actions: ACTIONS }), (err: { statusCode?: number }) => {
      assert.equal(err.statusCode, 401);
      return true;
    });
    // The admin key is a user key too.
    assert.equal((await client(h.endpoint, ADMIN_KEY).rank({ actions: ACTIONS }))._response.status, 201);
  });

  it('a reward for an unknown event is a 404 ResourceNotFound; a second reward is accepted and ignored, as Personalizer does', async () => {
    const c = client(h.endpoint, API_KEY);
    await assert.rejects(c.events.reward('never-ranked', { value: 1 }), (err: { statusCode?: number; code?: string }) => {
      assert.equal(err.statusCode, 404);
      assert.equal(err.code, 'ResourceNotFound');
      return true;
    });
    const r = await c.rank({ actions: ACTIONS, eventId: 'twice' });
    await c.events.reward(r.eventId!, { value: 0.5 });
    const again = await c.events.reward(r.eventId!, { value: 1 });
    assert.equal(again._response.status, 204);
    assert.equal(again._response.headers.get('x-focal-reward'), 'ignored; already-rewarded');
    assert.equal((h.db.prepare('SELECT reward FROM events WHERE event_id = ?').get('twice') as { reward: number }).reward, 0.5);
  });
});
