import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type FocalApp } from '../app.js';
import { createRamModel, mnistRamConfig } from '../attention/index.js';
import { createDecisionsCapability } from '../decisions/index.js';
import { defaultConfig, type Config, type Limits } from '../platform/config.js';
import { createLogger } from '../platform/logger.js';
import { Metrics } from '../platform/metrics.js';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { closeDatabase, openDatabase, type Db } from '../store/database.js';
import { imagesCapability, type ImagesCapabilityOptions } from './index.js';
import type { ImageModelEntry } from './model-catalog.js';

/**
 * An app with the decisions (for POST /reward) and images capabilities on a
 * temporary data directory, serving a small randomly initialised model saved
 * as models/ram-mnist: the plumbing is under test, not the model's accuracy.
 */

export interface ImagesHarness {
  focal: FocalApp;
  db: Db;
  config: Config;
  metrics: Metrics;
  /** Holds data/ (database, snapshots) and models/ (the shipped folders). */
  root: string;
  models: ReadonlyMap<string, ImageModelEntry>;
  /** Resolves once every queued online step and snapshot has run. */
  idle(): Promise<void>;
  /** Closes the app (writing snapshots) and the database; `remove` deletes the directory too. */
  close(remove?: boolean): Promise<void>;
}

/** Small layers keep each test step in milliseconds on wasm. */
export const TEST_MODEL_CONFIG = mnistRamConfig({ glimpseHidden: 32, locationHidden: 32, glimpseOutput: 64, hiddenSize: 64 });

export function makeRoot(): string {
  return mkdtempSync(join(tmpdir(), 'focal-images-'));
}

/** Writes a random-init model as <root>/models/ram-<name>. */
export async function shipTestModel(root: string, name = 'mnist', seed = 7): Promise<void> {
  const model = createRamModel(TEST_MODEL_CONFIG, seed);
  await model.save(join(root, 'models', `ram-${name}`));
  model.dispose();
}

export interface StartOptions {
  limits?: Partial<Limits>;
  images?: ImagesCapabilityOptions;
  snapshotIntervalSeconds?: number;
  /** Mounts the decisions capability too, for POST /reward (default true). */
  rewards?: boolean;
}

export async function startImages(root: string, options: StartOptions = {}): Promise<ImagesHarness> {
  await selectTensorBackend();
  mkdirSync(join(root, 'models'), { recursive: true });
  const config = defaultConfig({
    dataDir: join(root, 'data'), modelsDir: join(root, 'models'), logLevel: 'silent',
    ...(options.snapshotIntervalSeconds ? { snapshotIntervalSeconds: options.snapshotIntervalSeconds } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  const db = openDatabase({ path: join(config.dataDir, 'focal.db') });
  const metrics = new Metrics({ defaultMetrics: false });
  let models: ReadonlyMap<string, ImageModelEntry> = new Map();
  const focal = await createApp({
    config, db, metrics, logger: createLogger('silent'), backend: 'wasm',
    capabilities: [
      ...(options.rewards ?? true ? [createDecisionsCapability] : []),
      imagesCapability({ ...options.images, onLoaded: (m) => { models = m; } }),
    ],
  });
  return {
    focal, db, config, metrics, root, models,
    idle: async () => { for (const e of models.values()) await e.learner.idle(); },
    close: async (remove = false) => {
      await focal.close();
      closeDatabase(db);
      if (remove) rmSync(root, { recursive: true, force: true });
    },
  };
}
