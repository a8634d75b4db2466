import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type FocalApp } from '../src/app.js';
import type { CapabilityFactory } from '../src/capability.js';
import { CAPABILITIES } from '../src/capabilities.js';
import { defaultConfig, type Config } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { Metrics } from '../src/platform/metrics.js';
import { closeDatabase, openDatabase, type Db } from '../src/store/database.js';

/** Object.prototype's own properties and their values: a write through a "__proto__" key would add or change one. */
export const prototypeState = (): [string, unknown][] =>
  Object.getOwnPropertyNames(Object.prototype).sort().map((n) => [n, Object.getOwnPropertyDescriptor(Object.prototype, n)!.value as unknown]);

export interface TestApp {
  focal: FocalApp;
  db: Db;
  config: Config;
  metrics: Metrics;
  dir: string;
  close(): Promise<void>;
}

/** A fresh app on a temporary database; pass `capabilities` to mount only some. */
export async function buildTestApp(options: { config?: Parameters<typeof defaultConfig>[0]; capabilities?: CapabilityFactory[] } = {}): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), 'focal-test-'));
  const config = defaultConfig({ dataDir: dir, logLevel: 'silent', ...options.config });
  const db = openDatabase({ path: join(dir, 'focal.db') });
  const metrics = new Metrics({ defaultMetrics: false });
  const focal = await createApp({
    config, db, metrics, logger: createLogger('silent'), backend: 'cpu',
    capabilities: options.capabilities ?? CAPABILITIES,
  });
  return {
    focal, db, config, metrics, dir,
    close: async () => {
      await focal.close();
      closeDatabase(db);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
