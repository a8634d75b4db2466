import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { createBanditModel, type BanditConfig } from '../../src/bandit/index.js';
import { shipTestModel } from '../images/harness.js';
import { call, kill9, killAll, startFocal, type FocalProcess } from '../server-process.js';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';
import { addDictionarySource, payloadText, type StoredPayload } from '../../src/store/payload-codec.js';

/**
 * Crash safety (issue 5): concurrent clients drive /decide and /reward
 * against a real process, which is killed with SIGKILL at a random moment;
 * the next process on the same data directory must hold every acknowledged
 * decision and reward, no event may be half-applied, and each model must
 * equal one rebuilt from the reward log alone. Several kill points, one data
 * directory: each round starts from what the previous crash left.
 *
 * Two models: `first` (one reward closes the event and is learned at once)
 * and `sum` (rewards add up and are learned as one aggregate row when a
 * one-second window closes, so the sweeper commits while clients run and
 * while the process dies). Two more clients classify images and sends their
 * labels (the images slice's own writer): those acknowledgements must hold too.
 */

const ACTIONS = ['sports', 'music', 'news', 'weather'];
const ROUNDS = 3;

interface Acked {
  decisions: Map<string, string>;
  /** eventId → every acknowledged reward for it (one under `first`, several under `sum`). */
  rewards: Map<string, number[]>;
  /** Acknowledged classifications → the acknowledged label, or null while none was. */
  images: Map<string, string | null>;
}

interface ModelReply {
  version: number;
  config: BanditConfig;
  stats: { decisions: number; updates: number; rewardSeq: number; fingerprint: string };
}

/** Keys for every process after the first (which runs open, and so warns): they must never reach its output. */
const USER_KEY = 'crash-user-key-5f0c2a9d71';
const ADMIN_KEY = 'crash-admin-key-b3e84c1f06';
const keyed = { FOCAL_API_KEY: USER_KEY, FOCAL_ADMIN_KEY: ADMIN_KEY, FOCAL_LOG_LEVEL: 'debug' };
const auth = { authorization: `Bearer ${USER_KEY}` };

let png: Buffer;

function stream(p: FocalProcess, acked: Acked, clients: number) {
  let stopped = false;
  let n = 0;
  const imageClient = async () => {
    for (let i = 0; !stopped; i++) {
      let c, f;
      try {
        const res = await fetch(`${p.base}/classify-image`, { method: 'POST', headers: { 'content-type': 'image/png', ...auth }, body: png });
        c = { status: res.status, body: await res.json() as { eventId: string } };
      } catch { return; }
      assert.equal(c.status, 200, `classify ${JSON.stringify(c.body)}`);
      acked.images.set(c.body.eventId, null);
      if (i % 3 === 2) continue; // left without feedback
      const label = String(i % 10);
      try {
        f = await call(p.base, 'POST', '/reward', { eventId: c.body.eventId, label }, auth);
      } catch { return; }
      assert.equal(f.status, 200, `feedback ${JSON.stringify(f.body)}`);
      acked.images.set(c.body.eventId, label);
    }
  };
  const client = async (c: number) => {
    while (!stopped) {
      const i = n++;
      const model = i % 3 === 2 ? 'sum' : 'first';
      const eventId = `c${c}-${process.hrtime.bigint()}-${i}`;
      const context = { user: { age: (i * 7) % 60, country: ['DE', 'FR', 'US'][i % 3]! }, hour: i % 24 };
      let d;
      try {
        d = await call(p.base, 'POST', '/decide', { model, context, eventId }, auth);
      } catch { return; } // the process died under us: unacknowledged
      assert.equal(d.status, 200, `decide ${JSON.stringify(d.body)}`);
      acked.decisions.set(eventId, model);
      if (i % 5 === 4) continue; // left pending
      const rewards = model === 'sum' ? [0.5, 0.25] : [d.body.action === ACTIONS[i % 4] ? 1 : 0];
      for (const reward of rewards) {
        let r;
        try {
          r = await call(p.base, 'POST', '/reward', { eventId, reward }, auth);
        } catch { return; }
        // Under `sum` a reward can arrive after its one-second window closed: 410, not acknowledged.
        if (r.status === 410 && model === 'sum') break;
        assert.equal(r.status, 200, `reward ${JSON.stringify(r.body)}`);
        acked.rewards.set(eventId, [...(acked.rewards.get(eventId) ?? []), reward]);
      }
    }
  };
  const done = Promise.all([...Array.from({ length: clients }, (_, c) => client(c)), imageClient(), imageClient()]);
  return { done, stop: () => { stopped = true; } };
}

/** Reads the dead process's database (read-only) and checks every acknowledgement and the log's own consistency. */
function checkLog(dbPath: string, acked: Acked): { events: number; rewardRows: number } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const event = db.prepare('SELECT model, kind FROM events WHERE event_id = ?');
    for (const [id, model] of acked.decisions) {
      assert.deepEqual({ ...(event.get(id) as object | undefined) }, { model, kind: 'decision' }, `acknowledged decision ${id}`);
    }
    const clientRewards = db.prepare("SELECT reward FROM rewards WHERE event_id = ? AND source = 'client' ORDER BY seq");
    for (const [id, rewards] of acked.rewards) {
      const logged = (clientRewards.all(id) as { reward: number }[]).map((r) => r.reward);
      // Every acknowledged reward is logged; an unacknowledged one (lost reply) may be there too.
      for (const r of rewards) {
        const at = logged.indexOf(r);
        assert.ok(at >= 0, `acknowledged reward ${r} for ${id} is missing (logged: ${JSON.stringify(logged)})`);
        logged.splice(at, 1);
      }
    }

    // No event is half-applied: its row and its reward log agree.
    const rows = db.prepare(`SELECT e.event_id AS id, e.model AS model, e.reward AS reward, e.reward_count AS count, e.closed AS closed,
        e.closed_reason AS reason,
        (SELECT COUNT(*) FROM rewards r WHERE r.event_id = e.event_id AND r.source = 'client') AS clientRows,
        (SELECT SUM(r.reward) FROM rewards r WHERE r.event_id = e.event_id AND r.source = 'client') AS clientSum,
        (SELECT COUNT(*) FROM rewards r WHERE r.event_id = e.event_id AND r.learn = 1) AS learnRows,
        (SELECT r.reward FROM rewards r WHERE r.event_id = e.event_id AND r.learn = 1) AS learned
      FROM events e WHERE e.kind = 'decision'`).all() as {
      id: string; model: string; reward: number | null; count: number; closed: number; reason: string | null;
      clientRows: number; clientSum: number | null; learnRows: number; learned: number | null;
    }[];
    for (const e of rows) {
      const what = `event ${e.id} (${e.model}): ${JSON.stringify(e)}`;
      assert.equal(e.count, e.clientRows, `reward_count matches the log, ${what}`);
      if (e.closed === 0) {
        assert.equal(e.learnRows, 0, `an open event has nothing learned, ${what}`);
        assert.equal(e.reward, e.clientSum, `an open event's reward is the sum so far, ${what}`);
        continue;
      }
      assert.equal(e.learnRows, 1, `a closed event is learned exactly once, ${what}`);
      assert.equal(e.learned, e.reward, `what was learned is the event's reward, ${what}`);
      if (e.model === 'first') {
        assert.equal(e.reason, e.clientRows === 1 ? 'reward' : 'window', what);
      } else {
        assert.equal(e.reason, 'window', what);
        // Learned the sum of the rewards received, or the default (0) when none came.
        assert.equal(e.reward, e.clientSum ?? 0, what);
      }
    }
    // Classifications and their feedback: each acknowledged one is logged, and an image event is closed exactly when it has its one feedback row.
    const image = db.prepare(`SELECT e.kind AS kind, e.closed AS closed, e.reward_count AS count,
        (SELECT group_concat(r.label) FROM rewards r WHERE r.event_id = e.event_id) AS labels FROM events e WHERE e.event_id = ?`);
    for (const [id, label] of acked.images) {
      const row = image.get(id) as { kind: string; closed: number; count: number; labels: string | null } | undefined;
      assert.equal(row?.kind, 'image', `acknowledged classification ${id}`);
      if (label !== null) assert.equal(row.labels, label, `acknowledged feedback for ${id}`);
    }
    const halfImages = db.prepare(`SELECT e.event_id AS id FROM events e WHERE e.kind = 'image' AND
      (e.reward_count <> (SELECT COUNT(*) FROM rewards r WHERE r.event_id = e.event_id) OR e.closed <> (e.reward_count > 0))`).all();
    assert.deepEqual(halfImages, [], 'image events whose row and feedback log disagree');
    const rewardRows = (db.prepare('SELECT COUNT(*) AS n FROM rewards').get() as { n: number }).n;
    return { events: rows.length, rewardRows };
  } finally {
    db.close();
  }
}

/** The live model equals a fresh model fed the reward log up to the seq it reports. */
async function checkRebuild(p: FocalProcess, dbPath: string, name: string): Promise<ModelReply> {
  const res = await call(p.base, 'GET', `/models/${name}`, undefined, auth);
  assert.equal(res.status, 200);
  const view = res.body as unknown as ModelReply;
  const db = new Database(dbPath, { readonly: true });
  const rows = db.prepare(`SELECT r.reward AS reward, e.payload AS payload FROM rewards r JOIN events e ON e.event_id = r.event_id
    WHERE r.model = ? AND r.learn = 1 AND r.seq <= ? ORDER BY r.seq`).all(name, view.stats.rewardSeq) as { reward: number; payload: StoredPayload }[];
  // Compressed payloads name a dictionary stored in this database: read them while the connection is open.
  addDictionarySource(db);
  for (const r of rows) r.payload = payloadText(r.payload);
  db.close();
  const rebuilt = createBanditModel({ strategy: view.config.strategy, learner: view.config.learner });
  for (const row of rows) {
    const d = decodeDecisionPayload(row.payload);
    rebuilt.learn({ context: d.context, actions: d.actions, chosen: d.chosen, probability: d.probability, reward: row.reward });
  }
  assert.equal(view.stats.updates, rows.length, `${name}: every learned log row is folded in exactly once`);
  assert.equal(view.stats.fingerprint, createHash('sha256').update(rebuilt.snapshot()).digest('hex'), `${name}: the model equals the log's rebuild`);
  return view;
}

describe('SIGKILL under concurrent load', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'focal-crash-'));
  const dbPath = join(dir, 'data', 'focal.db');
  const env = { FOCAL_DATA_DIR: join(dir, 'data'), FOCAL_MODELS_DIR: join(dir, 'models'), FOCAL_SNAPSHOT_INTERVAL_SECONDS: '1', FOCAL_TF_BACKEND: 'wasm' };
  after(() => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every acknowledged decision and reward, applies no event by halves and restores each model from its log', async () => {
    const acked: Acked = { decisions: new Map(), rewards: new Map(), images: new Map() };
    await shipTestModel(dir);
    png = await sharp({ create: { width: 28, height: 28, channels: 3, background: '#fff' } })
      .composite([{ input: Buffer.from('<svg width="28" height="28"><rect x="12" y="4" width="4" height="20" fill="#000"/></svg>'), left: 0, top: 0 }])
      .png().toBuffer();
    const outputs: FocalProcess[] = [];
    let p = await startFocal(env);
    outputs.push(p);
    assert.ok(p.lines.some((l) => /"level":40.*FOCAL_API_KEY/.test(l)), 'a process without keys warns that it is open');
    const learner = { name: 'linear', bits: 12 };
    assert.equal((await call(p.base, 'PUT', '/models/first', { actions: ACTIONS, learner, reward: { waitSeconds: 3600 } })).status, 200);
    assert.equal((await call(p.base, 'PUT', '/models/sum', { actions: ACTIONS, learner, reward: { waitSeconds: 1, aggregation: 'sum' } })).status, 200);

    for (let round = 1; round <= ROUNDS; round++) {
      const live = stream(p, acked, 8);
      // A random kill point, by progress rather than by time so a slow machine still gets there:
      // after 10 to 90 more acknowledged decisions and at least one classification, then 0–500 ms more.
      const started = Date.now();
      const target = acked.decisions.size + 10 + Math.floor(Math.random() * 80);
      const images = acked.images.size + 1;
      while ((acked.decisions.size < target || acked.images.size < images) && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, Math.random() * 500));
      const ms = Date.now() - started;
      await kill9(p);
      live.stop();
      await live.done;
      const log = checkLog(dbPath, acked);
      console.log(`# round ${round}: killed after ${ms.toFixed(0)} ms; acknowledged so far ${acked.decisions.size} decisions, `
        + `${[...acked.rewards.values()].reduce((n, r) => n + r.length, 0)} rewards, ${acked.images.size} classifications, `
        + `${[...acked.images.values()].filter((l) => l !== null).length} labels; log ${log.events} decision events, ${log.rewardRows} reward rows`);

      p = await startFocal({ ...env, ...keyed });
      outputs.push(p);
      assert.equal((await call(p.base, 'POST', '/decide', { model: 'first' })).status, 401, 'the keys are in force');
      const first = await checkRebuild(p, dbPath, 'first');
      await checkRebuild(p, dbPath, 'sum');
      assert.equal(first.version, 1, 'no crash bumps a model version');
      assert.ok(first.stats.decisions >= [...acked.decisions.values()].filter((m) => m === 'first').length);
    }
    assert.ok(acked.decisions.size >= 30 * ROUNDS, `only ${acked.decisions.size} decisions were acknowledged in ${ROUNDS} rounds`);

    // Acknowledged events answer as logged: a reused eventId is a 409, a second `first` reward a 409.
    const firstRewarded = [...acked.rewards.keys()].filter((id) => acked.decisions.get(id) === 'first').slice(0, 40);
    for (const id of firstRewarded) {
      const r = await call(p.base, 'POST', '/reward', { eventId: id, reward: 1 }, auth);
      assert.equal(r.status, 409, `second reward for ${id}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.reward, acked.rewards.get(id)![0]);
    }
    for (const [id, model] of [...acked.decisions].slice(0, 40)) {
      assert.equal((await call(p.base, 'POST', '/decide', { model, eventId: id }, auth)).status, 409, `reused eventId ${id}`);
    }
    await kill9(p);
    checkLog(dbPath, acked);
    for (const line of outputs.flatMap((o) => o.lines)) assert.ok(!line.includes(USER_KEY) && !line.includes(ADMIN_KEY), `a key reached the output: ${line}`);
  });
});
