/**
 * What the HTTP benchmarks share: each runs every server under test in a child process of its own script
 * (`--serve …`), so the load generator and the server do not share an event loop. The child announces its
 * port and exits when the parent disconnects; the parent forks, waits for the port, and stops it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Child side: tells the parent the port once `server` listens. */
export function announcePort(server: Server): void {
  server.on('listening', () => process.send!({ port: (server.address() as AddressInfo).port }));
}

/** Child side: on the parent's disconnect, stops accepting, runs `cleanup`, and exits (1 if it failed). */
export function exitOnDisconnect(server: Server, cleanup: () => void | Promise<void>): void {
  process.on('disconnect', () => {
    server.close();
    Promise.resolve().then(cleanup).then(() => process.exit(0), () => process.exit(1));
  });
}

/** Parent side: forks `script` with `args` under tsx and waits for the port it announces. */
export async function forkServer(script: string, args: string[], label: string): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(script, args, { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`${label} server exited with ${code}`)));
  });
  return { child, port };
}

/** Parent side: disconnects the child and waits for it to exit, killing it after `graceMs`. */
export async function stopServer(child: ChildProcess, graceMs: number): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.disconnect();
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

/**
 * Child side: Focal with only its decisions capability on a fresh temporary database, listening on a free
 * loopback port. Imported lazily, so a child serving a bare baseline does not load Focal.
 */
export async function listenDecisionsApp(prefix: string): Promise<{ server: Server; cleanup: () => Promise<void> }> {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { createApp } = await import('../../src/app.js');
  const { decisionsCapability } = await import('../../src/decisions/index.js');
  const { defaultConfig } = await import('../../src/platform/config.js');
  const { createLogger } = await import('../../src/platform/logger.js');
  const { Metrics } = await import('../../src/platform/metrics.js');
  const { openDatabase, closeDatabase } = await import('../../src/store/database.js');
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const db = openDatabase({ path: join(dir, 'focal.db') });
  const focal = await createApp({
    config: defaultConfig({ dataDir: dir }), db, logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }),
    backend: 'cpu', capabilities: [decisionsCapability()],
  });
  const server = focal.app.listen(0, '127.0.0.1');
  return { server, cleanup: async () => { await focal.close(); closeDatabase(db); rmSync(dir, { recursive: true, force: true }); } };
}
