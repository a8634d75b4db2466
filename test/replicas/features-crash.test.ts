/**
 * The writes beyond decide/reward under SIGKILL on PostgreSQL replicas: multi-slot deferred decisions, their
 * per-slot rewards, activations and DSJSON imports, concurrently on two Focal processes sharing one real PostgreSQL
 * database, crossing replicas (decided on one, rewarded and activated on the other). One replica is killed with
 * SIGKILL: nothing acknowledged may be missing, the survivor keeps serving and learning, the restarted replica
 * converges to the survivor's model.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { toDsjson } from '../../src/evaluation/dsjson.js';
import { call, kill9, startFocal, type FocalProcess } from '../server-process.js';
import { caughtUp, processCluster, ready, rows } from './helpers.js';

const ACTIONS = ['a', 'b', 'c', 'd', 'e'];
const SLOTS = [{ id: 'hero' }, { id: 'side' }];

async function importLines(p: FocalProcess, lines: string[]): Promise<number> {
  const res = await fetch(`${p.base}/models/ms/log`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines.join('\n') + '\n' });
  await res.text();
  return res.status;
}

describe('replicas: slots, activations and imports under SIGKILL', { timeout: 600_000 }, () => {
  const cluster = processCluster();
  after(() => cluster.stop());

  it('loses no acknowledged multi-slot decision, slot reward, activation or import; the survivor keeps learning; the restarted replica catches up', async () => {
    const { url, env } = await cluster.database();
    const envA = env('a');
    const a = await startFocal(envA, 180_000);
    const b = await startFocal(env('b'), 180_000);
    await Promise.all([ready(a), ready(b)]);
    assert.equal((await call(a.base, 'PUT', '/models/ms', { actions: ACTIONS })).status, 200);
    for (let i = 0; (await call(b.base, 'GET', '/models/ms')).status !== 200; i++) {
      if (i > 100) assert.fail('the model did not reach B');
      await sleep(50);
    }

    const decided: string[] = [];
    const slotRewards: { eventId: string; reward: number }[] = [];
    const activated: string[] = [];
    const imported: string[] = [];
    const statuses: string[] = [];
    let stopA = false;
    let stopB = false;
    let n = 0;
    // Decides a deferred multi-slot decision on `from`, rewards its hero slot and activates it on `to`.
    const slotsClient = async (from: FocalProcess, to: FocalProcess, stopped: () => boolean) => {
      while (!stopped()) {
        const i = n++;
        try {
          const d = await call(from.base, 'POST', '/decide', { model: 'ms', context: { u: { n: i % 7 } }, slots: SLOTS, defer: true });
          if (d.status !== 200) continue;
          const eventId = d.body.eventId as string;
          decided.push(eventId);
          const reward = i % 2;
          const r = await call(to.base, 'POST', '/reward', { eventId, slot: 'hero', reward });
          if (r.status === 200) slotRewards.push({ eventId: `${eventId}#hero`, reward });
          const act = await call(i % 3 === 0 ? from.base : to.base, 'POST', `/events/${eventId}/activate`);
          if (act.status === 204) activated.push(eventId);
          else statuses.push(`${r.status}/${act.status}`);
        } catch {
          await sleep(5); // the killed replica refuses connections
        }
      }
    };
    // Imports batches of ten rewarded DSJSON events.
    const importClient = async (to: FocalProcess, stopped: () => boolean) => {
      while (!stopped()) {
        const i = n++;
        const ids = Array.from({ length: 10 }, (_, j) => `imp-${i}-${j}`);
        const lines = ids.map((eventId, j) => toDsjson({
          eventId, createdAt: Date.now(), context: { u: { n: j } }, actions: ACTIONS.map((id) => ({ id })),
          pmf: ACTIONS.map(() => 1 / ACTIONS.length), chosen: j % ACTIONS.length, probability: 1 / ACTIONS.length, reward: j % 2,
        }));
        try {
          if (await importLines(to, lines) === 200) imported.push(...ids);
        } catch {
          await sleep(5);
        }
      }
    };
    const clients = [
      slotsClient(a, b, () => stopA), slotsClient(b, a, () => stopA), importClient(a, () => stopA),
      slotsClient(b, b, () => stopB), importClient(b, () => stopB),
    ];
    // Load on both until each kind of write has been acknowledged a few times (the machine may be slow).
    for (const end = Date.now() + 60_000; Date.now() < end && !(decided.length >= 10 && activated.length >= 6 && imported.length >= 40);) await sleep(100);
    await kill9(a);
    const atKill = { decided: decided.length, activated: activated.length, imported: imported.length };
    stopA = true;
    const before = (await call(b.base, 'GET', '/models/ms')).body.stats as { updates: number };
    await sleep(1500);
    stopB = true;
    await Promise.all(clients);
    assert.ok(atKill.decided > 5 && atKill.activated > 5 && atKill.imported > 20, `too little load before the kill: ${JSON.stringify(atKill)}; refused (reward/activation): ${statuses.slice(0, 10).join(' ')}`);

    const survivor = (await call(b.base, 'GET', '/models/ms')).body.stats as { updates: number };
    assert.ok(survivor.updates > before.updates, `B learned nothing after the kill (${before.updates} → ${survivor.updates})`);

    const events = new Map((await rows<{ event_id: string; kind: string; hold: number }>(url, 'SELECT event_id, kind, hold FROM events')).map((r) => [r.event_id, r]));
    const missing = decided.filter((id) => events.get(id)?.kind !== 'slots' || SLOTS.some((s) => events.get(`${id}#${s.id}`)?.kind !== 'decision'));
    assert.deepEqual(missing, [], `${missing.length} acknowledged multi-slot decisions missing`);
    const client = new Map((await rows<{ event_id: string; reward: number }>(url, `SELECT event_id, reward FROM rewards WHERE source = 'client'`)).map((r) => [r.event_id, r.reward]));
    const lost = slotRewards.filter((r) => client.get(r.eventId) !== r.reward);
    assert.deepEqual(lost, [], `${lost.length} acknowledged slot rewards missing`);
    const learned = new Set((await rows<{ event_id: string }>(url, `SELECT event_id FROM rewards WHERE source = 'activated' AND learn = 1`)).map((r) => r.event_id));
    const inactive = activated.filter((id) => SLOTS.some((s) => events.get(`${id}#${s.id}`)?.hold !== 0) || !learned.has(`${id}#hero`));
    assert.deepEqual(inactive, [], `${inactive.length} acknowledged activations missing`);
    const notImported = imported.filter((id) => events.get(id)?.kind !== 'decision' || !client.has(id));
    assert.deepEqual(notImported, [], `${notImported.length} acknowledged imported events missing`);

    // Generous: on a machine shared with other work a process takes long to load its image models.
    const a2 = await startFocal(envA, 180_000);
    await ready(a2);
    await caughtUp(a2, b, 'ms');
    await kill9(a2);
    await kill9(b);
  });
});
