import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type FocalApp } from '../../src/app.js';
import type { FeedbackHandler } from '../../src/capability.js';
import { decisionsCapability, type DecisionService, type DecisionsOptions } from '../../src/decisions/index.js';
import { defaultConfig, type Config } from '../../src/platform/config.js';
import { createLogger, type Logger } from '../../src/platform/logger.js';
import { Metrics } from '../../src/platform/metrics.js';
import { closeDatabase, openDatabase, type Db } from '../../src/store/database.js';

export interface Harness {
  focal: FocalApp;
  service: DecisionService;
  db: Db;
  dir: string;
  config: Config;
  /** The app's feedback registry (POST /reward dispatches non-decision events through it). */
  feedback: Map<string, FeedbackHandler>;
  /** Closes the app (snapshots) and the database; keeps the directory unless `remove`. */
  close(remove?: boolean): Promise<void>;
}

/** An app with only the decisions capability, on a temporary-file database. */
export async function startHarness(opts: { dir?: string; memory?: boolean; config?: Parameters<typeof defaultConfig>[0]; decisions?: DecisionsOptions; logger?: Logger; metrics?: Metrics } = {}): Promise<Harness> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'focal-decisions-'));
  const config = defaultConfig({ dataDir: dir, ...opts.config });
  const db = openDatabase({ path: opts.memory ? ':memory:' : join(dir, 'focal.db'), ...(config.maxDatabaseBytes !== undefined ? { maxBytes: config.maxDatabaseBytes } : {}) });
  let service: DecisionService | undefined;
  let feedback: Map<string, FeedbackHandler> | undefined;
  const focal = await createApp({
    config, db, logger: opts.logger ?? createLogger((process.env.FOCAL_TEST_LOG as 'silent' | undefined) ?? 'silent'), metrics: opts.metrics ?? new Metrics({ defaultMetrics: false }), backend: 'cpu',
    capabilities: [
      decisionsCapability({ ...opts.decisions, onService: (s) => { service = s; } }),
      (ctx) => { feedback = ctx.feedback; return { name: 'probe', routes: [], isReady: () => true, close: async () => {} }; },
    ],
  });
  return {
    focal, service: service!, db, dir, config, feedback: feedback!,
    close: async (remove = true) => {
      await focal.close();
      closeDatabase(db);
      if (remove) rmSync(dir, { recursive: true, force: true });
    },
  };
}
