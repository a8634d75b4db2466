import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApp, type FocalApp } from '../../src/app.js';
import { decisionsCapability } from '../../src/decisions/index.js';
import { createPersonalizerCapability } from '../../src/personalizer/index.js';
import { defaultConfig, type Config } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { Metrics } from '../../src/platform/metrics.js';
import { closeDatabase, openDatabase, type Db } from '../../src/store/database.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const API_KEY = 'user-key-0123456789abcdef';
export const ADMIN_KEY = 'admin-key-0123456789abcdef';

export interface PersonalizerHarness {
  focal: FocalApp;
  db: Db;
  dir: string;
  config: Config;
  /** http://127.0.0.1:port — what a Personalizer client takes as its endpoint. */
  endpoint: string;
  close(remove?: boolean): Promise<void>;
}

/** Decisions + Personalizer on a temporary-file database, listening on a loopback port (Microsoft's clients speak HTTP). */
export async function startPersonalizer(opts: { dir?: string; config?: Parameters<typeof defaultConfig>[0] } = {}): Promise<PersonalizerHarness> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'focal-personalizer-'));
  const config = defaultConfig({ dataDir: dir, apiKey: API_KEY, adminKey: ADMIN_KEY, ...opts.config });
  const db = openDatabase({ path: join(dir, 'focal.db') });
  const focal = await createApp({
    config, db, logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }), backend: 'cpu',
    capabilities: [decisionsCapability({ sweepIntervalMs: 20 }), createPersonalizerCapability],
  });
  const server: Server = focal.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return {
    focal, db, dir, config, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async (remove = true) => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await focal.close();
      closeDatabase(db);
      if (remove) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A small simulated world: the user's favourite topic pays 1, anything else 0. */
export const TOPICS = ['news', 'sports', 'music', 'travel'];
export function contextFor(i: number): { contextFeatures: Record<string, unknown>[]; best: string } {
  const best = TOPICS[i % TOPICS.length]!;
  return { contextFeatures: [{ user: { likes: best } }, { device: { mobile: i % 2 === 0 } }], best };
}
export const ACTIONS = TOPICS.map((t) => ({ id: t, features: [{ topic: t }, { length: t.length }] }));
