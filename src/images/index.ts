import { connectionOptions } from '../store/database.js';
import type { Capability, CapabilityContext, CapabilityFactory } from '../capability.js';
import { classifyRoutes } from './classify-route.js';
import { ImageWriter } from './event-writer.js';
import { imageFeedbackHandler } from './image-feedback.js';
import { createImageMetrics } from './image-metrics.js';
import { IMAGE_EVENT_KIND, ImageStore } from './image-store.js';
import type { ImagePool } from './image-pool.js';
import { loadImageModels, type ImageModelEntry } from './model-catalog.js';
import { DEFAULT_ONLINE_LEARNING, type OnlineLearningOptions } from './online-learner.js';

export { preprocessImage, type Preprocessed } from './preprocess.js';
export { renderGlimpses } from './glimpse-render.js';

/**
 * The images slice: POST /classify-image over the shipped attention models,
 * and their online learning from feedback sent to POST /reward.
 */

export interface ImagesCapabilityOptions {
  learning?: Partial<OnlineLearningOptions>;
  /** Called with the loaded models and the worker pool (tests wait on their learners and stop workers). */
  onLoaded?: (models: ReadonlyMap<string, ImageModelEntry>, pool: ImagePool) => void;
}

export function imagesCapability(options: ImagesCapabilityOptions = {}): CapabilityFactory {
  return async (ctx: CapabilityContext): Promise<Capability> => {
    const { config, logger } = ctx;
    const store = new ImageStore(ctx.db);
    const writer = new ImageWriter(ctx.db, (err) => logger.fatal({ err }, 'the image writer thread failed: classifications and image feedback are refused (503) until restart'));
    const metrics = createImageMetrics(ctx.metrics);
    const { models, pool } = await loadImageModels({
      modelsDir: config.modelsDir, dataDir: config.dataDir, store, metrics, logger,
      learning: { ...DEFAULT_ONLINE_LEARNING, ...options.learning },
      workers: config.imageWorkers, queueLimit: config.imageQueue, tfBackend: ctx.backend, nice: config.imageNice,
      // The workers log their classifications themselves (event-writer.ts: WorkerEventLog), unless the database is in memory.
      ...(ctx.db.memory ? {} : { log: { path: ctx.db.name, connection: connectionOptions(ctx.db.name) } }),
    });
    for (const entry of models.values()) {
      // Claims the name in the shared models table, so a bandit cannot be created under it.
      const owner = store.registerModel(entry.name, { source: entry.shippedDir, ...entry.config });
      if (owner !== 'image') logger.warn({ model: entry.name, kind: owner }, 'an image model shares its name with a model of another kind');
    }
    options.onLoaded?.(models, pool);
    ctx.feedback.set(IMAGE_EVENT_KIND, imageFeedbackHandler({ store, writer, models, metrics, logger }));

    const timer = setInterval(() => {
      for (const entry of models.values()) void entry.learner.snapshot();
    }, config.snapshotIntervalSeconds * 1000);
    timer.unref();

    let closed = false;
    return {
      name: 'images',
      routes: classifyRoutes({ models, pool, store, writer, metrics, logger, limits: config.limits, modelsDir: config.modelsDir, db: ctx.db }),
      // Loading finished in the factory; a missing model is a 404 for that model, not an unready service.
      isReady: () => !closed,
      close: async () => {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        await writer.close();
        for (const entry of models.values()) await entry.learner.close();
        await pool.close();
      },
    };
  };
}

export const createImagesCapability: CapabilityFactory = imagesCapability();
