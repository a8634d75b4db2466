import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabelledImage, RamConfig } from '../attention/index.js';
import type { TfBackendPreference } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { ImageMetrics } from './image-metrics.js';
import type { ImageStore } from './image-store.js';
import { ImagePool, type ImagePoolOptions } from './image-pool.js';
import { OnlineLearner, type LearnableModel, type OnlineLearningOptions } from './online-learner.js';
import type { ModelSource } from './worker-protocol.js';

/**
 * The image models Focal serves: every shipped folder `ram-<name>` under
 * FOCAL_MODELS_DIR becomes model `<name>`, with its weights taken from the
 * latest snapshot under the data directory when one descends from that same
 * shipped folder, plus the labelled feedback the snapshot has not folded in.
 * The weights live in the image pool's workers (image-pool.ts); the main
 * thread keeps each model's configuration and its learner's bookkeeping.
 */

export const MODEL_FOLDER_PREFIX = 'ram-';
export const DEFAULT_IMAGE_MODEL = 'mnist';
/** Start-up re-learns at most this much feedback after the snapshot; snapshots every minute keep it far smaller. */
const MAX_STARTUP_RELEARN = 2000;

/** Side of MNIST's field: models at this size read a cropped, centred digit. */

export interface ImageModelEntry {
  name: string;
  shippedDir: string;
  config: RamConfig;
  learner: OnlineLearner;
}

/** sha256 over the folder's file names and contents: a new shipped model invalidates old snapshots. */
async function fingerprint(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of (await readdir(dir)).sort()) {
    const path = join(dir, file);
    if (!(await stat(path)).isFile()) continue;
    hash.update(file).update('\0').update(await readFile(path)).update('\0');
  }
  return hash.digest('hex');
}

export interface CatalogDeps {
  modelsDir: string;
  dataDir: string;
  store: ImageStore;
  metrics: ImageMetrics;
  logger: Logger;
  learning: OnlineLearningOptions;
  /** The image pool: worker threads, waiting classifications allowed, TensorFlow.js backend. */
  workers: number;
  queueLimit: number;
  tfBackend: TfBackendPreference;
  /** Nice value of the worker threads (FOCAL_IMAGE_NICE). */
  nice: number;
  /** The database file the workers log classifications to; absent for an in-memory database. */
  log?: ImagePoolOptions['log'];
}

/** A served model as the learner sees it: its steps and snapshots run on the pool's learner worker. */
function pooledModel(pool: ImagePool, name: string, config: RamConfig): LearnableModel {
  return {
    config,
    learn: (batch: LabelledImage[], learningRate: number) => pool.learn(name, batch, learningRate),
    save: (dir: string) => pool.save(name, dir),
  };
}

interface Candidate {
  dir: string;
  state: { version: number; appliedSeq: number; updates: number };
}

/** The folders a model may load from: the snapshots that descend from this shipped folder, newest first, then the folder itself. */
function candidates(name: string, shippedDir: string, base: string, deps: CatalogDeps): Candidate[] {
  const out: Candidate[] = deps.store.snapshots(name)
    .filter((snap) => snap.state.base === base)
    .map((snap) => ({ dir: join(deps.dataDir, snap.state.dir), state: { version: snap.version, appliedSeq: snap.rewardSeq, updates: snap.state.updates } }));
  if (out.length === 0 && deps.store.snapshots(name).length > 0) {
    deps.logger.warn({ model: name, shippedDir }, 'shipped image model changed since the last snapshot; starting from the shipped weights');
  }
  out.push({ dir: shippedDir, state: { version: 0, appliedSeq: 0, updates: 0 } });
  return out;
}

/** Re-learns the feedback acknowledged after the snapshot the model loaded, so a restart keeps it. */
async function catchUp(name: string, learner: OnlineLearner, appliedSeq: number, deps: CatalogDeps): Promise<void> {
  const { store, logger } = deps;
  let pending = store.labelledAfter(name, appliedSeq);
  if (pending.length > MAX_STARTUP_RELEARN) {
    logger.warn({ model: name, pending: pending.length, kept: MAX_STARTUP_RELEARN }, 'too much feedback after the snapshot; re-learning the most recent only');
    pending = pending.slice(-MAX_STARTUP_RELEARN);
  }
  learner.remember(store.recentLabelled(name, appliedSeq, deps.learning.replayCapacity));
  if (pending.length > 0) {
    const started = performance.now();
    await learner.learnNow(pending);
    logger.info({ model: name, relearned: pending.length, ms: Math.round(performance.now() - started) }, 'image model re-learned feedback after its snapshot');
  }
}

/**
 * Loads every shipped model into the image pool; a missing or broken folder is logged and skipped so
 * the service still starts. The learner worker starts first and re-learns what the snapshots missed;
 * the other workers then start from the same folder and those weights.
 */
export async function loadImageModels(deps: CatalogDeps): Promise<{ models: Map<string, ImageModelEntry>; pool: ImagePool }> {
  const entries = new Map<string, ImageModelEntry>();
  const sources: ModelSource[] = [];
  const found = new Map<string, { shippedDir: string; base: string; candidates: Candidate[] }>();
  if (!existsSync(deps.modelsDir)) {
    deps.logger.warn({ modelsDir: deps.modelsDir }, 'FOCAL_MODELS_DIR does not exist: no image model is served');
  } else {
    const folders = (await readdir(deps.modelsDir, { withFileTypes: true }))
      .filter((d) => d.isDirectory() && d.name.startsWith(MODEL_FOLDER_PREFIX))
      .map((d) => d.name)
      .sort();
    for (const folder of folders) {
      const name = folder.slice(MODEL_FOLDER_PREFIX.length);
      const dir = join(deps.modelsDir, folder);
      try {
        const base = await fingerprint(dir);
        const list = candidates(name, dir, base, deps);
        found.set(name, { shippedDir: dir, base, candidates: list });
        sources.push({ name, candidates: list.map((c) => c.dir) });
      } catch (err) {
        deps.logger.error({ err, model: name, dir }, 'image model could not be read; it is not served');
      }
    }
  }
  const pool = new ImagePool({
    size: deps.workers, queueLimit: deps.queueLimit, tfBackend: deps.tfBackend, nice: deps.nice, models: sources, logger: deps.logger, metrics: deps.metrics,
    ...(deps.log ? { log: deps.log } : {}),
  });
  const loaded = sources.length > 0 ? await pool.startLearner() : new Map();
  for (const [name, { shippedDir, base, candidates: list }] of found) {
    const result = loaded.get(name);
    if (!result || 'error' in result) {
      deps.logger.error({ model: name, dir: shippedDir, error: result?.error }, 'image model could not be loaded; it is not served');
      continue;
    }
    const { state, dir } = list[result.loaded]!;
    deps.logger.info({ model: name, version: state.version, dir }, state.version > 0 ? 'image model loaded from snapshot' : 'image model loaded from the shipped folder');
    const learner = new OnlineLearner({
      name, model: pooledModel(pool, name, result.config), base, dataDir: deps.dataDir, store: deps.store, metrics: deps.metrics,
      logger: deps.logger, options: deps.learning, state,
    });
    await catchUp(name, learner, state.appliedSeq, deps);
    entries.set(name, { name, shippedDir, config: result.config, learner });
  }
  if (sources.length > 0) await pool.startOthers();
  if (!entries.has(DEFAULT_IMAGE_MODEL)) {
    deps.logger.warn({ modelsDir: deps.modelsDir, expected: join(deps.modelsDir, MODEL_FOLDER_PREFIX + DEFAULT_IMAGE_MODEL) },
      `the default image model "${DEFAULT_IMAGE_MODEL}" is not available: POST /classify-image answers 404 for it`);
  }
  return { models: entries, pool };
}
