import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import personalizer, { type PersonalizerClient } from '@azure-rest/ai-personalizer';
import { AzureKeyCredential } from '@azure/core-auth';
import { ACTIONS, API_KEY, contextFor, startPersonalizer, type PersonalizerHarness } from './harness.js';

type Body = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SLOTS = [
  { id: 'hero', features: [{ size: 'large' }], baselineAction: 'news' },
  { id: 'side', features: [{ size: 'small' }], baselineAction: 'sports', excludedActions: ['travel'] },
];

/** Multi-slot rank, reward and activate through @azure-rest/ai-personalizer (v1.1-preview.3). */
describe('Personalizer multi-slot with @azure-rest/ai-personalizer', { timeout: 120_000 }, () => {
  let h: PersonalizerHarness;
  let c: PersonalizerClient;
  before(async () => {
    h = await startPersonalizer();
    c = personalizer.default(h.endpoint, new AzureKeyCredential(API_KEY), { allowInsecureConnection: true });
  });
  after(async () => { await h.close(); });

  it('places a distinct action in each slot, honours each slot\'s exclusions, and takes per-slot rewards', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await c.path('/multislot/rank').post({ body: { contextFeatures: contextFor(i).contextFeatures, actions: ACTIONS as never, slots: SLOTS, eventId: `ms-${i}` } });
      assert.equal(r.status, '201', JSON.stringify(r.body));
      const body = r.body as Body;
      assert.equal(body.eventId, `ms-${i}`);
      assert.deepEqual(body.slots.map((s: Body) => s.id), ['hero', 'side']);
      const [hero, side] = body.slots.map((s: Body) => s.rewardActionId as string);
      assert.notEqual(hero, side);
      assert.notEqual(side, 'travel');
      const reward = await c.path('/multislot/events/{eventId}/reward', body.eventId).post({ body: { reward: [{ slotId: 'hero', value: 1 }, { slotId: 'side', value: 0.25 }] } });
      assert.equal(reward.status, '204', JSON.stringify(reward.body));
    }
    const rows = h.db.prepare(`SELECT event_id, reward FROM events WHERE event_id IN ('ms-0#hero', 'ms-0#side') ORDER BY event_id`).all();
    assert.deepEqual(rows, [{ event_id: 'ms-0#hero', reward: 1 }, { event_id: 'ms-0#side', reward: 0.25 }]);
    const unknownSlot = await c.path('/multislot/events/{eventId}/reward', 'ms-0').post({ body: { reward: [{ slotId: 'footer', value: 1 }] } });
    assert.ok(['400', '404'].includes(unknownSlot.status), unknownSlot.status);
    assert.ok(['InvalidRewardRequest', 'ResourceNotFound'].includes((unknownSlot.body as Body).error.code));
  });

  it('deferred multi-slot events learn once activated (every slot)', async () => {
    const r = await c.path('/multislot/rank').post({ body: { actions: ACTIONS as never, slots: SLOTS, eventId: 'ms-deferred', deferActivation: true } });
    assert.equal(r.status, '201');
    await c.path('/multislot/events/{eventId}/reward', 'ms-deferred').post({ body: { reward: [{ slotId: 'hero', value: 1 }] } });
    const learned = () => (h.db.prepare(`SELECT COUNT(*) AS n FROM rewards WHERE event_id LIKE 'ms-deferred#%' AND learn = 1`).get() as { n: number }).n;
    assert.equal(learned(), 0);
    const activated = await c.path('/multislot/events/{eventId}/activate', 'ms-deferred').post();
    assert.equal(activated.status, '204', JSON.stringify(activated.body));
    assert.equal(learned(), 1);
  });

  it('refuses slots whose baseline is not an action or is excluded, with InvalidRankRequest', async () => {
    for (const slots of [[{ id: 'hero', baselineAction: 'podcasts' }], [{ id: 'hero', baselineAction: 'news', excludedActions: ['news'] }]]) {
      const r = await c.path('/multislot/rank').post({ body: { actions: ACTIONS as never, slots } });
      assert.equal(r.status, '400');
      assert.equal((r.body as Body).error.code, 'InvalidRankRequest');
    }
  });
});
