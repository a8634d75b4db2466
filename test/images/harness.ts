import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type FocalApp } from '../../src/app.js';
import { createRamModel, mnistRamConfig, type RamConfig } from '../../src/attention/index.js';
import { createDecisionsCapability } from '../../src/decisions/index.js';
import { defaultConfig, type Config, type Limits } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { Metrics } from '../../src/platform/metrics.js';
import { selectTensorBackend } from '../../src/platform/tensor-backend.js';
import { closeDatabase, openDatabase, type Db } from '../../src/store/database.js';
import { imagesCapability, type ImagesCapabilityOptions } from '../../src/images/index.js';
import type { ImagePool } from '../../src/images/image-pool.js';
import type { ImageModelEntry } from '../../src/images/model-catalog.js';

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
  /** The image worker pool. */
  pool: ImagePool;
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

/** Writes a random-init model as <root>/models/ram-<name> (TEST_MODEL_CONFIG unless `config` is given). */
export async function shipTestModel(root: string, name = 'mnist', seed = 7, config: RamConfig = TEST_MODEL_CONFIG): Promise<void> {
  const model = createRamModel(config, seed);
  await model.save(join(root, 'models', `ram-${name}`));
  model.dispose();
}

export interface StartOptions {
  limits?: Partial<Limits>;
  images?: ImagesCapabilityOptions;
  snapshotIntervalSeconds?: number;
  /** Image worker threads (default 1) and waiting classifications allowed (default 64). */
  imageWorkers?: number;
  imageQueue?: number;
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
    imageWorkers: options.imageWorkers ?? 1, imageQueue: options.imageQueue ?? 64,
  });
  const db = openDatabase({ path: join(config.dataDir, 'focal.db') });
  const metrics = new Metrics({ defaultMetrics: false });
  let models: ReadonlyMap<string, ImageModelEntry> = new Map();
  let pool: ImagePool | undefined;
  const focal = await createApp({
    config, db, metrics, logger: createLogger('silent'), backend: 'wasm',
    capabilities: [
      ...(options.rewards ?? true ? [createDecisionsCapability] : []),
      imagesCapability({ ...options.images, onLoaded: (m, p) => { models = m; pool = p; } }),
    ],
  });
  return {
    focal, db, config, metrics, root, models, pool: pool!,
    idle: async () => { for (const e of models.values()) await e.learner.idle(); },
    close: async (remove = false) => {
      await focal.close();
      closeDatabase(db);
      if (remove) rmSync(root, { recursive: true, force: true });
    },
  };
}
