import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createBanditModel, type BanditConfig, type OptimizerStatus } from '../../src/bandit/index.js';
import { Xoshiro128 } from '../../src/bandit/random/seeded-rng.js';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';
import { addDictionarySource, payloadText, type StoredPayload } from '../../src/store/payload-codec.js';
import { call, kill9, killAll, startFocal, type FocalProcess } from '../server-process.js';

/**
 * Automatic optimization survives SIGKILL: a model with strategy auto learns an XOR problem over HTTP (the
 * c×c×a candidate wins it after 160–1,080 events in-process, median about 390 over 10 seeds; 2,000 here, where four
 * clients interleave decisions and rewards), the server is killed mid-stream, and after the restart
 * (snapshot + replay) GET /models/m shows the same choices, estimates and fingerprint as a model rebuilt from the
 * reward log alone; the model before the kill equals the log up to its position too.
 */

const dir = mkdtempSync(join(tmpdir(), 'focal-auto-restart-'));

function startServer(): Promise<FocalProcess> {
  return startFocal({ FOCAL_DATA_DIR: dir, FOCAL_SNAPSHOT_INTERVAL_SECONDS: '1', FOCAL_MODELS_DIR: join(dir, 'no-models') }, 30_000);
}

interface View {
  config: BanditConfig;
  stats: { updates: number; fingerprint: string; rewardSeq: number };
  optimizer: OptimizerStatus;
}

async function view(s: FocalProcess): Promise<View> {
  const res = await call(s.base, 'GET', '/models/m');
  assert.equal(res.status, 200);
  return res.body as unknown as View;
}

/** Clients deciding and rewarding the XOR world: "left" pays Bernoulli(0.9) when the signs agree, else 0.1. */
function stream(s: FocalProcess, opts: { clients: number; count?: number; from: number }) {
  let stopped = false;
  let issued = opts.from;
  const end = opts.count === undefined ? Infinity : opts.from + opts.count;
  const client = async () => {
    while (!stopped && issued < end) {
      const n = issued++;
      const rng = new Xoshiro128(n + 1);
      const a = rng.next() < 0.5 ? -1 : 1;
      const b = rng.next() < 0.5 ? -1 : 1;
      const eventId = `x-${n}`;
      let d;
      try {
        d = await call(s.base, 'POST', '/decide', { model: 'm', context: { u: { a, b } }, eventId });
      } catch { return; }
      if (d.status !== 200) throw new Error(`decide ${d.status} ${JSON.stringify(d.body)}`);
      const best = a * b > 0 ? 'left' : 'right';
      const reward = rng.next() < (d.body.action === best ? 0.9 : 0.1) ? 1 : 0;
      try {
        await call(s.base, 'POST', '/reward', { eventId, reward });
      } catch { return; }
    }
  };
  const done = Promise.all(Array.from({ length: opts.clients }, () => client()));
  return { done, stop: () => { stopped = true; }, get issued() { return issued; } };
}

describe('automatic optimization after SIGKILL', { timeout: 180_000 }, () => {
  after(async () => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replays the same choices and estimates', async () => {
    let s = await startServer();
    const put = await call(s.base, 'PUT', '/models/m', { strategy: { name: 'auto' }, actions: ['left', 'right'], learner: { name: 'linear', bits: 14, interactions: [['u', 'action']] }, reward: { waitSeconds: 3600 } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    await stream(s, { clients: 4, count: 2000, from: 0 }).done;
    const before = await view(s);
    assert.ok(before.optimizer.switches >= 1, `a switch by now: ${JSON.stringify(before.optimizer.candidates.map((c) => [c.name, c.lowerBound]))}`);
    assert.match(before.optimizer.serving, /quadratic/);

    const live = stream(s, { clients: 6, from: 2000 });
    for (let waited = 0; live.issued < 2200 && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, Math.random() * 300));
    await kill9(s);
    live.stop();
    await live.done;

    s = await startServer();
    const restarted = await view(s);
    assert.equal(restarted.stats.updates, restarted.optimizer.events);

    const log = new Database(join(dir, 'focal.db'), { readonly: true });
    const rows = log.prepare(`SELECT r.seq AS seq, r.reward AS reward, r.event_id AS eventId, e.payload AS payload FROM rewards r JOIN events e ON e.event_id = r.event_id
      WHERE r.model = 'm' AND r.learn = 1 ORDER BY r.seq`).all() as { seq: number; reward: number; eventId: string; payload: StoredPayload }[];
    addDictionarySource(log);
    for (const r of rows) r.payload = payloadText(r.payload);
    log.close();
    const rebuilt = createBanditModel(restarted.config);
    const fingerprint = () => createHash('sha256').update(rebuilt.snapshot()).digest('hex');
    let passedBefore = false;
    for (const row of rows) {
      const p = decodeDecisionPayload(row.payload);
      rebuilt.learn({ context: p.context, actions: p.actions, chosen: p.chosen, probability: p.probability, reward: row.reward, eventId: row.eventId });
      if (row.seq === before.stats.rewardSeq) {
        assert.equal(fingerprint(), before.stats.fingerprint, 'the model before the kill is the log up to its position');
        assert.deepEqual(JSON.parse(JSON.stringify(rebuilt.optimizerStatus!())), before.optimizer);
        passedBefore = true;
      }
    }
    assert.ok(passedBefore);
    assert.equal(fingerprint(), restarted.stats.fingerprint, 'the model after restart is the whole log');
    assert.deepEqual(JSON.parse(JSON.stringify(rebuilt.optimizerStatus!())), restarted.optimizer, 'the same choices and estimates after the restart');
    await kill9(s);
  });
});
