/**
 * HTTP benchmark of POST /decide (npm run bench:bandit runs it after the
 * learning benchmark). Loopback only, bounded: about 45 s.
 *
 *   1. Maximum rate: autocannon against Focal's /decide (10 actions × 20
 *      features, durably logged with group commit) and against a bare express
 *      endpoint that parses the same JSON body, in the same run → ratio.
 *   2. Latency at half of Focal's maximum rate (autocannon's overallRate): p50/p99.
 *
 * Each server runs in its own child process so autocannon does not share its
 * event loop. Options: --duration <s> (default 10), --connections <n> (default 32).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import express from 'express';

const FEATURES_PER_ACTION = 20;
const ACTIONS = 10;

function body(): string {
  const actions = Array.from({ length: ACTIONS }, (_, a) => ({
    id: `article-${a}`,
    features: Object.fromEntries(Array.from({ length: FEATURES_PER_ACTION }, (_, f) => [`f${f}`, f % 3 === 0 ? `cat-${(a + f) % 7}` : ((a + 1) * (f + 1)) / 17])),
  }));
  return JSON.stringify({ context: { user: { age: 31, country: 'DE', premium: true }, device: 'mobile', hour: 14 }, actions });
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

// ---- child: one server ----

async function serve(kind: 'focal' | 'express'): Promise<void> {
  let listen: (port: number, host: string) => import('node:http').Server;
  let cleanup = () => {};
  if (kind === 'express') {
    const app = express();
    app.post('/decide', express.json({ limit: '1mb' }), (req, res) => {
      const b = req.body as { actions: { id: string }[] };
      res.json({ eventId: 'x', action: b.actions[0]!.id, probability: 1 });
    });
    listen = (p, h) => app.listen(p, h);
  } else {
    const { createApp } = await import('../src/app.js');
    const { decisionsCapability } = await import('../src/decisions/index.js');
    const { defaultConfig } = await import('../src/platform/config.js');
    const { createLogger } = await import('../src/platform/logger.js');
    const { Metrics } = await import('../src/platform/metrics.js');
    const { openDatabase, closeDatabase } = await import('../src/store/database.js');
    const dir = mkdtempSync(join(tmpdir(), 'focal-bench-'));
    const db = openDatabase({ path: join(dir, 'focal.db') });
    const focal = await createApp({
      config: defaultConfig({ dataDir: dir }), db, logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }),
      backend: 'cpu', capabilities: [decisionsCapability()],
    });
    listen = (p, h) => focal.app.listen(p, h);
    cleanup = () => { closeDatabase(db); rmSync(dir, { recursive: true, force: true }); };
  }
  const server = listen(0, '127.0.0.1');
  server.on('listening', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on('disconnect', () => { server.close(); cleanup(); process.exit(0); });
}

// ---- parent: drive both ----

async function start(kind: 'focal' | 'express'): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', kind], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  return { child, url: `http://127.0.0.1:${port}/decide` };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.disconnect();
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

async function load(url: string, opts: { duration: number; connections: number; overallRate?: number }) {
  const result = await autocannon({
    url, method: 'POST', headers: { 'content-type': 'application/json' }, body: body(),
    duration: opts.duration, connections: opts.connections, ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, total: result.requests.total };
}

/** Mean size and duration of the group commits, from Focal's own metrics. */
async function commitStats(metricsUrl: string): Promise<{ count: number; size: number; ms: number }> {
  const text = await (await fetch(metricsUrl)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const count = value('focal_bandit_group_commit_size_count');
  return { count, size: value('focal_bandit_group_commit_size_sum') / count, ms: (value('focal_bandit_group_commit_duration_seconds_sum') / count) * 1000 };
}

async function main(): Promise<void> {
  const duration = arg('duration', 10);
  const connections = arg('connections', 32);
  const rows: string[][] = [];

  const bare = await start('express');
  await load(bare.url, { duration: 2, connections }); // warm-up
  const bareRun = await load(bare.url, { duration, connections });
  await stop(bare.child);

  const focal = await start('focal');
  await load(focal.url, { duration: 2, connections });
  const focalRun = await load(focal.url, { duration, connections });
  const half = Math.max(1, Math.round(focalRun.rps / 2));
  const halfRun = await load(focal.url, { duration, connections, overallRate: half });
  const commits = await commitStats(focal.url.replace('/decide', '/metrics'));
  await stop(focal.child);

  rows.push(['bare express (parse JSON)', `${connections}`, 'max', bareRun.rps.toFixed(0), `${bareRun.p50}`, `${bareRun.p99}`]);
  rows.push(['Focal /decide (durable)', `${connections}`, 'max', focalRun.rps.toFixed(0), `${focalRun.p50}`, `${focalRun.p99}`]);
  rows.push(['Focal /decide (durable)', `${connections}`, `${half}/s`, halfRun.rps.toFixed(0), `${halfRun.p50}`, `${halfRun.p99}`]);
  const header = ['target', 'connections', 'offered', 'req/s', 'p50 ms', 'p99 ms'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\nPOST /decide, ${ACTIONS} actions × ${FEATURES_PER_ACTION} features, ${duration} s per run, loopback\n`);
  console.log(line(header));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const r of rows) console.log(line(r));
  const ratio = focalRun.rps / bareRun.rps;
  console.log(`\nFocal / bare express = ${ratio.toFixed(2)} (target ≥ 0.70)${ratio >= 0.7 ? '' : '  BELOW TARGET'}`);
  console.log(`Group commit over all Focal runs: ${commits.count} commits, ${commits.size.toFixed(1)} writes and ${commits.ms.toFixed(2)} ms (fsync included) per commit on average`);
  console.log(`p99 at half of Focal's maximum rate (${half} req/s): ${halfRun.p99} ms`);
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) {
  serve(process.argv[serveAt + 1] as 'focal' | 'express').catch((err: unknown) => { console.error(err); process.exit(1); });
} else {
  main().catch((err: unknown) => { console.error(err); process.exit(1); });
}
