import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import request from 'supertest';
import { createApp, type FocalApp } from '../../src/app.js';
import { dashboardCapability } from '../../src/dashboard/index.js';
import { defaultConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { Metrics } from '../../src/platform/metrics.js';
import { closeDatabase, openDatabase } from '../../src/store/database.js';

/** The dashboard's routes alone, over a folder of built assets, with an API key set. */
async function app(dir: string): Promise<{ focal: FocalApp; close: () => void }> {
  const db = openDatabase({ path: ':memory:' });
  const focal = await createApp({
    config: defaultConfig({ apiKey: 'k' }), db, logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }), backend: 'cpu',
    capabilities: [dashboardCapability(`${dir}/`)],
  });
  return { focal, close: () => closeDatabase(db) };
}

describe('GET /ui and its assets', () => {
  const dirs: string[] = [];
  after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  it('serves the built page and assets without a key (they hold no data), with a self-only CSP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'focal-ui-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Focal dashboard</title>');
    writeFileSync(join(dir, 'app.js'), 'console.log(1)');
    const { focal, close } = await app(dir);
    try {
      const page = await request(focal.app).get('/ui').expect(200).expect('content-type', /text\/html/);
      assert.match(page.text, /Focal dashboard/);
      assert.match(page.headers['content-security-policy'] ?? '', /default-src 'self'/);
      await request(focal.app).get('/ui/assets/app.js').expect(200).expect('content-type', /javascript/);
      const missing = await request(focal.app).get('/ui/assets/nope.js').expect(404);
      assert.equal(missing.type, 'application/problem+json');
      // Only plain asset names: no way out of the folder.
      for (const path of ['/ui/assets/..%2Fpackage.json', '/ui/assets/index.html', '/ui/assets/.env']) {
        const r = await request(focal.app).get(path);
        assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
      }
      await request(focal.app).get('/openapi.json').expect(200);
      const doc = (await request(focal.app).get('/openapi.json')).body as { paths: Record<string, unknown> };
      assert.ok(doc.paths['/ui']);
    } finally {
      close();
    }
  });

  it('answers 503 naming the build step when the page was not built', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'focal-ui-empty-'));
    dirs.push(dir);
    const { focal, close } = await app(dir);
    try {
      const r = await request(focal.app).get('/ui').expect(503);
      assert.match(r.body.detail, /npm run build/);
    } finally {
      close();
    }
  });
});
