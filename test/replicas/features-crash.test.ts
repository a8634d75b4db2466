/**
 * The writes beyond decide/reward under SIGKILL on PostgreSQL replicas: multi-slot deferred decisions, their
 * per-slot rewards, activations and DSJSON imports, concurrently on two Focal processes sharing one real PostgreSQL
 * database, crossing replicas (decided on one, rewarded and activated on the other). One replica is killed with
 * SIGKILL: nothing acknowledged may be missing, the survivor keeps serving and learning, the restarted replica
 * converges to the survivor's model.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { toDsjson } from '../../src/evaluation/dsjson.js';
import { call, kill9, killAll, startFocal, type FocalProcess } from '../server-process.js';
import { startPgServer, type PgServer } from '../pg-server.js';

const ACTIONS = ['a', 'b', 'c', 'd', 'e'];
const SLOTS = [{ id: 'hero' }, { id: 'side' }];

async function ready(p: FocalProcess, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while ((await call(p.base, 'GET', '/readyz').catch(() => ({ status: 0 }))).status !== 200) {
    if (Date.now() > end) assert.fail(`replica not ready within ${ms} ms:\n${p.lines.slice(-20).join('\n')}`);
    await sleep(100);
  }
}

async function importLines(p: FocalProcess, lines: string[]): Promise<number> {
  const res = await fetch(`${p.base}/models/ms/log`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines.join('\n') + '\n' });
  await res.text();
  return res.status;
}

describe('replicas: slots, activations and imports under SIGKILL', { timeout: 600_000 }, () => {
  let server: PgServer | undefined;
  const dirs: string[] = [];
  after(async () => {
    killAll();
    await server?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('loses no acknowledged multi-slot decision, slot reward, activation or import; the survivor keeps learning; the restarted replica catches up', async () => {
    server = await startPgServer();
    const url = await server.createDatabase();
    const env = (name: string) => {
      const dir = mkdtempSync(join(tmpdir(), `focal-replica-${name}-`));
      dirs.push(dir);
      return { FOCAL_DATABASE_URL: url, FOCAL_DATA_DIR: dir, FOCAL_SNAPSHOT_INTERVAL_SECONDS: '1' };
    };
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

    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const events = new Map((await db.query<{ event_id: string; kind: string; hold: number }>('SELECT event_id, kind, hold FROM events')).rows.map((r) => [r.event_id, r]));
      const missing = decided.filter((id) => events.get(id)?.kind !== 'slots' || SLOTS.some((s) => events.get(`${id}#${s.id}`)?.kind !== 'decision'));
      assert.deepEqual(missing, [], `${missing.length} acknowledged multi-slot decisions missing`);
      const client = new Map((await db.query<{ event_id: string; reward: number }>(`SELECT event_id, reward FROM rewards WHERE source = 'client'`)).rows.map((r) => [r.event_id, r.reward]));
      const lost = slotRewards.filter((r) => client.get(r.eventId) !== r.reward);
      assert.deepEqual(lost, [], `${lost.length} acknowledged slot rewards missing`);
      const learned = new Set((await db.query<{ event_id: string }>(`SELECT event_id FROM rewards WHERE source = 'activated' AND learn = 1`)).rows.map((r) => r.event_id));
      const inactive = activated.filter((id) => SLOTS.some((s) => events.get(`${id}#${s.id}`)?.hold !== 0) || !learned.has(`${id}#hero`));
      assert.deepEqual(inactive, [], `${inactive.length} acknowledged activations missing`);
      const notImported = imported.filter((id) => events.get(id)?.kind !== 'decision' || !client.has(id));
      assert.deepEqual(notImported, [], `${notImported.length} acknowledged imported events missing`);
    } finally {
      await db.end();
    }

    // Generous: on a machine shared with other work a process takes long to load its image models.
    const a2 = await startFocal(envA, 180_000);
    await ready(a2);
    const end = Date.now() + 30_000;
    for (;;) {
      const [va, vb] = await Promise.all([call(a2.base, 'GET', '/models/ms'), call(b.base, 'GET', '/models/ms')]);
      const sa = va.body.stats as { fingerprint: string; rewardSeq: number; replica: { behindEvents: number } };
      const sb = vb.body.stats as { fingerprint: string; rewardSeq: number };
      if (sa.fingerprint === sb.fingerprint && sa.rewardSeq === sb.rewardSeq && sa.replica.behindEvents === 0) break;
      if (Date.now() > end) assert.fail(`the restarted replica did not converge: ${JSON.stringify({ sa, sb })}`);
      await sleep(100);
    }
    await kill9(a2);
    await kill9(b);
  });
});
