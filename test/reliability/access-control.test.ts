import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import request from 'supertest';
import { createApp, type FocalApp } from '../../src/app.js';
import { CAPABILITIES } from '../../src/capabilities.js';
import { route } from '../../src/http/route.js';
import { ConfigError, defaultConfig, loadConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { Metrics } from '../../src/platform/metrics.js';
import { closeDatabase, openDatabase, type Db } from '../../src/store/database.js';
import { assertProblem } from './hostile-fixtures.js';

/**
 * Access control over the real endpoints (issue 5): with FOCAL_API_KEY set,
 * everything but /healthz, /readyz and /metrics needs the bearer key; PUT and
 * DELETE /models need FOCAL_ADMIN_KEY when it is set; refused requests change
 * nothing; neither key ever reaches a log line (every line is captured at
 * debug level); start-up without keys warns that the service is open.
 */

const USER_KEY = 'user-key-0123456789abcdef';
const ADMIN_KEY = 'admin-key-fedcba9876543210';

interface Running {
  focal: FocalApp;
  db: Db;
  logs: string[];
  close(): Promise<void>;
}

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** The whole app (every capability) plus one route that throws, logging into `logs`. */
async function start(keys: { apiKey?: string; adminKey?: string }): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'focal-auth-'));
  dirs.push(dir);
  const logs: string[] = [];
  const logger = createLogger('trace', { write: (line: string) => { logs.push(line); } });
  const config = defaultConfig({ dataDir: dir, modelsDir: join(dir, 'no-models'), logLevel: 'trace', ...keys });
  const db = openDatabase({ path: join(dir, 'focal.db') });
  const boom = route({
    method: 'post', path: '/boom', summary: 'Fails', responses: { 200: { description: 'never' } },
    handler: () => { throw new Error('an unexpected failure'); },
  });
  const focal = await createApp({
    config, db, logger, metrics: new Metrics({ defaultMetrics: false }), backend: 'cpu',
    capabilities: [...CAPABILITIES, () => ({ name: 'boom', routes: [boom], isReady: () => true, close: async () => {} })],
  });
  return { focal, db, logs, close: async () => { await focal.close(); closeDatabase(db); } };
}

type Call = (app: FocalApp['app'], auth: string | undefined) => request.Test;

function withAuth(t: request.Test, auth: string | undefined): request.Test {
  return auth === undefined ? t : t.set('Authorization', auth);
}

let png: Buffer;
const USER_CALLS: Record<string, Call> = {
  'POST /decide': (app, auth) => withAuth(request(app).post('/decide'), auth).send({ actions: ['a', 'b'] }),
  'POST /reward': (app, auth) => withAuth(request(app).post('/reward'), auth).send({ eventId: 'nope', reward: 1 }),
  'POST /classify-image': (app, auth) => withAuth(request(app).post('/classify-image'), auth).set('Content-Type', 'image/png').send(png),
  'GET /models': (app, auth) => withAuth(request(app).get('/models'), auth),
  'GET /models/default': (app, auth) => withAuth(request(app).get('/models/default'), auth),
  'GET /image-models': (app, auth) => withAuth(request(app).get('/image-models'), auth),
};
const ADMIN_CALLS: Record<string, Call> = {
  'PUT /models/x': (app, auth) => withAuth(request(app).put('/models/x'), auth).send({ strategy: { name: 'greedy' } }),
  'DELETE /models/default': (app, auth) => withAuth(request(app).delete('/models/default'), auth),
};
const PUBLIC = ['/healthz', '/readyz', '/metrics'];

function rows(db: Db): string {
  return JSON.stringify(db.prepare(`SELECT (SELECT COUNT(*) FROM events) AS events, (SELECT COUNT(*) FROM rewards) AS rewards,
    (SELECT group_concat(name || ':' || version, ',') FROM models) AS models`).get());
}

async function refused(r: Running, call: Call, auth: string | undefined, status: 401 | 403, what: string): Promise<void> {
  const before = rows(r.db);
  const res = await call(r.focal.app, auth);
  assertProblem(res, what);
  assert.equal(res.status, status, `${what}: ${res.text}`);
  if (status === 401) assert.equal(res.headers['www-authenticate'], 'Bearer', what);
  assert.equal(rows(r.db), before, `${what}: a refused request changed state`);
}

async function allowed(r: Running, call: Call, auth: string | undefined, what: string): Promise<void> {
  const res = await call(r.focal.app, auth);
  assert.ok(![401, 403].includes(res.status) && res.status < 500, `${what}: ${res.status} ${res.text}`);
}

function assertNoKeyLogged(r: Running): void {
  assert.ok(r.logs.length > 0);
  for (const line of r.logs) {
    for (const key of [USER_KEY, ADMIN_KEY]) {
      assert.ok(!line.includes(key) && !line.includes(key.slice(0, 12)), `a key reached the log: ${line}`);
    }
  }
}

describe('access control over the real endpoints', { timeout: 120_000 }, () => {
  it('with both keys: the user key opens the service, only the admin key administers models, health stays open', async () => {
    png = await sharp({ create: { width: 28, height: 28, channels: 3, background: '#fff' } }).png().toBuffer();
    const r = await start({ apiKey: USER_KEY, adminKey: ADMIN_KEY });
    try {
      const wrong = [undefined, '', `Bearer ${'x'.repeat(24)}`, `Basic ${Buffer.from(`u:${USER_KEY}`).toString('base64')}`, USER_KEY,
        `Bearer ${USER_KEY}x`, `Bearer ${USER_KEY.slice(0, -1)}`, `Bearer ${USER_KEY} ${ADMIN_KEY}`, 'Bearer', `Bearer ${USER_KEY.toUpperCase()}`];
      for (const [name, call] of Object.entries({ ...USER_CALLS, ...ADMIN_CALLS })) {
        for (const auth of wrong) await refused(r, call, auth, 401, `${name} with ${JSON.stringify(auth)}`);
      }
      for (const [name, call] of Object.entries(USER_CALLS)) {
        await allowed(r, call, `Bearer ${USER_KEY}`, `${name} with the user key`);
        await allowed(r, call, `bearer  ${ADMIN_KEY}`, `${name} with the admin key`);
      }
      for (const [name, call] of Object.entries(ADMIN_CALLS)) await refused(r, call, `Bearer ${USER_KEY}`, 403, `${name} with the user key`);
      assert.equal((await request(r.focal.app).get('/models/x').set('Authorization', `Bearer ${USER_KEY}`)).status, 404, 'x was not created');
      for (const [name, call] of Object.entries(ADMIN_CALLS)) await allowed(r, call, `Bearer ${ADMIN_KEY}`, `${name} with the admin key`);
      for (const path of PUBLIC) {
        for (const auth of [undefined, 'Bearer nonsense', `Bearer ${USER_KEY}`]) {
          assert.equal((await withAuth(request(r.focal.app).get(path), auth)).status, 200, `${path} with ${String(auth)}`);
        }
      }
      // A failing request logs its error, still without the key that came with it.
      const boom = await request(r.focal.app).post('/boom').set('Authorization', `Bearer ${ADMIN_KEY}`).set('X-Api-Key', ADMIN_KEY);
      assert.equal(boom.status, 500);
      assert.ok(r.logs.some((l) => l.includes('unhandled error')));
      assert.ok(!r.logs.some((l) => l.includes('every endpoint is open')), 'no open-service warning when keys are set');
      assertNoKeyLogged(r);
    } finally {
      await r.close();
    }
  });

  it('with only FOCAL_API_KEY: the user key also administers; with only FOCAL_ADMIN_KEY: only administration is closed', async () => {
    const userOnly = await start({ apiKey: USER_KEY });
    try {
      for (const [name, call] of Object.entries({ ...USER_CALLS, ...ADMIN_CALLS })) {
        await refused(userOnly, call, undefined, 401, `${name} without a key`);
        await allowed(userOnly, call, `Bearer ${USER_KEY}`, `${name} with the user key`);
      }
      assertNoKeyLogged(userOnly);
    } finally {
      await userOnly.close();
    }
    const adminOnly = await start({ adminKey: ADMIN_KEY });
    try {
      for (const [name, call] of Object.entries(USER_CALLS)) await allowed(adminOnly, call, undefined, `${name} without a key`);
      for (const [name, call] of Object.entries(ADMIN_CALLS)) {
        await refused(adminOnly, call, undefined, 401, `${name} without a key`);
        await refused(adminOnly, call, `Bearer ${USER_KEY}`, 401, `${name} with a key that is not the admin key`);
        await allowed(adminOnly, call, `Bearer ${ADMIN_KEY}`, `${name} with the admin key`);
      }
      assertNoKeyLogged(adminOnly);
    } finally {
      await adminOnly.close();
    }
  });

  it('without keys: everything is open and start-up warns about it', async () => {
    const open = await start({});
    try {
      const warning = open.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg.includes('FOCAL_API_KEY'));
      assert.ok(warning, 'a start-up warning names FOCAL_API_KEY');
      assert.equal(warning.level, 40, 'at level warn');
      for (const [name, call] of Object.entries({ ...USER_CALLS, ...ADMIN_CALLS })) await allowed(open, call, undefined, name);
    } finally {
      await open.close();
    }
  });

  it('the logger redacts Authorization headers and configuration errors redact keys', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => { lines.push(line); } });
    logger.info({ req: { headers: { authorization: `Bearer ${USER_KEY}` } }, headers: { authorization: `Bearer ${ADMIN_KEY}` } }, 'request');
    assert.equal(lines.length, 1);
    assert.ok(!lines[0]!.includes(USER_KEY) && !lines[0]!.includes(ADMIN_KEY), lines[0]);
    assert.throws(() => loadConfig({ FOCAL_API_KEY: 'short-secret', FOCAL_ADMIN_KEY: 'tiny' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(!err.message.includes('short-secret') && !err.message.includes('tiny'), err.message);
      assert.match(err.message, /FOCAL_API_KEY[^\n]*<redacted>/);
      return true;
    });
  });
});
