/**
 * Storage benchmark (npm run bench:storage; part of npm run bench). Loopback only, about a minute.
 *
 *   1. Bytes per decision: N decisions of the shape (10 actions × 10 features, 10 context features)
 *      through POST /decide; the database file's growth per decision (after a checkpoint) against the JSON
 *      body's size, and against the same events stored the earlier way (text payloads, the schema before migration 191),
 *      built in the same run from the same rows.
 *   2. /decide latency while retention deletes a backlog: a server whose log holds a backlog of expired events
 *      (closed, older than the retention) deleting them in the background, against the same server and backlog
 *      with retention not due; a fixed offered rate, rounds alternating. Each server runs in its own process.
 *
 * Options: --part bytes|latency (default both), --decisions <n> (default 5000), --backlog <n> (default 200000), --rate <req/s> (default 400),
 * --duration <s> (default 5), --rounds <n> (default 3).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createApp } from '../src/app.js';
import { decisionsCapability } from '../src/decisions/index.js';
import { defaultConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { Metrics } from '../src/platform/metrics.js';
import { closeDatabase, openDatabase, type Db } from '../src/store/database.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { PayloadCompressor, payloadText } from '../src/store/payload-codec.js';
import { announcePort, exitOnDisconnect, forkServer, stopServer } from './lib/child-server.js';
import { benchArgs } from './lib/cli.js';

/** 10 actions × 10 features (a catalogue that repeats from request to request) and 10 context features that vary. */
function body(seed: number): string {
  const actions = Array.from({ length: 10 }, (_, a) => ({
    id: `article-${a}`,
    features: Object.fromEntries(Array.from({ length: 10 }, (_, f) => [`f${f}`, f % 3 === 0 ? `cat-${(a + f) % 7}` : Math.round(((a + 1) * (f + 1) * 7.3) % 100) / 10])),
  }));
  return JSON.stringify({
    context: {
      user: { age: 18 + (seed * 7) % 60, country: ['DE', 'FR', 'US', 'JP', 'BR'][seed % 5], premium: seed % 3 === 0, tenureDays: (seed * 13) % 900 },
      device: ['mobile', 'desktop', 'tablet'][seed % 3], hour: seed % 24, weekday: seed % 7, referrer: ['search', 'social', 'direct'][seed % 3], region: 'eu-west', visits: seed % 50,
    },
    actions,
  });
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'focal-bench-storage-'));
  dirs.push(d);
  return d;
}

function fileBytes(path: string): number {
  return statSync(path).size;
}

// ---- 1. bytes per decision ----

/** Growth of a fresh database of `schema` when `rows` are inserted (after a checkpoint), per event. */
function growth(rows: { events: Record<string, unknown>[]; rewards: Record<string, unknown>[]; dictionaries: Record<string, unknown>[] }, schema: 'now' | 'earlier', withRewards: boolean): number {
  const path = join(tempDir(), 'focal.db');
  const db = openDatabase({ path, migrations: schema === 'now' ? MIGRATIONS : MIGRATIONS.filter((m) => m.version < 191) });
  db.pragma('wal_checkpoint(TRUNCATE)');
  const empty = fileBytes(path);
  // The earlier schema lacks the columns added after migration 191 (events.hold, events.imitated, …): only the ones it has.
  const columns = (table: string) => new Set((db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name));
  const insert = (table: string, row: Record<string, unknown>) => {
    const known = columns(table);
    const cols = Object.keys(row).filter((c) => known.has(c));
    db.prepare(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`).run(...cols.map((c) => row[c]));
  };
  db.transaction(() => {
    if (schema === 'now') for (const d of rows.dictionaries) insert('payload_dictionaries', d);
    for (const e of rows.events) insert('events', schema === 'now' ? e : { ...e, payload: payloadText(e.payload as Buffer) });
    if (withRewards) for (const r of rows.rewards) insert('rewards', r);
  })();
  closeDatabase(db);
  return (fileBytes(path) - empty) / rows.events.length;
}

async function bytesPerDecision(n: number): Promise<void> {
  const dir = tempDir();
  const db = openDatabase({ path: join(dir, 'focal.db') });
  const app = await createApp({
    config: defaultConfig({ dataDir: dir }), db, logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }),
    backend: 'cpu', capabilities: [decisionsCapability()],
  });
  const server = app.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let bodyBytes = 0;
  let next = 0;
  const post = async (path: string, text: string) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { eventId: string; action: string };
  };
  // Every decision is rewarded, so the model learns and its logged PMFs and scores are the varied numbers of a live model.
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const b = body(i);
      bodyBytes += Buffer.byteLength(b);
      const d = await post('/decide', b);
      const reward = Number(d.action.endsWith(String(i % 10))) || Number(d.action === 'article-3') * 0.5;
      await post('/reward', JSON.stringify({ eventId: d.eventId, reward }));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  server.close();
  await app.close();
  const stored = (db.prepare("SELECT AVG(octet_length(payload)) AS b FROM events WHERE kind = 'decision'").get() as { b: number }).b;
  const rows = {
    events: db.prepare('SELECT * FROM events ORDER BY seq').all() as Record<string, unknown>[],
    rewards: db.prepare('SELECT * FROM rewards ORDER BY seq').all() as Record<string, unknown>[],
    dictionaries: db.prepare('SELECT * FROM payload_dictionaries').all() as Record<string, unknown>[],
  };
  let textBytes = 0;
  for (const e of rows.events) textBytes += Buffer.byteLength(payloadText(e.payload as Buffer));
  closeDatabase(db);
  const earlier = growth(rows, 'earlier', false);
  const now = growth(rows, 'now', false);
  const earlierRewarded = growth(rows, 'earlier', true);
  const nowRewarded = growth(rows, 'now', true);

  const kb = (x: number) => `${(x / 1024).toFixed(2)} kB`;
  const ratio = (x: number) => (x * n / bodyBytes).toFixed(2);
  console.log(`\nBytes per decision: ${n} decisions through POST /decide (each rewarded), 10 actions × 10 features, 10 context features;`);
  console.log(`${rows.dictionaries.length} dictionary row(s). Database growth: the same rows inserted into an empty database of each schema, after a checkpoint.\n`);
  console.log('| | per decision | / JSON body |');
  console.log('| --- | ---: | ---: |');
  console.log(`| request body (uncompressed JSON) | ${kb(bodyBytes / n)} | 1.00 |`);
  console.log(`| logged payload as text (request + decision) | ${kb(textBytes / n)} | ${(textBytes / bodyBytes).toFixed(2)} |`);
  console.log(`| stored payload, compressed | ${kb(stored)} | ${ratio(stored)} |`);
  console.log(`| database growth, earlier storage (text payloads, schema before 191) | ${kb(earlier)} | ${ratio(earlier)} |`);
  console.log(`| **database growth, now** (rows, indexes, pages) | **${kb(now)}** | **${ratio(now)}** |`);
  console.log(`| with the reward rows: earlier / now | ${kb(earlierRewarded)} / ${kb(nowRewarded)} | ${ratio(earlierRewarded)} / ${ratio(nowRewarded)} |`);
  console.log(`\nDatabase growth per decision, now / earlier storage: ${(now / earlier).toFixed(2)} (target ≤ 0.5 kB per decision: ${now <= 512 ? 'met' : 'NOT MET'})`);
}

// ---- 2. /decide latency while retention deletes a backlog ----

const MODES = ['retention', 'idle'] as const;
type Mode = (typeof MODES)[number];

const args = benchArgs({
  part: { type: 'string', choices: ['all', 'bytes', 'latency'], default: 'all' },
  decisions: { type: 'number', default: 5000, help: 'part bytes: decisions logged' },
  backlog: { type: 'number', default: 200_000, help: 'part latency: old events to delete' },
  rate: { type: 'number', default: 400, help: 'part latency: decisions/s' },
  duration: { type: 'number', default: 5, help: 'part latency: seconds per measurement' },
  rounds: { type: 'number', default: 3 },
  serve: { type: 'string', choices: MODES, help: 'child process: serve in this mode (the benchmark forks it)' },
});

/** Expired events of model `default` (40 days old, closed, with their reward rows), folded into the model's snapshot. */
function fillBacklog(db: Db, n: number): void {
  const compressor = new PayloadCompressor(db);
  const payload = compressor.compress('default', `{"request":${body(1)},"decision":{"pmf":[0.5,0.5],"scores":[0,0],"chosen":0,"probability":0.5,"modelVersion":1,"strategy":"squarecb"}}`);
  const at = Date.now() - 40 * 86_400_000;
  const event = db.prepare(`INSERT INTO events (event_id, model, kind, created_at, deadline_at, payload, reward, reward_count, closed, closed_reason)
    VALUES (?, 'default', 'decision', ?, ?, ?, 0, 0, 1, 'window')`);
  const reward = db.prepare(`INSERT INTO rewards (event_id, model, reward, label, source, received_at, learn) VALUES (?, 'default', 0, NULL, 'default', ?, 1)`);
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const id = `backlog-${i}`;
      event.run(id, at + i, at + i + 600_000, payload);
      reward.run(id, at + i + 600_000);
    }
  })();
}

async function serve(mode: Mode, backlog: number): Promise<void> {
  const dir = tempDir();
  const db = openDatabase({ path: join(dir, 'focal.db') });
  fillBacklog(db, backlog);
  db.pragma('wal_checkpoint(TRUNCATE)');
  // 'idle': the same backlog, not yet due (a retention longer than its age).
  const config = defaultConfig({ dataDir: dir, logRetentionMs: mode === 'retention' ? 30 * 86_400_000 : 999_999 * 86_400_000 });
  const metrics = new Metrics({ defaultMetrics: false });
  const focal = await createApp({
    config, db, logger: createLogger('silent'), metrics, backend: 'cpu',
    capabilities: [decisionsCapability({ retention: { intervalMs: 200 } })],
  });
  const server = focal.app.listen(0, '127.0.0.1');
  announcePort(server);
  exitOnDisconnect(server, async () => { await focal.close(); closeDatabase(db); rmSync(dir, { recursive: true, force: true }); });
}

async function start(mode: Mode, backlog: number): Promise<{ child: ChildProcess; base: string }> {
  const { child, port } = await forkServer(fileURLToPath(import.meta.url), ['--serve', mode, '--backlog', String(backlog)], mode);
  return { child, base: `http://127.0.0.1:${port}` };
}

const stop = (child: ChildProcess) => stopServer(child, 10_000);

async function deleted(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^focal_log_events_deleted_total\{model="default"\} (\S+)$/m.exec(text)?.[1] ?? 0);
}

async function run(base: string, rate: number, duration: number) {
  const before = await deleted(base);
  const result = await autocannon({
    url: `${base}/decide`, method: 'POST', headers: { 'content-type': 'application/json' }, body: body(7),
    duration, connections: 16, overallRate: rate,
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  return { p50: result.latency.p50, p99: result.latency.p99, rps: result.requests.average, deleted: (await deleted(base)) - before };
}

async function latencyUnderRetention(backlog: number, rate: number, duration: number, rounds: number): Promise<void> {
  const rows: string[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const order: Mode[] = r % 2 === 0 ? ['idle', 'retention'] : ['retention', 'idle'];
    const got: Partial<Record<Mode, Awaited<ReturnType<typeof run>>>> = {};
    for (const mode of order) {
      const s = await start(mode, backlog);
      try {
        got[mode] = await run(s.base, rate, duration);
      } finally {
        await stop(s.child);
      }
    }
    const idle = got.idle!;
    const busy = got.retention!;
    ratios.push(busy.p99 / Math.max(1, idle.p99));
    rows.push(`| ${r + 1} | ${idle.rps.toFixed(0)} | ${idle.p50} / ${idle.p99} | ${busy.p50} / ${busy.p99} | ${busy.deleted} (${(busy.deleted / duration).toFixed(0)}/s) | ${ratios[r]!.toFixed(2)} |`);
  }
  console.log(`\nPOST /decide at ${rate} req/s offered (16 connections, ${duration} s per run) on a log holding ${backlog} expired events\n`);
  console.log('| round | req/s | p50 / p99 ms, retention not due | p50 / p99 ms, retention deleting | events deleted during the run | p99 ratio |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) console.log(row);
  const sorted = [...ratios].sort((a, b) => a - b);
  console.log(`\np99 while deleting / p99 without (median of ${rounds} rounds): ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)}`);
}

async function main(): Promise<void> {
  try {
    if (args.part !== 'latency') await bytesPerDecision(args.decisions);
    if (args.part !== 'bytes') await latencyUnderRetention(args.backlog, args.rate, args.duration, args.rounds);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

if (args.serve !== undefined) {
  serve(args.serve, args.backlog).catch((err: unknown) => { console.error(err); process.exit(1); });
} else {
  main().catch((err: unknown) => { console.error(err); process.exit(1); });
}
