/**
 * Replicas under load and SIGKILL (FOCAL_DATABASE_URL): two Focal processes share one real PostgreSQL database;
 * clients decide on one replica and reward on the other, concurrently on both; one replica is killed with SIGKILL.
 * No acknowledged decision or reward may be missing from the database, the survivor keeps serving and learning,
 * and the killed replica, restarted, catches up to the survivor's fingerprint.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { call, kill9, startFocal, type FocalProcess } from '../server-process.js';
import { caughtUp, processCluster, ready, rows } from './helpers.js';

const ACTIONS = ['sports', 'music', 'news', 'weather'];

describe('replicas: SIGKILL under concurrent load', { timeout: 600_000 }, () => {
  const cluster = processCluster();
  after(() => cluster.stop());

  it('loses no acknowledged event; the survivor keeps serving and learning; the restarted replica catches up', async () => {
    const { url, env } = await cluster.database();
    const envA = env('a');
    const a = await startFocal(envA);
    const b = await startFocal(env('b'));
    await Promise.all([ready(a), ready(b)]);

    const decided: string[] = [];
    const rewarded: { eventId: string; reward: number }[] = [];
    let stopA = false;
    let stopB = false;
    let n = 0;
    // A client decides on `from` and rewards on `to` (and the other way round every other time).
    const client = async (from: FocalProcess, to: FocalProcess, stopped: () => boolean) => {
      while (!stopped()) {
        const i = n++;
        try {
          const d = await call(from.base, 'POST', '/decide', { context: { user: { n: i % 11 } }, actions: ACTIONS });
          if (d.status !== 200) continue;
          const eventId = d.body.eventId as string;
          decided.push(eventId);
          const reward = i % 3 === 0 ? 1 : 0;
          const r = await call(to.base, 'POST', '/reward', { eventId, reward });
          if (r.status === 200) rewarded.push({ eventId, reward });
        } catch {
          await sleep(5); // the killed replica refuses connections
        }
      }
    };
    const clients = [
      client(a, b, () => stopA), client(a, b, () => stopA), client(b, a, () => stopA), client(b, a, () => stopA),
      client(b, b, () => stopB), client(b, b, () => stopB),
    ];
    // Kill once the load is under way: at least 2 s and 20 acknowledged rewards (a loaded machine is slow to start).
    await sleep(2000);
    for (let waited = 0; rewarded.length <= 20 && waited < 60_000; waited += 100) await sleep(100);
    await kill9(a);
    const atKill = rewarded.length;
    stopA = true;
    const before = (await call(b.base, 'GET', '/models/default')).body.stats as { updates: number };
    await sleep(1500);
    stopB = true;
    await Promise.all(clients);
    assert.ok(atKill > 10, `too little load before the kill (${atKill} rewards)`);

    // The survivor served and learned after the kill.
    const survivor = (await call(b.base, 'GET', '/models/default')).body.stats as { updates: number; fingerprint: string };
    assert.ok(survivor.updates > before.updates, `B learned nothing after the kill (${before.updates} → ${survivor.updates})`);

    // Every acknowledged decision and reward is in PostgreSQL.
    const events = new Set((await rows<{ event_id: string }>(url, 'SELECT event_id FROM events')).map((r) => r.event_id));
    const missing = decided.filter((id) => !events.has(id));
    assert.deepEqual(missing, [], `${missing.length} acknowledged decisions missing`);
    const rewards = new Map((await rows<{ event_id: string; reward: number }>(url, `SELECT event_id, reward FROM rewards WHERE source = 'client'`)).map((r) => [r.event_id, r.reward]));
    const lost = rewarded.filter((r) => rewards.get(r.eventId) !== r.reward);
    assert.deepEqual(lost, [], `${lost.length} acknowledged rewards missing`);

    // The killed replica restarts (snapshot + log) and reaches the survivor's model.
    const a2 = await startFocal(envA, 180_000);
    await ready(a2);
    await caughtUp(a2, b, 'default');
    await kill9(a2);
    await kill9(b);
  });
});
