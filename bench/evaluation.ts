/**
 * Offline evaluation speed and its cost to /decide (`npm run bench:evaluation`):
 *
 *   1. A real Focal process; a model whose log holds N logged, rewarded decisions
 *      (10 actions × 20 features each, logged uniformly, rewards from a linear simulator),
 *      written straight into its SQLite file.
 *   2. /decide p99 at a fixed moderate rate without an evaluation (before and after),
 *      and during an evaluation of 4 candidate policies over the N events.
 *
 * Prints the evaluation's wall time and events/s, and p99 during ÷ p99 without
 * (the mean of the runs before and after, measured in this same run).
 * Options: --events N (100000), --rate R (/decide requests per second, 200), --seconds S (baseline runs, 8).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { encodeDecisionPayload } from '../src/decisions/decision-store.js';
import { Xoshiro128 } from '../src/bandit/random/seeded-rng.js';
import { call, killAll, startFocal } from '../test/server-process.js';
import { benchArgs } from './lib/cli.js';
import { progress } from '../scripts/lib/progress.js';

const args = benchArgs({
  events: { type: 'number', default: 100_000, help: 'logged events' },
  rate: { type: 'number', default: 200, help: 'decisions/s during the run' },
  seconds: { type: 'number', default: 8 },
});

const ACTIONS = 10;
const FEATURES_PER_ACTION = 20;


function actionsFor(): { id: string; features: Record<string, number | string> }[] {
  return Array.from({ length: ACTIONS }, (_, a) => ({
    id: `article-${a}`,
    features: Object.fromEntries(Array.from({ length: FEATURES_PER_ACTION }, (_, f) => [`f${f}`, f % 3 === 0 ? `cat-${(a + f) % 7}` : ((a + 1) * (f + 1)) / 17])),
  }));
}

function decideBody(): string {
  return JSON.stringify({ model: 'bench', context: { user: { age: 31, country: 'DE', premium: true }, device: 'mobile', hour: 14 }, actions: actionsFor() });
}

/** Writes n rewarded decisions, logged by a uniform policy, into the model's log. */
function populate(path: string, n: number): void {
  const db = new Database(path);
  db.pragma('busy_timeout = 10000');
  const rng = new Xoshiro128(12);
  const actions = actionsFor();
  const countries = ['DE', 'FR', 'US', 'JP', 'BR'];
  const insert = db.prepare(`INSERT INTO events (event_id, model, kind, created_at, deadline_at, payload, reward, reward_count, closed, closed_reason)
    VALUES (?, 'bench', 'decision', ?, ?, ?, ?, 1, 1, 'reward')`);
  const start = Date.now() - n;
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const c = Math.floor(rng.next() * countries.length);
      const context = { user: { age: Math.floor(18 + rng.next() * 60), country: countries[c]!, premium: rng.next() < 0.3 }, device: rng.next() < 0.5 ? 'mobile' : 'desktop', hour: Math.floor(rng.next() * 24) };
      const chosen = Math.floor(rng.next() * ACTIONS);
      // The best article depends on the country; premium users like article 9.
      const mean = 0.1 + (chosen === c * 2 ? 0.5 : 0) + (context.user.premium && chosen === 9 ? 0.3 : 0);
      const reward = rng.next() < mean ? 1 : 0;
      const pmf = Array<number>(ACTIONS).fill(1 / ACTIONS);
      const payload = encodeDecisionPayload({ context, actions, pmf, scores: Array<number>(ACTIONS).fill(0), chosen, probability: 1 / ACTIONS, modelVersion: 1, strategy: 'uniform' });
      insert.run(`bench-${i}`, start + i, start + i, payload, reward);
    }
  })();
  db.close();
}

/** /decide at a fixed rate until `until` resolves (or for `seconds`); its p99 in ms. */
function decideLoad(url: string, rate: number, seconds: number, until?: Promise<unknown>): Promise<{ p99: number; p50: number; requests: number }> {
  return new Promise((resolve, reject) => {
    const inst = autocannon({
      url: `${url}/decide`, method: 'POST', headers: { 'content-type': 'application/json' }, body: decideBody(),
      connections: 8, overallRate: rate, duration: until ? 3600 : seconds,
    }, (err, result) => {
      if (err) { reject(err); return; }
      const bad = result.non2xx + result.errors + result.timeouts;
      if (bad > 0) { reject(new Error(`${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`)); return; }
      resolve({ p99: result.latency.p99, p50: result.latency.p50, requests: result.requests.total });
    }) as autocannon.Instance & { stop(): void };
    until?.then(() => inst.stop(), () => inst.stop());
  });
}

async function main(): Promise<void> {
  const { events: n, rate, seconds } = args;
  const dir = mkdtempSync(join(tmpdir(), 'focal-bench-eval-'));
  const server = await startFocal({ FOCAL_DATA_DIR: dir, FOCAL_MODELS_DIR: join(dir, 'no-models') }, 60_000);
  try {
    const put = await call(server.base, 'PUT', '/models/bench', {});
    if (put.status !== 200) throw new Error(`PUT ${put.status}`);
    let t = performance.now();
    populate(join(dir, 'focal.db'), n);
    console.log(`logged ${n} decisions (10 actions × 20 features) in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const before = await decideLoad(server.base, rate, seconds);
    const policies = [
      { name: 'eps05', config: { strategy: { name: 'epsilon-greedy', epsilon: 0.05 } } },
      { name: 'squarecb10', config: { strategy: { name: 'squarecb', gamma: 10 } } },
      { name: 'softmax', config: { strategy: { name: 'softmax', lambda: 10 } } },
      { name: 'greedy', config: { strategy: { name: 'greedy', minProbability: 0.005 } } },
    ];
    t = performance.now();
    const created = await call(server.base, 'POST', '/models/bench/evaluations', { policies });
    if (created.status !== 202) throw new Error(`POST evaluation ${created.status} ${JSON.stringify(created.body)}`);
    const id = (created.body as { id: string }).id;
    const done = (async () => {
      const bar = progress('evaluation', n, { unit: 'events' });
      for (;;) {
        const v = await call(server.base, 'GET', `/models/bench/evaluations/${id}`);
        const body = v.body as { status: string; progress: number; cpuSeconds?: number; startedAt?: string; completedAt?: string; events: number; error?: string; policies?: { name: string; estimates: { dr: { value: number; ci: number[] } } }[] };
        if (body.status === 'failed') throw new Error(`evaluation failed: ${body.error}`);
        bar.update(body.status === 'completed' ? n : Math.floor(body.progress * n));
        if (body.status === 'completed') {
          bar.stop();
          return body;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const during = await decideLoad(server.base, rate, seconds, done);
    const result = await done;
    const wall = (performance.now() - t) / 1000;
    const evalSeconds = (Date.parse(result.completedAt!) - Date.parse(result.startedAt!)) / 1000;
    const afterRun = await decideLoad(server.base, rate, seconds);
    const without = (before.p99 + afterRun.p99) / 2;

    console.log(`\nOffline evaluation: 4 candidates (+ online, baseline, uniform rows) over ${result.events} events, one worker thread`);
    console.log(`| | |\n| --- | ---: |`);
    console.log(`| evaluation time (worker start → result stored) | ${evalSeconds.toFixed(1)} s |`);
    console.log(`| request → completed (queueing and polling included) | ${wall.toFixed(1)} s |`);
    console.log(`| events per second | ${Math.round(result.events / evalSeconds).toLocaleString('en')} |`);
    if (result.cpuSeconds !== undefined) {
      console.log(`| CPU time of the evaluation thread (its cost on one core) | ${result.cpuSeconds.toFixed(1)} s (${Math.round(result.events / result.cpuSeconds).toLocaleString('en')} events per CPU second; target ≤ 60 s) |`);
    }
    console.log(`| /decide p99 without (before / after), ${rate} req/s | ${before.p99} / ${afterRun.p99} ms |`);
    console.log(`| /decide p99 during the evaluation | ${during.p99} ms (p50 ${during.p50} ms, ${during.requests} requests) |`);
    console.log(`| **p99 during ÷ p99 without** | **${(during.p99 / without).toFixed(2)}** (target ≤ 1.5) |`);
    console.log('\nDR estimates:');
    for (const p of result.policies ?? []) {
      console.log(`  ${p.name.padEnd(11)} ${p.estimates.dr.value.toFixed(4)}  [${p.estimates.dr.ci.map((x) => x.toFixed(4)).join(', ')}]`);
    }
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  killAll();
  process.exit(1);
});
