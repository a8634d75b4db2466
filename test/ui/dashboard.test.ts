/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core, against real Focal processes
 * (one open, one with FOCAL_API_KEY). Screenshots go to test-output/ui/. Skipped, with the reason, where
 * Chromium is not installed (.ci/run installs it).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { call, killAll, startFocal, type FocalProcess } from '../server-process.js';

const CHROMIUM = process.env.FOCAL_CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `Chromium is not installed at ${CHROMIUM} (apt-get install chromium)`;
const ROOT = new URL('../../', import.meta.url).pathname;
const OUT = join(ROOT, 'test-output', 'ui');
const KEY = 'dashboard-test-key';
const actions = ['news', 'sports', 'music'];

/** Decisions and rewards on `shop`: action `sports` pays for premium users, `music` for the others. */
async function seed(base: string, headers: Record<string, string> = {}): Promise<string[]> {
  const put = await call(base, 'PUT', '/models/shop', { strategy: { name: 'epsilon-greedy', epsilon: 0.3 }, reward: { waitSeconds: 2, default: 0 } }, headers);
  assert.equal(put.status, 200);
  const ids: string[] = [];
  for (let wave = 0; wave < 6; wave++) {
    const decided = await Promise.all(Array.from({ length: 25 }, (_, i) => {
      const premium = (wave * 25 + i) % 2 === 0;
      return call(base, 'POST', '/decide', { model: 'shop', context: { user: { premium, age: 20 + (i % 40) } }, actions }, headers)
        .then((r) => ({ r, premium }));
    }));
    await Promise.all(decided.map(({ r, premium }, i) => {
      assert.equal(r.status, 200);
      ids.push(r.body.eventId as string);
      if (i % 5 === 4) return undefined; // left to the default reward
      const good = premium ? r.body.action === 'sports' : r.body.action === 'music';
      return call(base, 'POST', '/reward', { eventId: r.body.eventId, reward: good ? 1 : 0 }, headers);
    }));
  }
  return ids;
}

function watchConsole(page: Page, allowed: RegExp[] = []): string[] {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' && !allowed.some((a) => a.test(m.text()))) errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

describe('the dashboard in Chromium', { skip, timeout: 180_000 }, () => {
  let browser: Browser;
  let open: FocalProcess;
  let keyed: FocalProcess;
  let ids: string[] = [];
  const dirs: string[] = [];

  before(async () => {
    mkdirSync(OUT, { recursive: true });
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-ui.mjs')], { stdio: 'ignore' });
    const env = (extra: Record<string, string> = {}) => {
      const dir = mkdtempSync(join(tmpdir(), 'focal-ui-'));
      dirs.push(dir);
      return { FOCAL_DATA_DIR: dir, FOCAL_IMAGE_WORKERS: '1', FOCAL_TF_BACKEND: 'wasm', ...extra };
    };
    [open, keyed, browser] = await Promise.all([
      startFocal(env()), startFocal(env({ FOCAL_API_KEY: KEY })),
      chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] }),
    ]);
    ids = await seed(open.base);
    // An apprentice: answers the baseline, reports how often its own draw agreed.
    assert.equal((await call(open.base, 'PUT', '/models/appr', { mode: 'apprentice' })).status, 200);
    for (let i = 0; i < 8; i++) assert.equal((await call(open.base, 'POST', '/decide', { model: 'appr', context: { i }, actions, baseline: 'news' })).status, 200);
  });

  after(async () => {
    await browser?.close();
    killAll();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('loads without a console error, lists the models and charts their time series', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = watchConsole(page);
    const res = await page.goto(`${open.base}/ui#models/shop`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /default-src 'self'/);
    await page.locator('tr[data-model="shop"]').waitFor();
    await page.locator('tr[data-model="default"]').waitFor();
    assert.match(await page.locator('tr[data-model="shop"]').innerText(), /epsilon-greedy/);
    const apprentice = (await page.locator('tr[data-model="appr"]').innerText()).split('\t').map((c) => c.trim());
    assert.equal(apprentice[3], 'apprentice');
    assert.match(apprentice[9]!, /^\d+\.\d%$/, `imitation rate shown: ${apprentice.join(' | ')}`);
    // The default model is automatically optimized: its row names the candidate it serves.
    const auto = (await page.locator('tr[data-model="default"]').innerText()).split('\t').map((c) => c.trim());
    assert.equal(auto[1], 'auto');
    assert.match(auto[10]!, /^\S+ \(\d+ switch(es)?\)$/, `optimizer's choice shown: ${auto.join(' | ')}`);
    const chart = page.locator('figure[data-chart="Decisions per second"]');
    await chart.waitFor();
    assert.ok(Number(await chart.getAttribute('data-points')) > 0, 'the chart has minutes with decisions');
    assert.equal(await chart.locator('canvas').count(), 1);
    await page.locator('figure[data-chart="Mean reward"] canvas').waitFor();
    await page.screenshot({ path: join(OUT, 'models.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('starts an evaluation, watches it complete and charts each policy\'s interval', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = watchConsole(page);
    await page.goto(`${open.base}/ui#evaluations/shop`);
    await page.locator('[data-testid="start-evaluation"]').click();
    await page.locator('[data-testid="evaluation-status"][data-status="completed"]').waitFor({ timeout: 60_000 });
    const chart = page.locator('figure[data-chart^="DR estimate"]');
    await chart.waitFor();
    // online, baseline, uniform and the two candidates of the form.
    assert.equal(Number(await chart.getAttribute('data-points')), 5);
    assert.notEqual(await page.locator('[data-testid="evaluation-best"]').innerText(), '');
    await page.screenshot({ path: join(OUT, 'evaluation.png'), fullPage: true });
    // Apply a candidate: the model takes its strategy.
    await page.locator('tr[data-policy="eps05"] button').click();
    await page.getByText('Applied eps05 to shop.').waitFor();
    const model = await call(open.base, 'GET', '/models/shop');
    assert.deepEqual((model.body.config as { strategy: unknown }).strategy, { name: 'epsilon-greedy', epsilon: 0.05 });
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('browses recent decisions and finds one by its event id', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = watchConsole(page);
    await page.goto(`${open.base}/ui#decisions/shop`);
    await page.locator('[data-testid="decisions"] details.decision').first().waitFor();
    assert.equal(await page.locator('[data-testid="decisions"] details.decision').count(), 25);
    const id = ids[3]!;
    await page.locator('[data-testid="event-search"]').fill(id);
    await page.locator('[data-testid="event-search"]').press('Enter');
    const found = page.locator(`[data-testid="decision-found"] details[data-event="${id}"]`);
    await found.waitFor();
    assert.match(await found.innerText(), /premium/);
    assert.match(await found.innerText(), /PMF/);
    await page.screenshot({ path: join(OUT, 'decisions.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('draws a digit, sees the glimpses step by step and a label, and sends the true label', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors = watchConsole(page);
    await page.goto(`${open.base}/ui#playground`);
    await page.locator('[data-testid="image-model"]').waitFor();
    const pad = page.locator('[data-testid="draw"]');
    const box = (await pad.boundingBox())!;
    // A "7": the bar, then the stroke down.
    const at = (x: number, y: number) => [box.x + (x * box.width) / 280, box.y + (y * box.height) / 280] as const;
    await page.mouse.move(...at(70, 60));
    await page.mouse.down();
    for (const [x, y] of [[120, 60], [170, 60], [210, 62], [190, 110], [165, 160], [145, 210], [130, 240]] as const) await page.mouse.move(...at(x, y), { steps: 4 });
    await page.mouse.up();
    await page.locator('[data-testid="classify"]').click();
    const label = page.locator('[data-testid="label"]');
    await label.waitFor({ timeout: 30_000 });
    assert.match(await label.innerText(), /^[0-9]$/);
    const view = page.locator('[data-testid="glimpse-view"]');
    const glimpses = Number(await view.getAttribute('data-glimpses'));
    assert.ok(glimpses >= 1);
    // The glimpses play one by one until the last.
    await page.locator(`[data-testid="glimpse-view"][data-step="${glimpses}"]`).waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('[data-testid="probabilities"] tr').count(), 10);
    await page.screenshot({ path: join(OUT, 'playground.png'), fullPage: true });
    await page.locator('[data-testid="send-label"]').click();
    await page.locator('[data-testid="feedback"]').getByText(/^Sent:/).waitFor();
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('with FOCAL_API_KEY: asks for the key, sends it as a header (never in a URL) and works', async () => {
    await seed(keyed.base, { authorization: `Bearer ${KEY}` });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    // The first calls, before the key is entered, are refused: the browser logs those 401s.
    const errors = watchConsole(page, [/status of 401/]);
    const urls: string[] = [];
    const authorized: string[] = [];
    page.on('request', (r) => {
      urls.push(r.url());
      if (r.headers().authorization === `Bearer ${KEY}`) authorized.push(new URL(r.url()).pathname);
    });
    const res = await page.goto(`${keyed.base}/ui#models/shop`);
    assert.equal(res?.status(), 200, 'the page itself is public');
    await page.locator('#key-dialog[open]').waitFor();
    await page.locator('#key-input').fill(KEY);
    await page.locator('#key-save').click();
    await page.locator('tr[data-model="shop"]').waitFor();
    await page.locator('figure[data-chart="Decisions per second"] canvas').waitFor();
    await page.screenshot({ path: join(OUT, 'api-key.png'), fullPage: true });
    assert.ok(authorized.includes('/models'), `authorized calls: ${authorized.join(', ')}`);
    assert.ok(authorized.includes('/models/shop/timeseries'));
    assert.deepEqual(urls.filter((u) => u.includes(KEY)), []);
    assert.deepEqual(errors, []);
    // A wrong key is refused as before.
    assert.equal((await call(keyed.base, 'GET', '/models', undefined, { authorization: 'Bearer wrong' })).status, 401);
    await page.close();
  });
});
