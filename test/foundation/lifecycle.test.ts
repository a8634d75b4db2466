import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Capability, CapabilityFactory } from '../../src/capability.js';
import { route } from '../../src/http/route.js';
import { defaultConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { startServer } from '../../src/server.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'focal-life-'));
  dirs.push(d);
  return d;
}
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const ROOT = new URL('../../', import.meta.url).pathname;

/** Runs `node --import tsx src/main.ts` and collects its output. */
function runMain(env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: ROOT, env: { ...process.env, FOCAL_LOG_LEVEL: 'info', FOCAL_TF_BACKEND: 'cpu', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const listening = new Promise<number>((resolve, reject) => {
    const onData = () => {
      const m = /"port":(\d+)[^\n]*Focal listening/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout.on('data', onData);
    void exited.then(() => reject(new Error(`exited before listening:\n${out}`)));
  });
  listening.catch(() => {}); // only awaited by tests that expect the server to start

  return { child, exited, listening, output: () => out };
}

describe('lifecycle', () => {
  it('finishes a request in flight, flushes capabilities, then closes the database', async () => {
    const events: string[] = [];
    const slow: CapabilityFactory = (): Capability => ({
      name: 'slow', isReady: () => true,
      close: async () => { events.push('capability closed'); },
      routes: [route({
        method: 'get', path: '/slow', summary: 'Slow', responses: { 200: { description: 'ok' } },
        handler: async ({ res }) => {
          events.push('request started');
          await new Promise((r) => setTimeout(r, 400));
          res.json({ done: true });
          events.push('request finished');
        },
      })],
    });
    const config = defaultConfig({ port: 0, host: '127.0.0.1', dataDir: tempDir(), tfBackend: 'cpu', logLevel: 'silent' });
    const running = await startServer(config, createLogger('silent'), [slow]);
    const inFlight = fetch(`http://127.0.0.1:${running.port}/slow`);
    await new Promise((r) => setTimeout(r, 100));
    const stopped = running.stop('test');
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(fetch(`http://127.0.0.1:${running.port}/healthz`), 'new connections are refused while stopping');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { done: true });
    await stopped;
    assert.deepEqual(events, ['request started', 'request finished', 'capability closed']);
    assert.equal(running.db.open, false);
  });

  it('exits 0 on SIGTERM with the database checkpointed and closed', async () => {
    const dataDir = tempDir();
    const proc = runMain({ PORT: '0', HOST: '127.0.0.1', FOCAL_DATA_DIR: dataDir });
    const port = await proc.listening;
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0, proc.output());
    assert.match(proc.output(), /stopped cleanly/);
    assert.ok(existsSync(join(dataDir, 'focal.db')));
    const wal = join(dataDir, 'focal.db-wal');
    assert.ok(!existsSync(wal) || statSync(wal).size === 0, 'WAL is checkpointed on close');
  });

  it('refuses a bad configuration with exit code 2 and a clear message', async () => {
    const proc = runMain({ PORT: 'not-a-port' });
    assert.equal(await proc.exited, 2);
    assert.match(proc.output(), /Invalid configuration:\n\s+- PORT must be an integer in 0\.\.65535 \(got "not-a-port"\)/);
  });

  it('prints every variable with --help', async () => {
    const proc = runMain({}, ['--help']);
    assert.equal(await proc.exited, 0);
    assert.match(proc.output(), /FOCAL_DATA_DIR/);
    assert.match(proc.output(), /FOCAL_MAX_IMAGE_PIXELS/);
  });
});
