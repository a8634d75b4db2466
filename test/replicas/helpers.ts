/**
 * Scaffolding shared by the replica tests: replicas inside this process (replicas.test.ts, features.test.ts) and
 * real Focal processes killed with SIGKILL (crash.test.ts, features-crash.test.ts), all on one real PostgreSQL
 * server (test/pg-server.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import request from 'supertest';
import { startHarness, type Harness } from '../decisions/harness.js';
import { startPgServer, type PgServer } from '../pg-server.js';
import { call, killAll, type FocalProcess } from '../server-process.js';

/** Polls `check` every 20 ms until it holds; fails with `what` (a function: read at the failure) after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string | (() => string)): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(typeof what === 'string' ? what : what());
    await sleep(20);
  }
}

/** The rows of one query on the database at `url` (a connection of its own). */
export async function rows<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

// ── Replicas in this process ────────────────────────────────────────────────────────────────────────────────────

/** A harness on the shared database `url`, once ready; the default-reward sweep every 50 ms unless `opts` say. */
export async function replica(url: string, opts: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const h = await startHarness({ ...opts, config: { databaseUrl: url, ...opts.config }, decisions: { sweepIntervalMs: 50, ...opts.decisions } });
  await until(() => h.service.isReady, 30_000, 'the replica did not become ready');
  return h;
}

/** GET /models/:model (200 expected): the model's view. */
export async function view(h: Harness, model = 'default') {
  return (await request(h.focal.app).get(`/models/${model}`).expect(200)).body;
}

/** Every replica at the same reward-log position with nothing left to apply; the shared fingerprint and updates. */
export async function converged(hs: Harness[], model = 'default'): Promise<{ fingerprint: string; updates: number }> {
  let last: unknown[] = [];
  await until(async () => {
    const views = await Promise.all(hs.map((h) => view(h, model)));
    last = views.map((v) => ({ seq: v.stats.rewardSeq, fp: v.stats.fingerprint, replica: v.stats.replica }));
    return views.every((v) => v.stats.fingerprint === views[0].stats.fingerprint && v.stats.replica.behindEvents === 0);
  }, 20_000, () => `replicas did not converge: ${JSON.stringify(last)}`);
  const s = (await view(hs[0]!, model)).stats;
  return { fingerprint: s.fingerprint, updates: s.updates };
}

// ── Replicas as real processes ──────────────────────────────────────────────────────────────────────────────────

/**
 * PostgreSQL and temporary data folders for Focal processes. `database()` starts the server (inside the test, so
 * that a server that cannot start fails the test with its reason); `stop()`, for the suite's `after` hook, kills
 * every process still running, stops the server and removes the folders.
 */
export function processCluster() {
  let server: PgServer | undefined;
  const dirs: string[] = [];
  return {
    /** A new database; `env(name)` is a process's environment on it, with its own data folder and a snapshot a second. */
    async database() {
      server ??= await startPgServer();
      const url = await server.createDatabase();
      const env = (name: string) => {
        const dir = mkdtempSync(join(tmpdir(), `focal-replica-${name}-`));
        dirs.push(dir);
        return { FOCAL_DATABASE_URL: url, FOCAL_DATA_DIR: dir, FOCAL_SNAPSHOT_INTERVAL_SECONDS: '1' };
      };
      return { url, env };
    },
    async stop() {
      killAll();
      await server?.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Waits for GET /readyz to answer 200. */
export async function ready(p: FocalProcess, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while ((await call(p.base, 'GET', '/readyz').catch(() => ({ status: 0 }))).status !== 200) {
    if (Date.now() > end) assert.fail(`replica not ready within ${ms} ms:\n${p.lines.slice(-20).join('\n')}`);
    await sleep(100);
  }
}

/** Waits (30 s at most) until `restarted` has `survivor`'s model: the same fingerprint and log position, nothing behind. */
export async function caughtUp(restarted: FocalProcess, survivor: FocalProcess, model: string): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    const [va, vb] = await Promise.all([call(restarted.base, 'GET', `/models/${model}`), call(survivor.base, 'GET', `/models/${model}`)]);
    const sa = va.body.stats as { fingerprint: string; rewardSeq: number; replica: { behindEvents: number } };
    const sb = vb.body.stats as { fingerprint: string; rewardSeq: number };
    if (sa.fingerprint === sb.fingerprint && sa.rewardSeq === sb.rewardSeq && sa.replica.behindEvents === 0) return;
    if (Date.now() > end) assert.fail(`the restarted replica did not converge: ${JSON.stringify({ sa, sb })}`);
    await sleep(100);
  }
}
