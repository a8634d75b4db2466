/**
 * HTTP benchmark of POST /decide (npm run bench:bandit runs it after the
 * learning benchmark). Loopback only, bounded: about a minute with the defaults.
 *
 *   1. Maximum rate: autocannon against Focal's /decide (10 actions × 20
 *      features, durably logged with group commit), against a bare express
 *      endpoint that parses the same JSON body, and against node's http
 *      server doing the same (the floor), in the same run → ratios.
 *   2. Latency at half of Focal's maximum rate (autocannon's overallRate): p50/p99.
 *
 * Each server runs in its own child process so autocannon does not share its
 * event loop; they are measured alternately, round by round, and the ratio
 * is the median of the rounds (short rounds, so a burst of load elsewhere on
 * the machine skews one round, not the result). Focal runs with its
 * decisions capability only, on a fresh database in a temporary directory,
 * synchronous=FULL as in production. Options: --duration <s> (default 3),
 * --connections <n> (default 32), --rounds <n> (default 5).
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import express from 'express';
import { announcePort, exitOnDisconnect, forkServer, listenDecisionsApp, stopServer } from './lib/child-server.js';
import { benchArgs } from './lib/cli.js';

const FEATURES_PER_ACTION = 20;
/** Focal / bare express, the median of the rounds: what the issues ask /decide to keep (issue 11: ≥ 1.3). */
const TARGET = 1.3;
const ACTIONS = 10;

function body(): string {
  const actions = Array.from({ length: ACTIONS }, (_, a) => ({
    id: `article-${a}`,
    features: Object.fromEntries(Array.from({ length: FEATURES_PER_ACTION }, (_, f) => [`f${f}`, f % 3 === 0 ? `cat-${(a + f) % 7}` : ((a + 1) * (f + 1)) / 17])),
  }));
  return JSON.stringify({ context: { user: { age: 31, country: 'DE', premium: true }, device: 'mobile', hour: 14 }, actions });
}

// ---- child: one server ----

/** CPU time (µs) of the main thread alone, from /proc on Linux (NaN elsewhere): what the event loop itself costs per request. */
function mainThreadCpu(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}
/** Linux's USER_HZ, which /proc's times are counted in (100 on every common build). */
const TICKS_PER_SECOND = 100;

const KINDS = ['focal', 'express', 'node'] as const;
type Kind = (typeof KINDS)[number];

const args = benchArgs({
  duration: { type: 'number', default: 3, help: 'seconds per measurement' },
  connections: { type: 'number', default: 32 },
  rounds: { type: 'number', default: 5 },
  strategy: { type: 'string', help: 'configure the default model with this strategy first (e.g. squarecb, the default before auto); default: the default model as a bare PUT gives it' },
  serve: { type: 'string', choices: KINDS, help: 'child process: serve this server (the benchmark forks it)' },
});

async function serve(kind: Kind): Promise<void> {
  let listen: (port: number, host: string) => import('node:http').Server;
  let cleanup: () => void | Promise<void> = () => {};
  if (kind === 'node') {
    // Node's http server alone: what Focal's lean lane builds on, so the floor under any Node service.
    const { createServer } = await import('node:http');
    listen = (p, h) => createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const b = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { actions: { id: string }[] };
        const text = JSON.stringify({ eventId: 'x', action: b.actions[0]!.id, probability: 1 });
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      });
    }).listen(p, h);
  } else if (kind === 'express') {
    const app = express();
    app.post('/decide', express.json({ limit: '1mb' }), (req, res) => {
      const b = req.body as { actions: { id: string }[] };
      res.json({ eventId: 'x', action: b.actions[0]!.id, probability: 1 });
    });
    listen = (p, h) => app.listen(p, h);
  } else {
    const focal = await listenDecisionsApp('focal-bench-');
    listen = () => focal.server;
    cleanup = focal.cleanup;
  }
  const server = listen(0, '127.0.0.1');
  announcePort(server);
  // CPU time of the whole server process (every thread): robust to a busy machine where req/s is not.
  // Event-loop utilisation of the main thread: below ~95% at maximum rate means the loop waits (on the writer), not computes.
  const { performance } = await import('node:perf_hooks');
  process.on('message', (m: string) => {
    if (m !== 'cpu') return;
    const u = process.cpuUsage();
    const e = performance.eventLoopUtilization();
    process.send!({ cpu: u.user + u.system, mainCpu: mainThreadCpu(), elu: { idle: e.idle, active: e.active } });
  });
  exitOnDisconnect(server, cleanup);
}

// ---- parent: drive both ----

interface Server {
  child: ChildProcess;
  url: string;
}

interface Usage {
  cpu: number;
  mainCpu: number;
  elu: { idle: number; active: number };
}

async function usage(s: Server): Promise<Usage> {
  return new Promise((resolve) => {
    const on = (m: Partial<Usage>) => {
      if (m.cpu === undefined || m.elu === undefined) return;
      s.child.off('message', on);
      resolve(m as Usage);
    };
    s.child.on('message', on);
    s.child.send('cpu');
  });
}

async function start(kind: Kind): Promise<Server> {
  const { child, port } = await forkServer(fileURLToPath(import.meta.url), ['--serve', kind], kind);
  return { child, url: `http://127.0.0.1:${port}/decide` };
}

const stop = (child: ChildProcess) => stopServer(child, 5000);

async function load(server: Server, opts: { duration: number; connections: number; overallRate?: number }) {
  const url = server.url;
  const before = await usage(server);
  const result = await autocannon({
    url, method: 'POST', headers: { 'content-type': 'application/json' }, body: body(),
    duration: opts.duration, connections: opts.connections, ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  const after = await usage(server);
  const active = after.elu.active - before.elu.active;
  const elu = active / Math.max(1e-9, active + after.elu.idle - before.elu.idle);
  return {
    rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, total: result.requests.total,
    cpuPerRequest: (after.cpu - before.cpu) / Math.max(1, result.requests.total), elu,
    mainCpuPerRequest: (after.mainCpu - before.mainCpu) / Math.max(1, result.requests.total),
  };
}

/** Mean size and duration of the group commits, from Focal's own metrics. */
async function commitStats(metricsUrl: string): Promise<{ count: number; size: number; ms: number }> {
  const text = await (await fetch(metricsUrl)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const count = value('focal_bandit_group_commit_size_count');
  return { count, size: value('focal_bandit_group_commit_size_sum') / count, ms: (value('focal_bandit_group_commit_duration_seconds_sum') / count) * 1000 };
}

const cpuCell = (r: { cpuPerRequest: number; mainCpuPerRequest: number }) =>
  `${r.cpuPerRequest.toFixed(0)}${Number.isFinite(r.mainCpuPerRequest) ? ` (${r.mainCpuPerRequest.toFixed(0)})` : ''}`;
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const { duration, connections, rounds } = args;

  // Both servers up at once and measured alternately, so a change in the machine's load hits both alike.
  const bare = await start('express');
  const node = await start('node');
  const focal = await start('focal');
  if (args.strategy !== undefined) {
    const res = await fetch(focal.url.replace(/\/decide$/, '/models/default'), {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ strategy: { name: args.strategy } }),
    });
    if (!res.ok) throw new Error(`PUT /models/default with strategy ${args.strategy}: ${res.status} ${await res.text()}`);
    console.log(`Focal's default model: strategy ${args.strategy}`);
  }
  try {
    for (const s of [bare, node, focal]) await load(s, { duration: 2, connections }); // warm-up (JIT, connections)
    const runs: { bare: Awaited<ReturnType<typeof load>>; node: Awaited<ReturnType<typeof load>>; focal: Awaited<ReturnType<typeof load>> }[] = [];
    for (let r = 0; r < rounds; r++) {
      const b = await load(bare, { duration, connections });
      const n = await load(node, { duration, connections });
      const f = await load(focal, { duration, connections });
      runs.push({ bare: b, node: n, focal: f });
    }
    const ratios = runs.map((r) => r.focal.rps / r.bare.rps);
    const ratio = median(ratios);
    const focalRps = median(runs.map((r) => r.focal.rps));
    const half = Math.max(1, Math.round(focalRps / 2));
    const halfRun = await load(focal, { duration, connections, overallRate: half });
    const commits = await commitStats(focal.url.replace('/decide', '/metrics'));
    const [cores, loadAvg] = [(await import('node:os')).cpus().length, (await import('node:os')).loadavg()[0]!];

    const rows: string[][] = [];
    runs.forEach((r, i) => {
      rows.push([`${i + 1}`, 'bare express (parse JSON)', 'max', r.bare.rps.toFixed(0), `${r.bare.p50}`, `${r.bare.p99}`, cpuCell(r.bare), pct(r.bare.elu), '']);
      rows.push([`${i + 1}`, 'bare node:http (parse JSON)', 'max', r.node.rps.toFixed(0), `${r.node.p50}`, `${r.node.p99}`, cpuCell(r.node), pct(r.node.elu), '']);
      rows.push([`${i + 1}`, 'Focal /decide (durable)', 'max', r.focal.rps.toFixed(0), `${r.focal.p50}`, `${r.focal.p99}`, cpuCell(r.focal), pct(r.focal.elu), ratios[i]!.toFixed(2)]);
    });
    rows.push(['-', 'Focal /decide (durable)', `${half}/s`, halfRun.rps.toFixed(0), `${halfRun.p50}`, `${halfRun.p99}`, cpuCell(halfRun), pct(halfRun.elu), '']);
    const header = ['round', 'target', 'offered', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req (main thread)', 'event loop busy', 'Focal/bare'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    console.log(`\nPOST /decide, ${ACTIONS} actions × ${FEATURES_PER_ACTION} features, ${connections} connections, ${duration} s per run, loopback (${cores} cores, load average ${loadAvg.toFixed(1)})\n`);
    console.log(line(header));
    console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
    for (const r of rows) console.log(line(r));
    console.log(`\nFocal / bare express (median of ${rounds} rounds) = ${ratio.toFixed(2)} (target ≥ ${TARGET}, issue 11)${ratio >= TARGET ? '' : '  BELOW TARGET'}`);
    const nodeRatio = median(runs.map((r) => r.focal.rps / r.node.rps));
    console.log(`Focal / bare node:http (median) = ${nodeRatio.toFixed(2)} — /decide is served on node's http server (the lean lane), so this is its overhead over the floor`);
    const cpuRatio = median(runs.map((r) => r.bare.cpuPerRequest / r.focal.cpuPerRequest));
    console.log(`Server CPU per request, bare / Focal (median): ${cpuRatio.toFixed(2)} — the ratio a machine with cores to spare would approach`);
    const mainRatio = median(runs.map((r) => r.bare.mainCpuPerRequest / r.focal.mainCpuPerRequest));
    if (Number.isFinite(mainRatio)) console.log(`Main-thread CPU per request, bare / Focal (median): ${mainRatio.toFixed(2)} — what the event loop alone would allow if it never waited`);
    console.log(`Main-thread event loop busy at maximum rate (median): bare ${pct(median(runs.map((r) => r.bare.elu)))}, Focal ${pct(median(runs.map((r) => r.focal.elu)))}`
      + ' — where Focal is well below 100%, requests wait on the writer thread rather than for CPU');
    console.log(`p99 at half of Focal's maximum rate (${half} req/s): ${halfRun.p99} ms`);
    console.log(`Groups handed to the writer: ${commits.count}, ${commits.size.toFixed(1)} decisions and ${commits.ms.toFixed(2)} ms until durable on average`);
  } finally {
    for (const s of [bare, node, focal]) await stop(s.child);
  }
}

if (args.serve !== undefined) {
  serve(args.serve).catch((err: unknown) => { console.error(err); process.exit(1); });
} else {
  main().catch((err: unknown) => { console.error(err); process.exit(1); });
}
