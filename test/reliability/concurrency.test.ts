import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { makeRoot, shipTestModel, startImages, type ImagesHarness } from '../images/harness.js';
import { buildTestApp, type TestApp } from '../helpers.js';
import { call, type Reply } from '../server-process.js';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';

/**
 * Concurrency (issue 5), over a real listening socket so requests overlap in
 * the group committer: parallel rewards for one event, a reward racing its
 * own decision, models reconfigured and deleted while decisions are in flight.
 */

let t: TestApp;
let server: Server;
let base = '';

const post = (path: string, body: unknown) => call(base, 'POST', path, body);
const put = (name: string, body: unknown) => call(base, 'PUT', `/models/${name}`, body);

async function model(name: string): Promise<{ version: number; stats: Record<string, number> }> {
  const res = await call(base, 'GET', `/models/${name}`);
  assert.equal(res.status, 200);
  return res.body as { version: number; stats: Record<string, number> };
}

function noServerErrors(replies: Reply[], what: string): void {
  for (const r of replies) assert.ok(r.status < 500, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('concurrency', { timeout: 120_000 }, () => {
  before(async () => {
    t = await buildTestApp({ config: { modelsDir: join('/nonexistent', 'focal-models') } });
    server = t.focal.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await t.close();
  });

  it('parallel rewards for one event: exactly one wins under `first`, the rest are 409 naming it', async () => {
    assert.equal((await put('first', { actions: ['a', 'b', 'c'], reward: { waitSeconds: 3600 } })).status, 200);
    const events: string[] = [];
    for (let i = 0; i < 8; i++) events.push((await post('/decide', { model: 'first', context: { i } })).body.eventId as string);
    const updatesBefore = (await model('first')).stats.updates!;
    // 8 events × 16 rewards each, all in flight at once, interleaved.
    const sent = events.flatMap((eventId) => Array.from({ length: 16 }, (_, k) => ({ eventId, reward: k / 16 })));
    sent.sort(() => Math.random() - 0.5);
    const replies = await Promise.all(sent.map((body) => post('/reward', body)));
    noServerErrors(replies, 'reward');
    for (const eventId of events) {
      const mine = replies.filter((_, i) => sent[i]!.eventId === eventId);
      const won = mine.filter((r) => r.status === 200);
      assert.equal(won.length, 1, `${eventId}: ${mine.map((r) => r.status).join(',')}`);
      assert.equal(mine.filter((r) => r.status === 409).length, 15);
      const winner = won[0]!.body.reward;
      for (const r of mine.filter((x) => x.status === 409)) assert.equal(r.body.reward, winner, 'every 409 names the reward that won');
      const logged = t.db.prepare("SELECT reward FROM rewards WHERE event_id = ? AND source = 'client'").all(eventId) as { reward: number }[];
      assert.deepEqual(logged, [{ reward: winner }]);
    }
    assert.equal((await model('first')).stats.updates, updatesBefore + events.length, 'each event is learned exactly once');

    // The same event three times in one batch: the first item wins.
    const e = (await post('/decide', { model: 'first' })).body.eventId as string;
    const batch = await post('/reward', { events: [{ eventId: e, reward: 1 }, { eventId: e, reward: 0 }, { eventId: e, reward: 0.5 }] });
    assert.equal(batch.status, 200);
    assert.deepEqual((batch.body.results as { status: number }[]).map((r) => r.status), [200, 409, 409]);
  });

  it('parallel rewards for one event under `sum` all count, and the window learns their total once', async () => {
    assert.equal((await put('sum', { actions: ['a', 'b'], reward: { waitSeconds: 1.5, aggregation: 'sum', default: -1 } })).status, 200);
    const events: string[] = [];
    for (let i = 0; i < 4; i++) events.push((await post('/decide', { model: 'sum', context: { i } })).body.eventId as string);
    // Quarters add up exactly whatever the order.
    const sent = events.flatMap((eventId, e) => Array.from({ length: 12 }, (_, k) => ({ eventId, reward: (k % 5) / 4 + e })));
    const replies = await Promise.all(sent.sort(() => Math.random() - 0.5).map((body) => post('/reward', body)));
    noServerErrors(replies, 'reward');
    assert.deepEqual(replies.map((r) => r.status), sent.map(() => 200));
    const expected = new Map(events.map((id) => [id, sent.filter((s) => s.eventId === id).reduce((a, s) => a + s.reward, 0)]));
    const eventRow = t.db.prepare('SELECT reward, reward_count AS count, closed FROM events WHERE event_id = ?');
    for (const [id, total] of expected) assert.deepEqual({ ...(eventRow.get(id) as object) }, { reward: total, count: 12, closed: 0 });
    // Each reply reports the running total; the last one applied reports the full sum.
    for (const id of events) {
      const totals = replies.filter((_, i) => sent[i]!.eventId === id).map((r) => r.body.total as number);
      assert.equal(Math.max(...totals), expected.get(id), `${id}: running totals ${totals.join(',')}`);
    }
    await until(async () => (await model('sum')).stats.pending === 0, 10_000, 'the sum windows to close');
    const learned = t.db.prepare('SELECT reward FROM rewards WHERE event_id = ? AND learn = 1');
    for (const [id, total] of expected) assert.deepEqual(learned.all(id), [{ reward: total }], `${id}: the total is learned once`);
    assert.equal((await model('sum')).stats.updates, events.length);
  });

  it('a reward racing its own decision is applied or refused with 404, never lost once acknowledged', async () => {
    assert.equal((await put('race', { actions: ['a', 'b', 'c'], reward: { waitSeconds: 3600 } })).status, 200);
    const outcomes = { appliedInRace: 0, notFoundThenApplied: 0 };
    const races = Array.from({ length: 60 }, async (_, i) => {
      const eventId = `race-${i}-${Date.now()}`;
      let decide: Promise<Reply>;
      let reward: Reply;
      if (i % 3 === 0) {
        // The reward leaves first, its decision right behind it.
        const early = post('/reward', { eventId, reward: 1 });
        decide = post('/decide', { model: 'race', context: { i }, eventId });
        reward = await early;
      } else {
        // The reward leaves in the same tick as the decision, or a moment after.
        decide = post('/decide', { model: 'race', context: { i }, eventId });
        if (i % 3 === 2) await new Promise((r) => setTimeout(r, i % 4));
        reward = await post('/reward', { eventId, reward: 1 });
      }
      const d = await decide;
      assert.equal(d.status, 200, JSON.stringify(d.body));
      assert.ok([200, 404].includes(reward.status), `${reward.status} ${JSON.stringify(reward.body)}`);
      const again = await post('/reward', { eventId, reward: 0 });
      if (reward.status === 200) {
        outcomes.appliedInRace++;
        assert.equal(again.status, 409, 'an acknowledged reward stays applied');
      } else {
        outcomes.notFoundThenApplied++;
        assert.equal(again.status, 200, 'a reward refused before its decision was logged applies once it is');
      }
      const logged = t.db.prepare("SELECT reward FROM rewards WHERE event_id = ? AND source = 'client'").all(eventId) as { reward: number }[];
      assert.deepEqual(logged, [{ reward: reward.status === 200 ? 1 : 0 }]);
    });
    await Promise.all(races);
    console.log(`# reward raced its decision: ${outcomes.appliedInRace} applied in the race, ${outcomes.notFoundThenApplied} 404 then applied`);
    const m = await model('race');
    assert.equal(m.stats.updates, 60);
    assert.equal(m.stats.pending, 0);
  });

  it('reconfiguring a model while decisions are in flight: no 5xx, each decision logged with the version and strategy that made it', async () => {
    const configs = [
      { strategy: { name: 'epsilon-greedy', epsilon: 0.2 }, actions: ['a', 'b', 'c'] },
      { strategy: { name: 'softmax', lambda: 5 }, actions: ['a', 'b', 'c'] },
      { strategy: { name: 'softmax', lambda: 5 }, actions: ['a', 'b', 'c'], reward: { waitSeconds: 60 } },
      { strategy: { name: 'greedy' }, actions: ['a', 'b', 'c', 'd'] },
    ];
    const first = await put('live', configs[0]);
    const strategyOf = new Map<number, string>([[first.body.version as number, 'epsilon-greedy']]);
    let stop = false;
    const decisions: { reply: Reply; eventId: string }[] = [];
    const clients = Array.from({ length: 12 }, async (_, c) => {
      for (let i = 0; !stop || i < 5; i++) {
        const eventId = `live-${c}-${i}`;
        const reply = await post('/decide', { model: 'live', context: { c, i }, eventId });
        decisions.push({ reply, eventId });
        if (reply.status === 200 && i % 2) void post('/reward', { eventId, reward: i % 3 ? 1 : 0 });
      }
    });
    const puts: Reply[] = [];
    for (let k = 1; k <= 12; k++) {
      await new Promise((r) => setTimeout(r, 20));
      const cfg = configs[k % configs.length]!;
      const res = await put('live', cfg);
      puts.push(res);
      strategyOf.set(res.body.version as number, cfg.strategy.name);
    }
    stop = true;
    await Promise.all(clients);
    noServerErrors(puts, 'PUT');
    assert.deepEqual(puts.map((p) => p.status), puts.map(() => 200));
    noServerErrors(decisions.map((d) => d.reply), 'decide');
    assert.deepEqual([...new Set(decisions.map((d) => d.reply.status))], [200]);
    assert.equal((await model('live')).version, 13);

    const payloadOf = t.db.prepare('SELECT payload FROM events WHERE event_id = ?');
    const versionsSeen = new Set<number>();
    for (const { reply, eventId } of decisions) {
      const p = decodeDecisionPayload((payloadOf.get(eventId) as { payload: string }).payload);
      versionsSeen.add(p.modelVersion);
      assert.equal(p.strategy, strategyOf.get(p.modelVersion), `${eventId} logged v${p.modelVersion} with ${p.strategy}`);
      assert.equal(reply.body.strategy, p.strategy, `${eventId}: answered and logged strategies agree`);
      assert.ok(p.actions.some((a) => a.id === reply.body.action));
    }
    console.log(`# ${decisions.length} decisions across ${versionsSeen.size} of 13 model versions`);
    assert.ok(versionsSeen.size >= 3, `decisions spanned only versions ${[...versionsSeen].join(',')}`);
  });

  it('another connection writing meanwhile (as the images slice does) never fails a decision or a reward', async () => {
    assert.equal((await put('shared', { actions: ['a', 'b'], reward: { waitSeconds: 3600 } })).status, 200);
    // Short write transactions on the app's own connection (BEGIN IMMEDIATE, reading then writing), as fast as the loop allows.
    const probe = t.db.prepare("INSERT INTO events (event_id, model, kind, created_at, payload) VALUES (?, 'probe', 'probe', ?, '{}')");
    const seen = t.db.prepare('SELECT COUNT(*) AS n FROM events');
    let n = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        t.db.transaction(() => { seen.get(); probe.run(`probe-${n++}`, Date.now()); }).immediate();
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    // Waves of 50 decide+reward pairs until the other connection has written at least 20 times alongside them
    // (a fast server finishes one wave before the timer-paced writer gets many turns).
    const all: Awaited<ReturnType<typeof post>>[] = [];
    for (let wave = 0; wave < 40 && (wave < 2 || n <= 20); wave++) {
      const replies = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
        const d = await post('/decide', { model: 'shared', context: { i, wave } });
        return d.status === 200 ? [d, await post('/reward', { eventId: d.body.eventId, reward: 1 })] : [d];
      }));
      all.push(...replies.flat());
    }
    writing = false;
    await writer;
    noServerErrors(all, 'decide/reward beside another writer');
    assert.deepEqual([...new Set(all.map((r) => r.status))], [200]);
    assert.ok(n > 20, `the other connection wrote only ${n} times`);
  });

  it('deleting a model while decisions are in flight: 200 or 404, never a 5xx, no decision logged for a deleted model', async () => {
    assert.equal((await put('doomed', { actions: ['a', 'b'] })).status, 200);
    const inFlight = Array.from({ length: 80 }, (_, i) => post('/decide', { model: 'doomed', eventId: `doomed-${i}` }));
    await new Promise((r) => setTimeout(r, 5));
    const del = await call(base, 'DELETE', '/models/doomed');
    const replies = await Promise.all(inFlight);
    assert.equal(del.status, 204);
    noServerErrors(replies, 'decide');
    const has = t.db.prepare('SELECT closed, closed_reason AS reason FROM events WHERE event_id = ?');
    for (const [i, r] of replies.entries()) {
      assert.ok([200, 404].includes(r.status), `${r.status} ${JSON.stringify(r.body)}`);
      const row = has.get(`doomed-${i}`) as { closed: number; reason: string } | undefined;
      if (r.status === 200) assert.deepEqual({ ...row }, { closed: 1, reason: 'deleted' }, 'an acknowledged decision is logged and closed by the delete');
      else assert.equal(row, undefined, 'a refused decision is not logged');
    }
  });
});

describe('concurrency of image feedback', { timeout: 120_000 }, () => {
  let h: ImagesHarness;
  let images: Server;
  let url = '';
  before(async () => {
    const root = makeRoot();
    await shipTestModel(root);
    h = await startImages(root);
    images = h.focal.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => images.once('listening', resolve));
    url = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
  });
  after(async () => {
    images.closeAllConnections();
    await new Promise((resolve) => images.close(resolve));
    await h.close(true);
  });

  it('parallel feedback for one classification: exactly one wins, the rest are 409, alone or mixed with bandit rewards in batches', async () => {
    const png = await sharp({ create: { width: 28, height: 28, channels: 3, background: '#fff' } })
      .composite([{ input: Buffer.from('<svg width="28" height="28"><rect x="12" y="4" width="4" height="20" fill="#000"/></svg>'), left: 0, top: 0 }])
      .png().toBuffer();
    const classify = async () => {
      const res = await fetch(`${url}/classify-image`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
      assert.equal(res.status, 200);
      return ((await res.json()) as { eventId: string }).eventId;
    };
    const imageEvents = await Promise.all(Array.from({ length: 4 }, classify));
    assert.equal((await call(url, 'PUT', '/models/mix', { actions: ['a', 'b'], reward: { waitSeconds: 3600 } })).status, 200);
    const decisions = await Promise.all(Array.from({ length: 4 }, async () => (await call(url, 'POST', '/decide', { model: 'mix' })).body.eventId as string));
    // Every event gets 8 items: singles and batches mixing image labels and bandit rewards, all in flight at once.
    const sends: Promise<Reply>[] = [];
    for (let k = 0; k < 8; k++) {
      for (const [i, id] of imageEvents.entries()) {
        sends.push(k % 2 ? call(url, 'POST', '/reward', { eventId: id, label: String(k) })
          : call(url, 'POST', '/reward', { events: [{ eventId: id, label: String(k) }, { eventId: decisions[i]!, reward: k / 8 }] }));
      }
      for (const id of decisions) if (k % 2) sends.push(call(url, 'POST', '/reward', { eventId: id, reward: 1 }));
    }
    const replies = await Promise.all(sends);
    noServerErrors(replies, 'feedback');
    const statuses = new Map<string, number[]>();
    for (const r of replies) {
      const items = r.body.results ? (r.body.results as { eventId: string; status: number }[]) : [{ eventId: r.body.eventId as string, status: r.status }];
      for (const item of items) statuses.set(item.eventId, [...(statuses.get(item.eventId) ?? []), item.status]);
    }
    for (const id of [...imageEvents, ...decisions]) {
      const s = statuses.get(id) ?? [];
      assert.equal(s.filter((x) => x === 200).length, 1, `${id}: ${s.join(',')}`);
      assert.equal(s.filter((x) => x === 409).length, s.length - 1, `${id}: ${s.join(',')}`);
      const rows = h.db.prepare("SELECT COUNT(*) AS n FROM rewards WHERE event_id = ? AND source = 'client'").get(id) as { n: number };
      assert.equal(rows.n, 1, `${id}: one feedback row`);
    }
    await h.idle();
  });
});
