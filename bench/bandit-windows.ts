/**
 * Default rewards and cheap reads under load (npm run bench:bandit runs it after bench/bandit-http.ts).
 * Loopback only; Focal runs in a child process with its decisions capability, on a fresh database,
 * synchronous=FULL as in production.
 *
 *   1. Default rewards keep up: the default model with `waitSeconds: 1`, POST /decide at Focal's maximum
 *      rate (autocannon, 32 connections, no rewards: every window closes with the default reward) for
 *      --seconds (default 60). Prints the rate, the largest `pending` seen (GET /models/default, every
 *      250 ms) against the target 2 × rate × window, and the time from the end of the load until
 *      `pending` is 0 (target ≤ 5 s).
 *   2. Cheap reads: /decide at half that rate, alternately without and with 100 models polled every
 *      second (GET /models/{name}, one request every 10 ms, the default model among them; each model
 *      has 100 decisions and rewards of history), --rounds pairs of --round-seconds (default 3 × 10 s).
 *      Prints the median p99 of each and their ratio (target: no move, ≈ 1). The poller runs in a child process
 *      of its own, so its reads do not share the event loop that times /decide.
 *
 *   npx tsx bench/bandit-windows.ts [--seconds 60] [--rounds 3] [--round-seconds 10]
 *   (BENCH_WINDOW_SECONDS=15 shortens part 1 when run through npm run bench.)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createFocalClient, ok, type FocalClient } from '../clients/typescript/src/index.js';
import { announcePort, exitOnDisconnect, forkServer, listenDecisionsApp, stopServer } from './lib/child-server.js';
import { benchArgs } from './lib/cli.js';

const args = benchArgs({
  seconds: { type: 'number', default: Number(process.env.BENCH_WINDOW_SECONDS ?? 60), help: 'part 1: seconds at the highest rate (or BENCH_WINDOW_SECONDS)' },
  rounds: { type: 'number', default: 3 },
  'round-seconds': { type: 'number', default: 10 },
  serve: { type: 'boolean', help: 'child process: serve Focal (the benchmark forks it)' },
  poll: { type: 'string', help: 'child process: poll the models named by --models at this base URL until told to stop (the benchmark forks it)' },
  models: { type: 'string', help: 'with --poll: the models, comma-separated' },
});

const ACTIONS = 10;
const FEATURES_PER_ACTION = 20;
const POLLED_MODELS = 100;
const HISTORY = 100;

function decideBody(model = 'default'): string {
  const actions = Array.from({ length: ACTIONS }, (_, a) => ({
    id: `article-${a}`,
    features: Object.fromEntries(Array.from({ length: FEATURES_PER_ACTION }, (_, f) => [`f${f}`, f % 3 === 0 ? `cat-${(a + f) % 7}` : ((a + 1) * (f + 1)) / 17])),
  }));
  return JSON.stringify({ model, context: { user: { age: 31, country: 'DE', premium: true }, device: 'mobile', hour: 14 }, actions });
}

// ---- child: the server ----

async function serve(): Promise<void> {
  const { server, cleanup } = await listenDecisionsApp('focal-bench-windows-');
  announcePort(server);
  exitOnDisconnect(server, cleanup);
}

// ---- parent ----

async function start(): Promise<{ child: ChildProcess; base: string }> {
  const { child, port } = await forkServer(fileURLToPath(import.meta.url), ['--serve'], 'Focal');
  return { child, base: `http://127.0.0.1:${port}` };
}

const stop = (child: ChildProcess) => stopServer(child, 15_000);

// The bench talks to Focal through its typed client (clients/typescript): requests and answers are checked
// against /openapi.json's types at compile time, and a problem document arrives as a FocalProblemError.
const clients = new Map<string, FocalClient>();
const client = (base: string): FocalClient => clients.get(base) ?? clients.set(base, createFocalClient({ baseUrl: base })).get(base)!;
type PutBody = NonNullable<Parameters<FocalClient['PUT']>[1]>['body'];
type DecideBody = NonNullable<Parameters<FocalClient['POST']>[1]>['body'];

const getModel = (base: string, name: string) => ok(client(base).GET('/models/{name}', { params: { path: { name } } }));
const putModel = (base: string, name: string, body: PutBody) => ok(client(base).PUT('/models/{name}', { params: { path: { name } }, body }));

async function pending(base: string): Promise<number> {
  return (await getModel(base, 'default')).stats.pending;
}

async function decideLoad(base: string, opts: { duration: number; overallRate?: number }) {
  const r = await autocannon({
    url: `${base}/decide`, method: 'POST', headers: { 'content-type': 'application/json' }, body: decideBody(),
    duration: opts.duration, connections: 32, ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
  });
  const bad = r.non2xx + r.errors + r.timeouts;
  if (bad > 0) throw new Error(`/decide: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total };
}

/** GET /models/{name} for each model once per second, spread evenly, until `signal`; returns the GETs' latencies. */
async function poll(base: string, names: string[], signal: AbortSignal): Promise<number[]> {
  const latencies: number[] = [];
  const gap = 1000 / names.length;
  const t0 = performance.now();
  for (let i = 0; !signal.aborted; i++) {
    const due = t0 + i * gap;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const s = performance.now();
    await getModel(base, names[i % names.length]!);
    latencies.push(performance.now() - s);
  }
  return latencies;
}

/**
 * The poller in a process of its own, like the server: in autocannon's process its reads and their JSON would
 * share the event loop that times the /decide answers, and add their own delays to the p99 being measured.
 */
async function pollInChild(base: string, names: string[]): Promise<{ stop: () => Promise<number[]> }> {
  const child = fork(fileURLToPath(import.meta.url), ['--poll', base, '--models', names.join(',')], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`the poller exited with ${code}`)));
  });
  return {
    stop: () => new Promise((resolve) => {
      child.once('message', (m: { latencies: number[] }) => resolve(m.latencies));
      child.send('stop');
    }),
  };
}

async function pollChild(base: string, names: string[]): Promise<void> {
  const ctl = new AbortController();
  process.once('message', () => ctl.abort());
  const polling = poll(base, names, ctl.signal);
  process.send!('polling');
  const latencies = await polling;
  process.send!({ latencies }, () => process.exit(0));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

async function main(): Promise<void> {
  const { seconds, rounds, 'round-seconds': roundSeconds } = args;
  const { child, base } = await start();
  try {
    console.log(`\nDefault rewards and cheap reads, ${ACTIONS} actions × ${FEATURES_PER_ACTION} features, 32 connections, loopback (${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)})\n`);
    await putModel(base, 'default', { reward: { waitSeconds: 1, default: 0 } });
    await decideLoad(base, { duration: 2 }); // warm-up (JIT, connections); its windows close before the measurement
    for (let waited = 0; (await pending(base)) > 0 && waited < 30_000; waited += 100) await sleep(100);

    // ---- 1. default rewards at the maximum decide rate ----
    let maxPending = 0;
    let sampling = true;
    const samples: number[] = [];
    const sampler = (async () => {
      while (sampling) {
        const p = await pending(base);
        samples.push(p);
        maxPending = Math.max(maxPending, p);
        await sleep(250);
      }
    })();
    const run = await decideLoad(base, { duration: seconds });
    const stoppedAt = performance.now();
    sampling = false;
    await sampler;
    let drained = NaN;
    for (;;) {
      const p = await pending(base);
      maxPending = Math.max(maxPending, p);
      if (p === 0) { drained = (performance.now() - stoppedAt) / 1000; break; }
      if (performance.now() - stoppedAt > 120_000) break;
      await sleep(50);
    }
    const { stats } = await getModel(base, 'default');
    const bound = 2 * run.rps * 1;
    console.log('| default rewards, waitSeconds 1 | |');
    console.log('| --- | ---: |');
    console.log(`| load | ${seconds} s at the maximum rate: ${run.rps.toFixed(0)} decisions/s (p50 ${run.p50} ms, p99 ${run.p99} ms) |`);
    console.log(`| largest pending seen | ${maxPending} (target ≤ 2 × rate × window = ${bound.toFixed(0)}: ${(maxPending / bound).toFixed(2)} of it) |`);
    console.log(`| pending, median of ${samples.length} samples (every 250 ms) | ${median(samples)} (${(median(samples) / run.rps).toFixed(2)} s of decisions) |`);
    console.log(`| drained after the load stopped | ${Number.isNaN(drained) ? 'NOT within 120 s' : `${drained.toFixed(2)} s`} (target ≤ 5 s) |`);
    console.log(`| windows closed with the default reward | ${stats.defaultRewards} of ${stats.decisions} decisions; ${stats.updates} learned |`);
    console.log(`\nlargest pending / (2 × rate × window) = ${(maxPending / bound).toFixed(2)} (target ≤ 1)${maxPending <= bound ? '' : '  ABOVE TARGET'}; `
      + `drain ${drained.toFixed(2)} s (target ≤ 5)${drained <= 5 ? '' : '  ABOVE TARGET'}`);

    // ---- 2. /decide p99 with 100 models polled every second ----
    const names = ['default', ...Array.from({ length: POLLED_MODELS - 1 }, (_, i) => `polled-${i}`)];
    for (const name of names.slice(1)) await putModel(base, name, { reward: { waitSeconds: 3600 } });
    // History for each polled model: decisions and rewards, so a read has statistics, a state and estimates to report.
    await Promise.all(names.slice(1).map(async (name, i) => {
      for (let k = 0; k < HISTORY; k++) {
        const d = await ok(client(base).POST('/decide', { body: JSON.parse(decideBody(name)) as DecideBody }));
        await ok(client(base).POST('/reward', { body: { eventId: d.eventId, reward: (k + i) % 3 === 0 ? 1 : 0 } }));
      }
    }));
    for (const name of names) await getModel(base, name); // first reads (their caches) out of the way
    const rate = Math.max(1, Math.round(run.rps / 2));
    const without: number[] = [];
    const withPolls: number[] = [];
    const getLatencies: number[] = [];
    const rows: string[] = [];
    for (let r = 0; r < rounds; r++) {
      const a = await decideLoad(base, { duration: roundSeconds, overallRate: rate });
      const poller = await pollInChild(base, names);
      const b = await decideLoad(base, { duration: roundSeconds, overallRate: rate });
      getLatencies.push(...(await poller.stop()));
      without.push(a.p99);
      withPolls.push(b.p99);
      rows.push(`| ${r + 1} | ${a.rps.toFixed(0)} | ${a.p50} | ${a.p99} | ${b.rps.toFixed(0)} | ${b.p50} | ${b.p99} |`);
    }
    console.log(`\n/decide at ${rate} req/s (half the maximum above), ${roundSeconds} s per run, without and with ${POLLED_MODELS} models polled every second\n`);
    console.log('| round | req/s | p50 ms | p99 ms | req/s (polled) | p50 ms (polled) | p99 ms (polled) |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const row of rows) console.log(row);
    const ratio = median(withPolls) / median(without);
    console.log(`\n/decide p99 with ${POLLED_MODELS} models polled every second ÷ without (median of ${rounds} rounds) = ${ratio.toFixed(2)} `
      + `(${median(withPolls)} ms / ${median(without)} ms); GET /models/{name} p50 ${quantile(getLatencies, 0.5).toFixed(1)} ms, p99 ${quantile(getLatencies, 0.99).toFixed(1)} ms over ${getLatencies.length} reads`);
  } finally {
    await stop(child);
  }
}

if (args.serve) {
  serve().catch((err: unknown) => { console.error(err); process.exit(1); });
} else if (args.poll !== undefined) {
  pollChild(args.poll, (args.models ?? '').split(',')).catch((err: unknown) => { console.error(err); process.exit(1); });
} else {
  main().catch((err: unknown) => { console.error(err); process.exit(1); });
}
