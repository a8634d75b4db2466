import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe } from 'node:test';
import request from 'supertest';
import { MAX_POINTS } from '../../src/decisions/timeseries.js';
import { toDsjson } from '../../src/evaluation/dsjson.js';
import { closeDatabase, openDatabase } from '../../src/store/database.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { it, startHarness, type Harness } from './harness.js';

const T0 = Date.parse('2026-11-30T10:00:00Z');
const actions = ['a', 'b', 'c'];

/** DSJSON lines of decisions made at the given times (the import keeps each line's Timestamp as its decision time). */
function logLines(prefix: string, times: number[], reward: (i: number) => number | null): string {
  return times.map((t, i) => toDsjson({
    eventId: `${prefix}-${i}`, createdAt: t, context: { user: { k: i % 5 } }, actions: actions.map((id) => ({ id })),
    pmf: [0.5, 0.25, 0.25], chosen: i % 3, probability: [0.5, 0.25, 0.25][i % 3]!, reward: reward(i),
  })).join('\n');
}

/** Totals over every row of the model's series (on PostgreSQL several delta rows per minute), as the route sums them. */
async function totals(h: Harness, model: string): Promise<Record<string, number>> {
  return (await h.sql<Record<string, number>>(`SELECT COALESCE(SUM(decisions), 0) AS decisions, COALESCE(SUM(rewards), 0) AS rewards,
    COALESCE(SUM(reward_sum), 0) AS "rewardSum", COALESCE(SUM(client_rewards), 0) AS "clientRewards", COALESCE(SUM(default_rewards), 0) AS "defaultRewards"
    FROM timeseries WHERE model = ?`, model))[0]!;
}

/** The same figures counted from the log itself: what the series must always equal while no event was deleted. */
async function fromLog(h: Harness, model: string): Promise<Record<string, number>> {
  const [d] = await h.sql<{ n: number }>(`SELECT COUNT(*) AS n FROM events WHERE model = ? AND kind = 'decision'`, model);
  const [r] = await h.sql<Record<string, number>>(`SELECT COUNT(*) AS rewards, COALESCE(SUM(reward), 0) AS "rewardSum",
    COALESCE(SUM(CASE WHEN source = 'client' THEN 1 ELSE 0 END), 0) AS "clientRewards",
    COALESCE(SUM(CASE WHEN source = 'default' THEN 1 ELSE 0 END), 0) AS "defaultRewards" FROM rewards WHERE model = ? AND learn = 1`, model);
  return { decisions: d!.n, ...r };
}

describe('time series', () => {
  const harnesses: Harness[] = [];
  after(async () => { for (const h of harnesses) await h.close(); });

  it('counts decisions per minute at their decision time, in buckets of step', async () => {
    const h = await startHarness({ decisions: { sweepIntervalMs: 3_600_000 } });
    harnesses.push(h);
    const app = h.focal.app;
    await request(app).put('/models/ts').send({ actions }).expect(200);
    // 3 decisions in minute 0, 2 in minute 1, 4 in minute 7; two unrewarded.
    const times = [10, 20, 59.9, 60, 119, 420, 421, 450, 479].map((s) => T0 + s * 1000);
    const imported = await request(app).post('/models/ts/log').set('content-type', 'application/x-ndjson')
      .send(logLines('ts', times, (i) => (i === 2 || i === 8 ? null : i % 2))).expect(200);
    assert.deepEqual(imported.body, { imported: 9, learned: 7 });

    const from = new Date(T0).toISOString();
    const to = new Date(T0 + 10 * 60_000).toISOString();
    const minutes = (await request(app).get('/models/ts/timeseries').query({ from, to, step: '60s' }).expect(200)).body;
    assert.equal(minutes.step, 60);
    assert.equal(minutes.points.length, 10);
    assert.deepEqual(minutes.points.map((p: { decisions: number }) => p.decisions), [3, 2, 0, 0, 0, 0, 0, 4, 0, 0]);
    assert.equal(minutes.points[0].time, from);
    assert.equal(minutes.points[9].time, new Date(T0 + 9 * 60_000).toISOString());

    const fives = (await request(app).get('/models/ts/timeseries').query({ from, to, step: '5m' }).expect(200)).body;
    assert.deepEqual(fives.points.map((p: { decisions: number }) => p.decisions), [5, 4]);
    assert.equal(fives.step, 300);
    // Seconds work too; `from` is rounded down to the minute.
    const secs = (await request(app).get('/models/ts/timeseries').query({ from: new Date(T0 + 30_000).toISOString(), to, step: '600' }).expect(200)).body;
    assert.equal(secs.from, from);
    assert.deepEqual(secs.points.map((p: { decisions: number }) => p.decisions), [9]);
    // The imported rewards were learned now, not at the decisions' time: 7 of them (i = 1, 3, 5, 7 of reward 1), all the client's.
    const now = (await request(app).get('/models/ts/timeseries').query({ step: '1m' }).expect(200)).body;
    // Default range: the hour before now, from the start of its minute, the current (partial) minute included.
    assert.ok(now.points.length === 61 || now.points.length === 60, String(now.points.length));
    const sum = (k: string) => now.points.reduce((s: number, p: Record<string, number>) => s + p[k]!, 0);
    assert.equal(sum('rewards'), 7);
    assert.equal(sum('rewardSum'), 4);
    assert.equal(sum('clientRewards'), 7);
    assert.equal(sum('defaultRewards'), 0);
    const last = now.points.find((p: { rewards: number }) => p.rewards > 0);
    assert.equal(last.meanReward, last.rewardSum / last.rewards);
    assert.equal(now.points.find((p: { rewards: number }) => p.rewards === 0).meanReward, null);
  });

  it('counts live decisions, client rewards and default rewards of windows that closed empty, as the log does', async () => {
    const h = await startHarness({ decisions: { sweepIntervalMs: 3_600_000 } });
    harnesses.push(h);
    const app = h.focal.app;
    // Windows of 3 s, closed by a clock 5 s ahead: twelve decisions and the rewards after them fit inside on a loaded machine.
    await request(app).put('/models/live').send({ reward: { waitSeconds: 3, default: 0.25 } }).expect(200);
    await request(app).put('/models/summed').send({ reward: { waitSeconds: 3, default: -1, aggregation: 'sum' } }).expect(200);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await request(app).post('/decide').send({ model: 'live', context: { i }, actions }).expect(200)).body.eventId);
    for (let i = 0; i < 5; i++) await request(app).post('/reward').send({ eventId: ids[i], reward: 1 }).expect(200);
    await request(app).post('/reward').send({ eventId: ids[0], reward: 1 }).expect(409); // refused: counts nothing
    const summed = (await request(app).post('/decide').send({ model: 'summed', context: {}, actions }).expect(200)).body.eventId;
    await request(app).post('/reward').send({ eventId: summed, reward: 0.5 }).expect(200);
    await request(app).post('/reward').send({ eventId: summed, reward: 0.25 }).expect(200);
    // Before the windows close: 12 decisions, 5 learned rewards; the 'sum' rewards are not learned yet.
    assert.deepEqual(await totals(h, 'live'), { decisions: 12, rewards: 5, rewardSum: 5, clientRewards: 5, defaultRewards: 0 });
    assert.deepEqual(await totals(h, 'summed'), { decisions: 1, rewards: 0, rewardSum: 0, clientRewards: 0, defaultRewards: 0 });

    assert.equal(await h.service.sweep(Date.now() + 5_000), 8);
    assert.deepEqual(await totals(h, 'live'), { decisions: 12, rewards: 12, rewardSum: 5 + 7 * 0.25, clientRewards: 5, defaultRewards: 7 });
    // The window's total, learned once (source 'aggregate': neither a client's nor a default).
    assert.deepEqual(await totals(h, 'summed'), { decisions: 1, rewards: 1, rewardSum: 0.75, clientRewards: 0, defaultRewards: 0 });
    for (const m of ['live', 'summed']) assert.deepEqual(await totals(h, m), await fromLog(h, m), m);

    // Through the route: the default rewards were learned at the sweep's clock, up to a minute ahead.
    const to = new Date(Date.now() + 3 * 60_000).toISOString();
    const body = (await request(app).get('/models/live/timeseries').query({ to, step: '1m' }).expect(200)).body;
    const sum = (k: string) => body.points.reduce((s: number, p: Record<string, number>) => s + p[k]!, 0);
    assert.deepEqual(['decisions', 'rewards', 'clientRewards', 'defaultRewards'].map(sum), [12, 12, 5, 7]);
    assert.ok(Math.abs(sum('rewardSum') - 6.75) < 1e-12);
  });

  it('refuses a bad range with a 400 naming the field, an unknown model with a 404', async () => {
    const h = await startHarness({ memory: true });
    harnesses.push(h);
    const app = h.focal.app;
    const at = (s: number) => new Date(T0 + s * 1000).toISOString();
    const bad = async (query: Record<string, string>, path: string) => {
      const r = await request(app).get('/models/default/timeseries').query(query).expect(400);
      assert.equal(r.type, 'application/problem+json');
      assert.ok(r.body.errors.some((e: { path: string }) => e.path === path), `${JSON.stringify(query)}: ${JSON.stringify(r.body)}`);
      return r.body.detail as string;
    };
    assert.match(await bad({ from: at(600), to: at(60) }, '/query/from'), /from must be before to/);
    assert.match(await bad({ from: at(60), to: at(60) }, '/query/from'), /from must be before to/);
    assert.match(await bad({ from: at(0), to: at(600), step: '90s' }, '/query/step'), /whole number of minutes/);
    assert.match(await bad({ from: at(0), to: at(600), step: '30' }, '/query/step'), /whole number of minutes/);
    assert.match(await bad({ from: at(0), to: at(86_400 * 2), step: '1m' }, '/query/step'), new RegExp(`at most ${MAX_POINTS}`));
    await bad({ from: 'yesterday' }, '/query/from');
    await bad({ step: '5 minutes' }, '/query/step');
    await bad({ step: '0m' }, '/query/step');
    await bad({ bogus: '1' }, '/query/bogus');
    // The largest allowed: exactly MAX_POINTS buckets.
    const day = (await request(app).get('/models/default/timeseries').query({ from: at(0), to: at(86_400), step: '1m' }).expect(200)).body;
    assert.equal(day.points.length, MAX_POINTS);
    await request(app).get('/models/nope/timeseries').expect(404);
  });

  it('a restart or a crash neither loses nor double-counts (same transaction as the rows; replay writes none)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'focal-ts-'));
    const h = await startHarness({ dir, decisions: { sweepIntervalMs: 3_600_000 } });
    const app = h.focal.app;
    await request(app).put('/models/r').send({ reward: { waitSeconds: 600 } }).expect(200);
    for (let i = 0; i < 20; i++) {
      const id = (await request(app).post('/decide').send({ model: 'r', context: { i }, actions }).expect(200)).body.eventId;
      if (i % 2) await request(app).post('/reward').send({ eventId: id, reward: i / 20 }).expect(200);
    }
    const before = await totals(h, 'r');
    assert.deepEqual(before, await fromLog(h, 'r'));
    // A crash: a copy of what is committed, without the shutdown's snapshot, replayed at start.
    const copyDir = mkdtempSync(join(tmpdir(), 'focal-ts-copy-'));
    await h.db.backup(join(copyDir, 'focal.db'));
    await h.close();
    const crashed = await startHarness({ dir: copyDir });
    harnesses.push(crashed);
    assert.equal(crashed.service.view('r').stats.updates, 10, 'replayed');
    assert.deepEqual(await totals(crashed, 'r'), before);
  });

  it('a database logged before the series gets it counted from its log by the migration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'focal-ts-old-'));
    // Every migration but 130, as a database of the previous release has them (191 included, applied before 130).
    closeDatabase(openDatabase({ path: join(dir, 'focal.db'), migrations: MIGRATIONS.filter((m) => m.version !== 130) }));
    const old = await startHarness({ dir, decisions: { sweepIntervalMs: 3_600_000 } });
    // startHarness migrated it already: drop the series to see what the migration rebuilds from the log.
    await request(old.focal.app).put('/models/old').send({ reward: { waitSeconds: 1, default: 0.5 } }).expect(200);
    const imported = logLines('old', [0, 30, 70, 200].map((s) => T0 + s * 1000), (i) => (i < 2 ? 1 : null));
    await request(old.focal.app).post('/models/old/log').set('content-type', 'application/x-ndjson').send(imported).expect(200);
    for (let i = 0; i < 3; i++) await request(old.focal.app).post('/decide').send({ model: 'old', context: {}, actions }).expect(200);
    await old.service.sweep(Date.now() + 5_000);
    const live = await totals(old, 'old');
    assert.deepEqual(live, { decisions: 7, rewards: 5, rewardSum: 3.5, clientRewards: 2, defaultRewards: 3 });
    const perMinute = old.db.prepare('SELECT * FROM timeseries ORDER BY model, minute').all();
    await old.close(false);
    const db = openDatabase({ path: join(dir, 'focal.db'), migrations: MIGRATIONS.filter((m) => m.version !== 130) });
    db.exec(`DROP TABLE timeseries; DROP TRIGGER IF EXISTS timeseries_decision; DROP TRIGGER IF EXISTS timeseries_reward;
      DELETE FROM schema_migrations WHERE version = 130`);
    closeDatabase(db);
    const again = await startHarness({ dir });
    harnesses.push(again);
    assert.deepEqual(again.db.prepare('SELECT * FROM timeseries ORDER BY model, minute').all(), perMinute);
    // And the triggers are back: a new decision counts.
    await request(again.focal.app).post('/decide').send({ model: 'old', context: {}, actions }).expect(200);
    assert.equal((await totals(again, 'old')).decisions, 8);
  });

  it('is pruned with log retention', async () => {
    const h = await startHarness({ decisions: { sweepIntervalMs: 3_600_000 }, config: { logRetentionMs: 3_600_000 } });
    harnesses.push(h);
    const app = h.focal.app;
    await request(app).put('/models/keep').send({ log: { retention: '30d' } }).expect(200);
    await request(app).put('/models/prune').send({}).expect(200);
    const times = [0, 60, 3_600, 7_200].map((s) => T0 + s * 1000);
    for (const m of ['keep', 'prune']) {
      await request(app).post(`/models/${m}/log`).set('content-type', 'application/x-ndjson').send(logLines(m, times, () => 1)).expect(200);
    }
    const minutes = async (m: string) => (await h.sql<{ minute: number }>('SELECT DISTINCT minute FROM timeseries WHERE model = ? ORDER BY minute', m)).map((r) => r.minute);
    assert.equal((await minutes('prune')).filter((t) => t < T0 + 86_400_000).length, 4);
    // Retention at T0 + 2h30: `prune` keeps 1 hour (FOCAL_LOG_RETENTION), so the minutes before T0 + 1h30 go.
    await h.service.snapshot();
    await h.service.write({ op: 'retention', now: T0 + 9_000_000, defaultRetentionMs: 3_600_000, batch: 100, vacuumPages: 0 });
    assert.deepEqual((await minutes('prune')).filter((t) => t < T0 + 86_400_000), [T0 + 7_200_000]);
    assert.equal((await minutes('keep')).filter((t) => t < T0 + 86_400_000).length, 4);
    const left = (await request(app).get('/models/prune/timeseries').query({ from: new Date(T0).toISOString(), to: new Date(T0 + 3 * 3_600_000).toISOString(), step: '1h' }).expect(200)).body;
    assert.deepEqual(left.points.map((p: { decisions: number }) => p.decisions), [0, 0, 1]);
  });
});
