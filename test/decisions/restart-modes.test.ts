import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createBanditModel, type BanditConfig } from '../../src/bandit/index.js';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';
import { addDictionarySource, payloadText, type StoredPayload } from '../../src/store/payload-codec.js';
import { call, kill9, killAll, startFocal, type FocalProcess } from '../server-process.js';

/**
 * SIGKILL with learning modes, deferred activation and multi-slot decisions in flight: every acknowledged decision,
 * reward and activation is on disk, and each model after restart is exactly its reward log replayed (held rows,
 * never learned, stay out of it; activated ones are in it once).
 */

const dir = mkdtempSync(join(tmpdir(), 'focal-restart-modes-'));
const ACTIONS = ['sports', 'music', 'news', 'games'];

function startServer(): Promise<FocalProcess> {
  return startFocal({ FOCAL_DATA_DIR: dir, FOCAL_SNAPSHOT_INTERVAL_SECONDS: '1', FOCAL_MODELS_DIR: join(dir, 'no-models') }, 30_000);
}

interface Acked {
  decisions: Set<string>;
  /** Slot (or plain) event id → the reward acknowledged for it. */
  rewards: Map<string, number>;
  activated: Set<string>;
}

/** Clients deciding in every mode and form, rewarding (some before activation) and activating, until stopped. */
function stream(s: FocalProcess, acked: Acked, opts: { clients: number; count?: number }) {
  let stopped = false;
  let issued = 0;
  const ok = (what: string, r: { status: number; body: unknown }, status = 200) => {
    if (r.status !== status) throw new Error(`${what} ${r.status} ${JSON.stringify(r.body)}`);
  };
  const client = async (c: number) => {
    try {
      while (!stopped && (opts.count === undefined || issued < opts.count)) {
        const n = issued++;
        const eventId = `e-${process.hrtime.bigint()}-${c}-${n}`;
        const context = { user: { age: (n * 7) % 60, country: ['DE', 'FR', 'US'][n % 3]! } };
        const defer = n % 3 === 0;
        const model = ['app', 'log', 'slots', 'online'][n % 4]!;
        if (model === 'slots') {
          const d = await call(s.base, 'POST', '/decide', { model, context, eventId, defer, slots: [{ id: 'hero', features: { big: true } }, { id: 'side' }] });
          ok('decide', d);
          acked.decisions.add(eventId);
          const chosen = (d.body as { slots: { action: string }[] }).slots.map((x) => x.action);
          const rewards = { hero: chosen[0] === 'news' ? 1 : 0, side: chosen[1] === 'music' ? 1 : 0 };
          const r = await call(s.base, 'POST', '/reward', { eventId, rewards });
          ok('reward', r);
          acked.rewards.set(`${eventId}#hero`, rewards.hero);
          acked.rewards.set(`${eventId}#side`, rewards.side);
        } else {
          const d = await call(s.base, 'POST', '/decide', { model, context, eventId, defer: defer && model !== 'log', baseline: ACTIONS[n % 4], excludedActions: [ACTIONS[(n + 1) % 4]] });
          ok('decide', d);
          acked.decisions.add(eventId);
          const reward = (d.body as { action: string }).action === 'news' ? 1 : 0;
          ok('reward', await call(s.base, 'POST', '/reward', { eventId, reward }));
          acked.rewards.set(eventId, reward);
        }
        if (defer && model !== 'log' && n % 2 === 0) {
          ok('activate', await call(s.base, 'POST', `/events/${eventId}/activate`), 204);
          acked.activated.add(eventId);
        }
      }
    } catch (err) {
      if (err instanceof Error && /^(decide|reward|activate) \d/.test(err.message)) throw err;
      // The server was killed: the request in flight has no answer.
    }
  };
  const done = Promise.all(Array.from({ length: opts.clients }, (_, c) => client(c)));
  return { done, stop: () => { stopped = true; } };
}

type View = { config: BanditConfig; stats: { updates: number; fingerprint: string; rewardSeq: number; apprentice?: { events: number; imitated: number } } };

async function view(s: FocalProcess, name: string): Promise<View> {
  const res = await call(s.base, 'GET', `/models/${name}`);
  assert.equal(res.status, 200);
  return res.body as View;
}

/** The model rebuilt from its learned reward rows alone, and its fingerprint at each seq. */
function rebuild(name: string, config: BanditConfig): { fingerprint: string; updates: number; at: Map<number, string> } {
  const log = new Database(join(dir, 'focal.db'), { readonly: true });
  const rows = log.prepare(`SELECT r.seq AS seq, r.reward AS reward, r.event_id AS eventId, e.payload AS payload FROM rewards r JOIN events e ON e.event_id = r.event_id
    WHERE r.model = ? AND r.learn = 1 ORDER BY r.seq`).all(name) as { seq: number; reward: number; eventId: string; payload: StoredPayload }[];
  addDictionarySource(log);
  for (const r of rows) r.payload = payloadText(r.payload);
  log.close();
  const model = createBanditModel(config);
  const fingerprint = () => createHash('sha256').update(model.snapshot()).digest('hex');
  const at = new Map<number, string>();
  for (const row of rows) {
    const p = decodeDecisionPayload(row.payload);
    model.learn({ context: p.context, actions: p.actions, chosen: p.chosen, probability: p.probability, reward: row.reward, eventId: row.eventId });
    at.set(row.seq, fingerprint());
  }
  return { fingerprint: fingerprint(), updates: model.updates, at };
}

describe('restart after SIGKILL with learning modes, deferral and slots', { timeout: 180_000 }, () => {
  after(async () => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing acknowledged and rebuilds every model from its log', async () => {
    const acked: Acked = { decisions: new Set(), rewards: new Map(), activated: new Set() };
    let s = await startServer();
    const learner = { name: 'linear', bits: 12 };
    for (const [name, mode] of [['app', 'apprentice'], ['log', 'logging'], ['slots', 'online'], ['online', 'online']] as const) {
      const put = await call(s.base, 'PUT', `/models/${name}`, { mode, actions: ACTIONS, learner, strategy: { name: 'epsilon-greedy', epsilon: 0.3 }, reward: { waitSeconds: 3600 } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
    }
    const names = ['app', 'log', 'slots', 'online'];
    await stream(s, acked, { clients: 6, count: 200 }).done;
    const before = new Map<string, View>();
    for (const name of names) before.set(name, await view(s, name));

    const live = stream(s, acked, { clients: 8 });
    const target = acked.decisions.size + 120;
    for (let waited = 0; acked.decisions.size < target && waited < 30_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, Math.random() * 300));
    await kill9(s);
    live.stop();
    await live.done;
    assert.ok(acked.decisions.size >= 200 + 120, `the second stream got only ${acked.decisions.size - 200} decisions through`);

    const db = new Database(join(dir, 'focal.db'), { readonly: true });
    const hasEvent = db.prepare('SELECT 1 FROM events WHERE event_id = ?');
    const rewardOf = db.prepare("SELECT reward FROM rewards WHERE event_id = ? AND source = 'client'");
    const holdOf = db.prepare('SELECT hold FROM events WHERE event_id = ?');
    for (const id of acked.decisions) assert.ok(hasEvent.get(id), `acknowledged decision ${id} is missing`);
    for (const [id, reward] of acked.rewards) assert.equal((rewardOf.get(id) as { reward: number } | undefined)?.reward, reward, `acknowledged reward ${id}`);
    for (const id of acked.activated) {
      const ids = hasEvent.get(`${id}#hero`) ? [`${id}#hero`, `${id}#side`] : [id];
      for (const e of ids) assert.equal((holdOf.get(e) as { hold: number }).hold, 0, `acknowledged activation ${e}`);
    }
    db.close();

    s = await startServer();
    for (const name of names) {
      const after = await view(s, name);
      const log = rebuild(name, after.config);
      assert.equal(after.stats.updates, log.updates, `${name}: updates`);
      assert.equal(after.stats.fingerprint, log.fingerprint, `${name}: the model after restart is its whole log`);
      const b = before.get(name)!;
      if (b.stats.rewardSeq > 0 && log.at.has(b.stats.rewardSeq)) assert.equal(log.at.get(b.stats.rewardSeq), b.stats.fingerprint, `${name}: the model before the kill is its log up to there`);
    }
    const logModel = await view(s, 'log');
    assert.equal(logModel.stats.updates, 0, 'logging mode learned nothing');
    const app = await view(s, 'app');
    const sql = new Database(join(dir, 'focal.db'), { readonly: true });
    const counted = sql.prepare("SELECT COUNT(*) AS events, SUM(imitated) AS imitated FROM events WHERE model = 'app' AND imitated IS NOT NULL").get() as { events: number; imitated: number };
    sql.close();
    assert.deepEqual({ events: app.stats.apprentice!.events, imitated: app.stats.apprentice!.imitated }, counted);
    assert.ok(app.stats.updates > 0, 'apprentice learned');
    console.log(`# acknowledged ${acked.decisions.size} decisions, ${acked.rewards.size} rewards, ${acked.activated.size} activations`);
    await kill9(s);
  });
});
