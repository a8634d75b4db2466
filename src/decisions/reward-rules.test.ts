import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { closeDatabase, openDatabase, type Db } from '../store/database.js';
import { decodeDecisionPayload, DecisionStore, HOLD_DEFERRED, HOLD_NEVER } from './decision-store.js';
import type { RewardPolicy } from './model-config.js';
import { RewardRules } from './reward-rules.js';

const payload = { context: { u: 1 }, actions: [{ id: 'a' }, { id: 'b' }], pmf: [0.75, 0.25], scores: [1, 0], chosen: 0, probability: 0.75, modelVersion: 1, strategy: 'greedy' };

/** The reward rules on an in-memory database with their own transactions, as the writer would run them. */
function setup(): { db: Db; store: DecisionStore; rules: RewardRules; model(name: string, reward: RewardPolicy): void; decide(eventId: string, model: string, deadlineAt: number): void } {
  const db = openDatabase({ path: ':memory:' });
  const store = new DecisionStore(db);
  const policies = new Map<string, RewardPolicy>();
  const rules = new RewardRules(db, (m) => policies.get(m) ?? null);
  return {
    db, store, rules,
    model: (name, reward) => { policies.set(name, reward); store.insertModel(name, JSON.stringify({ reward }), 1, 0); },
    decide: (eventId, model, deadlineAt) => { assert.ok(store.insertDecision(eventId, model, 0, deadlineAt, JSON.stringify(payload))); },
  };
}

const first: RewardPolicy = { waitSeconds: 1, default: 0.25, aggregation: 'first' };
const sum: RewardPolicy = { waitSeconds: 1, default: -1, aggregation: 'sum' };

function rewardRows(db: Db, eventId: string): { seq: number; reward: number; source: string; learn: number }[] {
  return (db.prepare('SELECT seq, reward, source, learn FROM rewards WHERE event_id = ? ORDER BY seq').all(eventId) as { seq: number; reward: number; source: string; learn: number }[]).map((r) => ({ ...r }));
}
function event(db: Db, eventId: string) {
  return { ...(db.prepare('SELECT reward, reward_count, closed, closed_reason FROM events WHERE event_id = ?').get(eventId) as object) };
}

describe('reward rules', () => {
  let t: ReturnType<typeof setup>;
  afterEach(() => { closeDatabase(t.db); });
  beforeEach(() => {
    t = setup();
    t.model('m', first);
    t.model('s', sum);
  });

  describe('join', () => {
    it('an unknown event is a 404 and writes nothing', () => {
      const r = t.rules.receive({ op: 'reward', eventId: 'nope', reward: 1, now: 0 });
      assert.equal(r.problem?.status, 404);
      assert.equal((t.db.prepare('SELECT COUNT(*) AS n FROM rewards').get() as { n: number }).n, 0);
    });

    it('an event of another kind is handed back for its capability, untouched', () => {
      t.db.prepare(`INSERT INTO events (event_id, model, kind, created_at, deadline_at, payload) VALUES ('img', 'mnist', 'image', 0, NULL, '{}')`).run();
      assert.deepEqual(t.rules.receive({ op: 'reward', eventId: 'img', label: '7', now: 0 }), { dispatch: 'image' });
      assert.deepEqual(rewardRows(t.db, 'img'), []);
    });

    it('a decision event needs a reward (400 naming /reward)', () => {
      t.decide('e', 'm', 1000);
      const r = t.rules.receive({ op: 'reward', eventId: 'e', label: 'x', now: 10 });
      assert.equal(r.problem?.status, 400);
      assert.deepEqual(r.problem?.extra, { errors: [{ path: '/reward', message: 'is required' }] });
      assert.deepEqual(event(t.db, 'e'), { reward: null, reward_count: 0, closed: 0, closed_reason: null });
    });

    it('joins a reward to its decision: logged, learned once with the logged decision, the event closed', () => {
      t.decide('e', 'm', 1000);
      const r = t.rules.receive({ op: 'reward', eventId: 'e', reward: 0.5, now: 10 });
      assert.deepEqual(r.body, { eventId: 'e', reward: 0.5, applied: true });
      assert.deepEqual(r.counted, { model: 'm', reward: 0.5 });
      const rows = rewardRows(t.db, 'e');
      assert.deepEqual(rows.map(({ seq: _, ...rest }) => rest), [{ reward: 0.5, source: 'client', learn: 1 }]);
      assert.equal(r.learns?.length, 1);
      const l = r.learns![0]!;
      assert.deepEqual({ model: l.model, eventId: l.eventId, seq: l.seq, reward: l.reward, source: l.source }, { model: 'm', eventId: 'e', seq: rows[0]!.seq, reward: 0.5, source: 'client' });
      assert.deepEqual(decodeDecisionPayload(l.payload), payload);
      assert.deepEqual(event(t.db, 'e'), { reward: 0.5, reward_count: 1, closed: 1, closed_reason: 'reward' });
    });

    it('an open event whose model is gone is a 404', () => {
      t.decide('orphan', 'ghost', 1000);
      assert.equal(t.rules.receive({ op: 'reward', eventId: 'orphan', reward: 1, now: 10 }).problem?.status, 404);
    });
  });

  describe('aggregation first', () => {
    it('a second reward is a 409 naming the reward that counted, and changes nothing', () => {
      t.decide('e', 'm', 1000);
      t.rules.receive({ op: 'reward', eventId: 'e', reward: 0.5, now: 10 });
      const dup = t.rules.receive({ op: 'reward', eventId: 'e', reward: 1, now: 20 });
      assert.equal(dup.problem?.status, 409);
      assert.deepEqual(dup.problem?.extra, { eventId: 'e', reward: 0.5 });
      assert.equal(dup.learns, undefined);
      assert.equal(rewardRows(t.db, 'e').length, 1);
      assert.deepEqual(event(t.db, 'e'), { reward: 0.5, reward_count: 1, closed: 1, closed_reason: 'reward' });
    });
  });

  describe('window', () => {
    it('a reward at the deadline is a 410; the default reward is learned then, once', () => {
      t.decide('e', 'm', 1000);
      const late = t.rules.receive({ op: 'reward', eventId: 'e', reward: 1, now: 1000 });
      assert.equal(late.problem?.status, 410);
      assert.deepEqual(late.problem?.extra, { eventId: 'e', reward: 0.25, applied: false });
      assert.deepEqual(late.learns?.map((l) => ({ reward: l.reward, source: l.source })), [{ reward: 0.25, source: 'default' }]);
      assert.equal(late.counted, undefined, 'the refused reward is not counted');
      const again = t.rules.receive({ op: 'reward', eventId: 'e', reward: 1, now: 2000 });
      assert.equal(again.problem?.status, 410);
      assert.equal(again.learns, undefined);
      assert.deepEqual(rewardRows(t.db, 'e').map(({ seq: _, ...rest }) => rest), [{ reward: 0.25, source: 'default', learn: 1 }]);
      assert.deepEqual(event(t.db, 'e'), { reward: 0.25, reward_count: 0, closed: 1, closed_reason: 'window' });
    });

    it('a reward just before the deadline is accepted', () => {
      t.decide('e', 'm', 1000);
      assert.equal(t.rules.receive({ op: 'reward', eventId: 'e', reward: 1, now: 999 }).status, 200);
    });

    it('an event closed with its model deleted is a 410 saying so', () => {
      t.decide('e', 'm', 1000);
      t.store.closeOpenEvents('m', 'deleted');
      const r = t.rules.receive({ op: 'reward', eventId: 'e', reward: 1, now: 10 });
      assert.equal(r.problem?.status, 410);
      assert.match(r.problem!.detail, /its model was deleted/);
      assert.deepEqual(rewardRows(t.db, 'e'), []);
    });
  });

  describe('default reward on expiry', () => {
    it('closes expired windows oldest deadline first, each learning its model\'s default; open ones stay open', () => {
      t.decide('late', 'm', 30);
      t.decide('early', 'm', 10);
      t.decide('other', 's', 20);
      t.decide('open', 'm', 50);
      const closed = t.rules.closeExpired(30, 10);
      assert.deepEqual(closed.map((l) => [l.eventId, l.model, l.reward, l.source]), [['early', 'm', 0.25, 'default'], ['other', 's', -1, 'default'], ['late', 'm', 0.25, 'default']]);
      const seqs = closed.map((l) => l.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'returned in reward-log order');
      assert.deepEqual(decodeDecisionPayload(closed[0]!.payload), payload);
      for (const id of ['early', 'other', 'late']) assert.equal((event(t.db, id) as { closed_reason: string }).closed_reason, 'window');
      assert.deepEqual(event(t.db, 'open'), { reward: null, reward_count: 0, closed: 0, closed_reason: null });
      assert.deepEqual(t.rules.closeExpired(30, 10), [], 'nothing left to close');
      const r = t.rules.receive({ op: 'reward', eventId: 'early', reward: 1, now: 40 });
      assert.equal(r.problem?.status, 410);
      assert.equal((r.problem?.extra as { reward: number }).reward, 0.25);
    });

    it('closes at most `limit` windows per call, the oldest first', () => {
      for (let i = 0; i < 5; i++) t.decide(`e${i}`, 'm', 100 - i);
      assert.deepEqual(t.rules.closeExpired(1000, 2).map((l) => l.eventId), ['e4', 'e3']);
      assert.deepEqual(t.rules.closeExpired(1000, 2).map((l) => l.eventId), ['e2', 'e1']);
      assert.deepEqual(t.rules.closeExpired(1000, 2).map((l) => l.eventId), ['e0']);
    });

    it('the default in force is the stored configuration\'s at closing time', () => {
      t.decide('e', 'm', 10);
      t.store.updateModel('m', JSON.stringify({ reward: { ...first, default: 0.75 } }), 2, 5);
      assert.deepEqual(t.rules.closeExpired(10, 10).map((l) => l.reward), [0.75]);
    });
  });

  describe('aggregation sum', () => {
    it('adds rewards up without learning; the window\'s close learns the total once', () => {
      t.decide('e', 's', 1000);
      const a = t.rules.receive({ op: 'reward', eventId: 'e', reward: 1, now: 10 });
      const b = t.rules.receive({ op: 'reward', eventId: 'e', reward: 2.5, now: 20 });
      assert.deepEqual(a.body, { eventId: 'e', reward: 1, applied: true, total: 1, learnedAt: new Date(1000).toISOString() });
      assert.equal(b.body?.total, 3.5);
      assert.equal(a.learns, undefined);
      assert.equal(b.learns, undefined);
      assert.deepEqual(b.counted, { model: 's', reward: 2.5 });
      assert.deepEqual(event(t.db, 'e'), { reward: 3.5, reward_count: 2, closed: 0, closed_reason: null });
      const closed = t.rules.closeExpired(1000, 10);
      assert.deepEqual(closed.map((l) => [l.eventId, l.reward, l.source]), [['e', 3.5, 'aggregate']]);
      assert.deepEqual(rewardRows(t.db, 'e').map(({ seq: _, ...rest }) => rest), [
        { reward: 1, source: 'client', learn: 0 }, { reward: 2.5, source: 'client', learn: 0 }, { reward: 3.5, source: 'aggregate', learn: 1 },
      ]);
      const late = t.rules.receive({ op: 'reward', eventId: 'e', reward: 1, now: 1001 });
      assert.equal(late.problem?.status, 410);
      assert.equal((late.problem?.extra as { reward: number }).reward, 3.5);
    });

    it('a reward past the deadline closes the window with the total received, not the default', () => {
      t.decide('e', 's', 1000);
      t.rules.receive({ op: 'reward', eventId: 'e', reward: 2, now: 10 });
      const late = t.rules.receive({ op: 'reward', eventId: 'e', reward: 5, now: 1000 });
      assert.equal(late.problem?.status, 410);
      assert.deepEqual(late.learns?.map((l) => [l.reward, l.source]), [[2, 'aggregate']]);
      assert.deepEqual(event(t.db, 'e'), { reward: 2, reward_count: 1, closed: 1, closed_reason: 'window' });
    });

    it('a window without any reward learns the default', () => {
      t.decide('e', 's', 1000);
      assert.deepEqual(t.rules.closeExpired(1000, 10).map((l) => [l.reward, l.source]), [[-1, 'default']]);
    });
  });

  describe('imported events', () => {
    it('close with their final reward, learned as a client\'s, or without one', () => {
      t.store.insertDecision('with', 'm', 0, 0, JSON.stringify(payload));
      t.store.insertDecision('without', 'm', 0, 0, JSON.stringify(payload));
      const l = t.rules.closeImported('with', 'm', 'p', 0.5, 10);
      assert.deepEqual({ ...l, seq: undefined }, { model: 'm', eventId: 'with', seq: undefined, payload: 'p', reward: 0.5, source: 'client' });
      assert.equal(t.rules.closeImported('without', 'm', 'p', null, 10), undefined);
      assert.deepEqual(event(t.db, 'with'), { reward: 0.5, reward_count: 1, closed: 1, closed_reason: 'reward' });
      assert.deepEqual(event(t.db, 'without'), { reward: null, reward_count: 0, closed: 1, closed_reason: 'imported' });
      assert.deepEqual(rewardRows(t.db, 'without'), []);
      // Imported events are closed: the sweep leaves them alone and a reward is refused.
      assert.deepEqual(t.rules.closeExpired(1000, 10), []);
      assert.equal(t.rules.receive({ op: 'reward', eventId: 'with', reward: 1, now: 20 }).problem?.status, 409);
    });
  });
  describe('held events (deferred, logging mode)', () => {
    const held = (eventId: string, model: string, deadlineAt: number, hold: number) => {
      assert.ok(t.store.insertDecision(eventId, model, 0, deadlineAt, JSON.stringify(payload), hold));
    };

    it('a deferred event\'s first reward closes it unlearned; activation learns it once (source activated), a second activation is a 409', () => {
      held('d', 'm', 1000, HOLD_DEFERRED);
      const r = t.rules.receive({ op: 'reward', eventId: 'd', reward: 1, now: 10 });
      assert.equal(r.status, 200);
      assert.equal(r.learns?.[0]?.held, true);
      assert.deepEqual(rewardRows(t.db, 'd').map(({ source, learn }) => ({ source, learn })), [{ source: 'client', learn: 0 }]);
      const a = t.rules.activate({ op: 'activate', eventId: 'd', now: 20 });
      assert.equal(a.status, 204);
      assert.equal(a.learns?.length, 1);
      assert.equal(a.learns![0]!.source, 'activated');
      assert.equal(a.learns![0]!.held, undefined);
      assert.deepEqual(rewardRows(t.db, 'd').map(({ reward, source, learn }) => ({ reward, source, learn })), [{ reward: 1, source: 'client', learn: 0 }, { reward: 1, source: 'activated', learn: 1 }]);
      assert.equal(t.rules.activate({ op: 'activate', eventId: 'd', now: 30 }).problem?.status, 409);
    });

    it('the sweep closes a deferred event never activated as inactive and a logging-mode one as window, both unlearned', () => {
      held('d', 'm', 100, HOLD_DEFERRED);
      held('l', 'm', 100, HOLD_NEVER);
      t.decide('e', 'm', 100);
      const learns = t.rules.closeExpired(200, 10);
      assert.deepEqual(learns.map((l) => [l.eventId, l.held ?? false]), [['d', true], ['l', true], ['e', false]]);
      assert.deepEqual(event(t.db, 'd'), { reward: 0.25, reward_count: 0, closed: 1, closed_reason: 'inactive' });
      assert.deepEqual(event(t.db, 'l'), { reward: 0.25, reward_count: 0, closed: 1, closed_reason: 'window' });
      assert.deepEqual([...rewardRows(t.db, 'd'), ...rewardRows(t.db, 'l'), ...rewardRows(t.db, 'e')].map((r) => r.learn), [0, 0, 1]);
      assert.equal(t.rules.activate({ op: 'activate', eventId: 'd', now: 300 }).problem?.status, 410);
      assert.equal(t.rules.activate({ op: 'activate', eventId: 'l', now: 300 }).problem?.status, 409);
      assert.equal(t.rules.activate({ op: 'activate', eventId: 'nope', now: 300 }).problem?.status, 404);
    });

    it('activation at or past the deadline closes the event as inactive (410), unlearned', () => {
      held('d', 's', 100, HOLD_DEFERRED);
      t.rules.receive({ op: 'reward', eventId: 'd', reward: 2, now: 10 });
      const a = t.rules.activate({ op: 'activate', eventId: 'd', now: 100 });
      assert.equal(a.problem?.status, 410);
      assert.deepEqual(a.learns?.map((l) => [l.source, l.reward, l.held]), [['aggregate', 2, true]]);
      assert.deepEqual(event(t.db, 'd'), { reward: 2, reward_count: 1, closed: 1, closed_reason: 'inactive' });
    });

    it('a deferred event rewarded (first) but activated past its deadline is a 410 and stays unlearned', () => {
      held('d', 'm', 100, HOLD_DEFERRED);
      t.rules.receive({ op: 'reward', eventId: 'd', reward: 1, now: 10 });
      const a = t.rules.activate({ op: 'activate', eventId: 'd', now: 150 });
      assert.equal(a.problem?.status, 410);
      assert.equal(a.learns, undefined);
      assert.deepEqual(rewardRows(t.db, 'd').map((r) => r.learn), [0]);
    });
  });
});
