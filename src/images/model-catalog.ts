import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadRamModel, type RamModel } from '../attention/index.js';
import type { Logger } from '../platform/logger.js';
import type { ImageMetrics } from './image-metrics.js';
import type { ImageStore } from './image-store.js';
import { OnlineLearner, type OnlineLearningOptions } from './online-learner.js';
import type { Placement } from './preprocess.js';

/**
 * The image models Focal serves: every shipped folder `ram-<name>` under
 * FOCAL_MODELS_DIR becomes model `<name>`, with its weights taken from the
 * latest snapshot under the data directory when one descends from that same
 * shipped folder, plus the labelled feedback the snapshot has not folded in.
 */

export const MODEL_FOLDER_PREFIX = 'ram-';
export const DEFAULT_IMAGE_MODEL = 'mnist';
/** Start-up re-learns at most this much feedback after the snapshot; snapshots every minute keep it far smaller. */
const MAX_STARTUP_RELEARN = 2000;

/** Side of MNIST's field: models at this size read a cropped, centred digit. */
const MNIST_SIDE = 28;

/**
 * How an upload is placed in a model's input. A model trained on a larger canvas
 * (translated or cluttered MNIST, per config.task, or any input wider than MNIST's
 * 28×28) reads the picture at its canvas's resolution with the digit where it is,
 * so its glimpses do the finding; an MNIST model reads the digit cropped and centred.
 */
export function inputPlacement(config: RamModel['config']): Placement {
  const task = (config['task'] as { task?: unknown } | undefined)?.task;
  if (task === 'translated' || task === 'cluttered') return 'canvas';
  if (task === 'mnist') return 'digit';
  return config.imageSize > MNIST_SIDE ? 'canvas' : 'digit';
}

export interface ImageModelEntry {
  name: string;
  shippedDir: string;
  model: RamModel;
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
}

async function loadOne(name: string, shippedDir: string, deps: CatalogDeps): Promise<ImageModelEntry> {
  const { store, logger, dataDir } = deps;
  const base = await fingerprint(shippedDir);
  let model: RamModel | undefined;
  let state = { version: 0, appliedSeq: 0, updates: 0 };
  for (const snap of store.snapshots(name)) {
    if (snap.state.base !== base) continue;
    const dir = join(dataDir, snap.state.dir);
    try {
      model = await loadRamModel(dir);
      state = { version: snap.version, appliedSeq: snap.rewardSeq, updates: snap.state.updates };
      logger.info({ model: name, version: snap.version, dir }, 'image model loaded from snapshot');
      break;
    } catch (err) {
      logger.warn({ err, model: name, version: snap.version, dir }, 'image model snapshot unreadable; trying an older one');
    }
  }
  if (!model) {
    model = await loadRamModel(shippedDir);
    if (store.snapshots(name).length > 0) logger.warn({ model: name, shippedDir }, 'shipped image model changed since the last snapshot; starting from the shipped weights');
    logger.info({ model: name, dir: shippedDir }, 'image model loaded from the shipped folder');
  }
  // The first pass compiles the backend's kernels (hundreds of ms on wasm); pay it here, not on a client's request.
  model.classify(new Float32Array(model.config.imageSize ** 2));
  const learner = new OnlineLearner({ name, model, base, dataDir, store, metrics: deps.metrics, logger, options: deps.learning, state });

  // Feedback acknowledged after the snapshot was taken: learn it again so a restart keeps it.
  let pending = store.labelledAfter(name, state.appliedSeq);
  if (pending.length > MAX_STARTUP_RELEARN) {
    logger.warn({ model: name, pending: pending.length, kept: MAX_STARTUP_RELEARN }, 'too much feedback after the snapshot; re-learning the most recent only');
    pending = pending.slice(-MAX_STARTUP_RELEARN);
  }
  learner.remember(store.recentLabelled(name, state.appliedSeq, deps.learning.replayCapacity));
  if (pending.length > 0) {
    const started = performance.now();
    learner.learnNow(pending);
    logger.info({ model: name, relearned: pending.length, ms: Math.round(performance.now() - started) }, 'image model re-learned feedback after its snapshot');
  }
  return { name, shippedDir, model, learner };
}

/** Loads every shipped model; a missing or broken folder is logged and skipped so the service still starts. */
export async function loadImageModels(deps: CatalogDeps): Promise<Map<string, ImageModelEntry>> {
  const entries = new Map<string, ImageModelEntry>();
  if (!existsSync(deps.modelsDir)) {
    deps.logger.warn({ modelsDir: deps.modelsDir }, 'FOCAL_MODELS_DIR does not exist: no image model is served');
    return entries;
  }
  const folders = (await readdir(deps.modelsDir, { withFileTypes: true }))
    .filter((d) => d.isDirectory() && d.name.startsWith(MODEL_FOLDER_PREFIX))
    .map((d) => d.name)
    .sort();
  for (const folder of folders) {
    const name = folder.slice(MODEL_FOLDER_PREFIX.length);
    const dir = join(deps.modelsDir, folder);
    try {
      entries.set(name, await loadOne(name, dir, deps));
    } catch (err) {
      deps.logger.error({ err, model: name, dir }, 'image model could not be loaded; it is not served');
    }
  }
  if (!entries.has(DEFAULT_IMAGE_MODEL)) {
    deps.logger.warn({ modelsDir: deps.modelsDir, expected: join(deps.modelsDir, MODEL_FOLDER_PREFIX + DEFAULT_IMAGE_MODEL) },
      `the default image model "${DEFAULT_IMAGE_MODEL}" is not available: POST /classify-image answers 404 for it`);
  }
  return entries;
}
