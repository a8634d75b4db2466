import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { createBanditModel, type BanditConfig } from '../../src/bandit/index.js';
import { call, kill9, killAll, startFocal, type FocalProcess } from '../server-process.js';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';
import { addDictionarySource, payloadText, type StoredPayload } from '../../src/store/payload-codec.js';

/**
 * Kills the real server with SIGKILL mid-stream (no shutdown hook, no final
 * snapshot) and checks that everything it acknowledged survived, and that
 * both the model before the kill and the model after restart (snapshot +
 * replay) equal a model rebuilt from the reward log alone.
 */

const dir = mkdtempSync(join(tmpdir(), 'focal-restart-'));

function startServer(): Promise<FocalProcess> {
  return startFocal({
    FOCAL_DATA_DIR: dir, FOCAL_SNAPSHOT_INTERVAL_SECONDS: '1',
    // No shipped image models: this test is about the bandit, and loading them only slows each start.
    FOCAL_MODELS_DIR: join(dir, 'no-models'),
  }, 30_000);
}

interface Acked {
  decisions: Set<string>;
  rewards: Map<string, number>;
}

/** Several clients deciding and rewarding until `stop()` or `count` decisions; records what got a 2xx. */
function stream(s: FocalProcess, acked: Acked, opts: { clients: number; count?: number }) {
  let stopped = false;
  let issued = 0;
  const client = async (c: number) => {
    while (!stopped && (opts.count === undefined || issued < opts.count)) {
      const n = issued++;
      const eventId = `e-${process.hrtime.bigint()}-${c}-${n}`;
      const context = { user: { age: (n * 7) % 60, country: ['DE', 'FR', 'US'][n % 3]! }, hour: n % 24 };
      let d;
      try {
        d = await call(s.base, 'POST', '/decide', { model: 'm', context, eventId });
      } catch { return; }
      if (d.status !== 200) throw new Error(`decide ${d.status} ${JSON.stringify(d.body)}`);
      acked.decisions.add(eventId);
      if (n % 4 === 3) continue; // some decisions stay pending
      const reward = d.body.action === ['sports', 'music', 'news'][n % 3] ? 1 : 0;
      try {
        const r = await call(s.base, 'POST', '/reward', { eventId, reward });
        if (r.status !== 200) throw new Error(`reward ${r.status} ${JSON.stringify(r.body)}`);
        acked.rewards.set(eventId, reward);
      } catch (err) {
        if (err instanceof Error && err.message.startsWith('reward')) throw err;
        return;
      }
    }
  };
  const done = Promise.all(Array.from({ length: opts.clients }, (_, c) => client(c)));
  return { done, stop: () => { stopped = true; } };
}

async function model(s: FocalProcess) {
  const res = await call(s.base, 'GET', '/models/m');
  assert.equal(res.status, 200);
  return res.body as { version: number; config: BanditConfig; stats: { updates: number; fingerprint: string; decisions: number; clientRewards: number; pending: number; rewardSeq: number } };
}

describe('restart after SIGKILL', { timeout: 120_000 }, () => {
  after(async () => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses no acknowledged event and restores the model exactly', async () => {
    const acked: Acked = { decisions: new Set(), rewards: new Map() };
    let s = await startServer();
    const put = await call(s.base, 'PUT', '/models/m', { actions: ['sports', 'music', 'news'], learner: { name: 'linear', bits: 12 }, reward: { waitSeconds: 3600 } });
    assert.equal(put.status, 200);

    // A quiet moment: the model as it stands, and the reward-log position it reaches.
    await stream(s, acked, { clients: 6, count: 160 }).done;
    const before = await model(s);
    assert.equal(before.stats.decisions, acked.decisions.size);
    assert.equal(before.stats.updates, acked.rewards.size);

    // Then SIGKILL with requests in flight (snapshots run every second meanwhile).
    const live = stream(s, acked, { clients: 8 });
    const target = acked.decisions.size + 100;
    for (let waited = 0; acked.decisions.size < target && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, Math.random() * 300));
    await kill9(s);
    live.stop();
    await live.done;
    assert.ok(acked.decisions.size >= 160 + 100, `the second stream got only ${acked.decisions.size - 160} decisions through`);

    // Every acknowledged decision and reward is on disk.
    const db = new Database(join(dir, 'focal.db'));
    const hasEvent = db.prepare('SELECT 1 FROM events WHERE event_id = ?');
    const rewardOf = db.prepare("SELECT reward FROM rewards WHERE event_id = ? AND source = 'client'");
    for (const id of acked.decisions) assert.ok(hasEvent.get(id), `acknowledged decision ${id} is missing`);
    for (const [id, reward] of acked.rewards) assert.equal((rewardOf.get(id) as { reward: number } | undefined)?.reward, reward, `acknowledged reward ${id}`);
    db.close();

    s = await startServer();
    const after = await model(s);
    assert.ok(after.stats.decisions >= acked.decisions.size);
    assert.ok(after.stats.updates >= acked.rewards.size);
    assert.equal(after.stats.updates, after.stats.clientRewards, 'every logged reward is folded in exactly once');
    console.log(`# acknowledged ${acked.decisions.size} decisions and ${acked.rewards.size} rewards; after restart ${after.stats.decisions} and ${after.stats.updates}`);

    // Replaying the log alone gives the model before the kill (up to its log position) and the model after restart (all of it).
    const log = new Database(join(dir, 'focal.db'), { readonly: true });
    const rows = log.prepare(`SELECT r.seq AS seq, r.reward AS reward, e.payload AS payload FROM rewards r JOIN events e ON e.event_id = r.event_id
      WHERE r.model = 'm' AND r.learn = 1 ORDER BY r.seq`).all() as { seq: number; reward: number; payload: StoredPayload }[];
    // Compressed payloads name a dictionary stored in this database: read them while the connection is open.
    addDictionarySource(log);
    for (const r of rows) r.payload = payloadText(r.payload);
    log.close();
    const rebuilt = createBanditModel(after.config);
    const fingerprint = () => createHash('sha256').update(rebuilt.snapshot()).digest('hex');
    let passedBefore = false;
    for (const row of rows) {
      const p = decodeDecisionPayload(row.payload);
      rebuilt.learn({ context: p.context, actions: p.actions, chosen: p.chosen, probability: p.probability, reward: row.reward });
      if (row.seq === before.stats.rewardSeq) {
        assert.equal(fingerprint(), before.stats.fingerprint, 'the model before the kill is the log up to its position');
        assert.equal(rebuilt.updates, before.stats.updates);
        passedBefore = true;
      }
    }
    assert.ok(passedBefore, `the log holds the position ${before.stats.rewardSeq} of the model before the kill`);
    assert.equal(rebuilt.updates, after.stats.updates);
    assert.equal(fingerprint(), after.stats.fingerprint, 'the model after restart is the whole log');
    await kill9(s);
  });
});
