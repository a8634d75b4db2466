/**
 * Replicas on PostgreSQL (npm run bench:replicas, part of npm run bench): POST /decide decisions per second on
 * one and on two Focal replicas sharing a PostgreSQL database, beside the embedded SQLite store measured in the
 * same run (ratios: the machine's speed drifts), one replica on a database without the log-count trigger (what
 * stats.log costs a decision), and the replication lag: from a reward's 2xx on replica A
 * (committed and applied there) to replica B having applied it (polled on GET /models/default's rewardSeq).
 * PostgreSQL is a real server started for the run (test/pg-server.ts: Debian's postgresql, loopback only).
 * Each Focal runs in its own child process. Options: --duration <s> (default 3), --connections <n> (default 32),
 * --rounds <n> (default 3), --lag-samples <n> (default 200).
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { startPgServer } from '../test/pg-server.js';
import { announcePort, exitOnDisconnect, forkServer, listenDecisionsApp, stopServer } from './lib/child-server.js';
import { benchArgs } from './lib/cli.js';

const args = benchArgs({
  duration: { type: 'number', default: 3, help: 'seconds per measurement' },
  connections: { type: 'number', default: 32, help: 'connections in all (split over the replicas)' },
  rounds: { type: 'number', default: 3 },
  'lag-samples': { type: 'number', default: 200 },
  serve: { type: 'string', help: 'child process: serve Focal (sqlite, or a postgres:// URL)' },
});

const BODY = JSON.stringify({
  context: { user: { age: 31, country: 'DE', premium: true }, device: 'mobile', hour: 14 },
  actions: Array.from({ length: 10 }, (_, a) => ({ id: `article-${a}`, features: Object.fromEntries(Array.from({ length: 20 }, (_, f) => [`f${f}`, ((a + 1) * (f + 1)) / 17])) })),
});


async function start(target: string): Promise<{ child: ChildProcess; base: string }> {
  const { child, port } = await forkServer(fileURLToPath(import.meta.url), ['--serve', target], 'focal');
  return { child, base: `http://127.0.0.1:${port}` };
}

/** Decisions per second over all `bases` at once (the connections split between them). */
async function rate(bases: string[]): Promise<number> {
  const per = Math.max(1, Math.floor(args.connections / bases.length));
  const results = await Promise.all(bases.map((b) => autocannon({
    url: `${b}/decide`, method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY, duration: args.duration, connections: per,
  })));
  for (const r of results) {
    const bad = r.non2xx + r.errors + r.timeouts;
    if (bad > 0) throw new Error(`${r.url}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
  }
  return results.reduce((s, r) => s + r.requests.total, 0) / args.duration;
}

async function json(url: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

const rewardSeq = async (base: string) => ((await json(`${base}/models/default`)).stats as { rewardSeq: number }).rewardSeq;

/** ms from a reward's 2xx on `a` until `b` has applied it. */
async function lag(a: string, b: string, samples: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const d = await json(`${a}/decide`, { context: { i }, actions: ['x', 'y', 'z'] });
    await json(`${a}/reward`, { eventId: d.eventId, reward: i % 2 });
    const t0 = performance.now();
    const target = await rewardSeq(a);
    while ((await rewardSeq(b)) < target) { /* poll */ }
    out.push(performance.now() - t0);
  }
  return out.sort((x, y) => x - y);
}

async function sql(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function main(): Promise<void> {
  const server = await startPgServer();
  const stop = (c: ChildProcess) => stopServer(c, 10_000);
  try {
    const sqlite = await start('sqlite');
    const url = await server.createDatabase();
    const r1 = await start(url);
    const r2 = await start(url);
    // The same replica on a database whose log-count trigger (migration 102, stats.log) is disabled: what it costs.
    const bare = await server.createDatabase();
    const r0 = await start(bare);
    await sql(bare, 'ALTER TABLE events DISABLE TRIGGER log_stats_insert');
    const rounds = { sqlite: [] as number[], pg1: [] as number[], pg2: [] as number[], pg0: [] as number[] };
    try {
      for (let i = 0; i < args.rounds; i++) {
        rounds.sqlite.push(await rate([sqlite.base]));
        rounds.pg1.push(await rate([r1.base]));
        rounds.pg0.push(await rate([r0.base]));
        rounds.pg2.push(await rate([r1.base, r2.base]));
      }
      const s = median(rounds.sqlite);
      const p1 = median(rounds.pg1);
      const p2 = median(rounds.pg2);
      console.log(`POST /decide, ${args.connections} connections, ${args.duration} s × ${args.rounds} rounds (median), decisions/s:`);
      console.log(`  SQLite (embedded, one process)   ${s.toFixed(0).padStart(7)}   1.00`);
      console.log(`  PostgreSQL, one replica          ${p1.toFixed(0).padStart(7)}   ${(p1 / s).toFixed(2)}`);
      console.log(`  PostgreSQL, two replicas         ${p2.toFixed(0).padStart(7)}   ${(p2 / s).toFixed(2)}   (${(p2 / p1).toFixed(2)} of one replica)`);
      const p0 = median(rounds.pg0);
      console.log(`  PostgreSQL, one replica, no log-count trigger ${p0.toFixed(0).padStart(7)}   ${(p0 / s).toFixed(2)}   (one replica with it: ${(p1 / p0).toFixed(2)} of this)`);
      const l = await lag(r1.base, r2.base, args['lag-samples']);
      console.log(`replication lag (reward 2xx on A → applied on B), ${l.length} samples: p50 ${quantile(l, 0.5).toFixed(1)} ms, p99 ${quantile(l, 0.99).toFixed(1)} ms`);
    } finally {
      await Promise.all([stop(sqlite.child), stop(r1.child), stop(r2.child), stop(r0.child)]);
    }
  } finally {
    await server.stop();
  }
}

if (args.serve !== undefined) {
  const { server, cleanup } = await listenDecisionsApp('focal-bench-replicas-', args.serve === 'sqlite' ? undefined : args.serve);
  announcePort(server);
  exitOnDisconnect(server, cleanup);
  if (server.listening) process.send!({ port: (server.address() as { port: number }).port });
} else {
  await main();
}
