import type { RequestHandler } from 'express';
import { ConflictError, NotFoundError } from '../http/errors.js';
import type { FromSchema } from '../schema-types.js';
import { route, type AnyRoute } from '../http/route.js';
import type { Limits } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import { imageRequestBody, readImageBody, type ImageUpload } from './image-body.js';
import type { ImageMetrics } from './image-metrics.js';
import type { ImageWriter } from './event-writer.js';
import type { ImagePool } from './image-pool.js';
import type { ImageStore } from './image-store.js';
import type { ClassifyReply } from './worker-protocol.js';
import type { Db } from '../store/database.js';
import { storageHealth } from '../store/storage-health.js';
import { DEFAULT_IMAGE_MODEL, MODEL_FOLDER_PREFIX, type ImageModelEntry } from './model-catalog.js';
import { inputPlacement } from './preprocess.js';
import { JSON_CONTENT_TYPE, sendJson } from '../http/respond.js';
import { newEventId } from '../platform/ids.js';
import { eventSeed } from '../bandit/random/seeded-rng.js';

/** Upper bounds on per-request work: each glimpse and each rollout costs a pass through the network. */
export const MAX_GLIMPSES = 32;
export const MAX_SAMPLES = 32;
const MODEL_NAME = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

/** Printable ASCII without spaces, as for /decide. */
const EVENT_ID = '^[!-~]+$';

export function classifyQuerySchema(maxIdLength: number) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      eventId: { type: 'string', minLength: 1, maxLength: maxIdLength, pattern: EVENT_ID, description: 'Client-chosen event id (a UUID is generated when absent); reusing one is a 409.' },
      model: { type: 'string', pattern: MODEL_NAME, default: DEFAULT_IMAGE_MODEL, description: `Image model (default ${DEFAULT_IMAGE_MODEL}); see GET /image-models.` },
      glimpses: { type: 'integer', minimum: 1, maximum: MAX_GLIMPSES, description: 'Glimpses to take (default: the model\'s own).' },
      samples: { type: 'integer', minimum: 1, maximum: MAX_SAMPLES, default: 1, description: 'Monte-Carlo rollouts averaged (1: the deterministic location means).' },
      render: { type: 'string', enum: ['png', 'json'], description: 'png: answer with the input and the glimpses drawn on it (like Accept: image/png).' },
      input: { type: 'boolean', default: false, description: 'Also answer with the model\'s input (the preprocessed image the glimpses\' coordinates refer to), as `input`.' },
    },
  } as const;
}

type ClassifyQuery = FromSchema<ReturnType<typeof classifyQuerySchema>>;

const glimpseSchema = {
  type: 'object', required: ['step', 'x', 'y', 'sizes'],
  properties: {
    step: { type: 'integer', minimum: 1 },
    x: { type: 'number', description: 'Glimpse centre, -1 (left) to 1 (right).' },
    y: { type: 'number', description: 'Glimpse centre, -1 (top) to 1 (bottom).' },
    sizes: { type: 'array', items: { type: 'integer' }, description: 'Patch sides in pixels of the model\'s input.' },
  },
} as const;

export const classificationSchema = {
  type: 'object',
  required: ['eventId', 'model', 'label', 'confidence', 'probabilities', 'glimpses', 'latencyMs'],
  properties: {
    eventId: { type: 'string', description: 'Send feedback for this classification to POST /reward with {eventId, label}.' },
    model: { type: 'string' },
    label: { type: 'string' },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    probabilities: { type: 'object', additionalProperties: { type: 'number' }, description: 'Keyed by class label; they sum to 1.' },
    glimpses: { type: 'array', items: glimpseSchema },
    latencyMs: { type: 'number', description: 'Preprocessing and inference time.' },
    input: {
      type: 'object', required: ['size', 'pixels'], additionalProperties: false, description: 'With ?input=true: the model\'s input.',
      properties: {
        size: { type: 'integer', description: 'Side of the square input in pixels.' },
        pixels: { type: 'string', description: 'Base64 of size × size grey bytes (0 black … 255 white ink), row by row.' },
      },
    },
  },
} as const;

export interface ClassifyDeps {
  models: Map<string, ImageModelEntry>;
  pool: ImagePool;
  store: ImageStore;
  writer: ImageWriter;
  metrics: ImageMetrics;
  logger: Logger;
  limits: Limits;
  modelsDir: string;
  /** The database, whose storage health hears of a log write that failed for lack of space. */
  db: Db;
}

/** The stream of an event's sampled rollouts (eventSeed): seeded from the event id, so they can be replayed. */
export const ROLLOUT_STREAM = 0x7011;

function duplicate(eventId: string): ConflictError {
  return new ConflictError(`eventId "${eventId}" is already in use`, { eventId });
}

function findModel(models: Map<string, ImageModelEntry>, name: string, modelsDir: string): ImageModelEntry {
  const entry = models.get(name);
  if (entry) return entry;
  const available = [...models.keys()];
  throw new NotFoundError(`No image model "${name}" is loaded (it would be the folder ${MODEL_FOLDER_PREFIX}${name} in FOCAL_MODELS_DIR ${modelsDir}); `
    + (available.length ? `available: ${available.join(', ')}` : 'no image model is loaded at all'));
}

export function classifyRoutes(deps: ClassifyDeps): AnyRoute[] {
  const { models, pool, store, writer, metrics, limits } = deps;
  // An unknown model or a reused event id is refused before the upload is read.
  const refuseEarly: RequestHandler = (req, _res, next) => {
    const { model, eventId } = req.query;
    findModel(models, typeof model === 'string' ? model : DEFAULT_IMAGE_MODEL, deps.modelsDir);
    if (typeof eventId === 'string' && store.hasEvent(eventId)) throw duplicate(eventId);
    next();
  };

  return [
    route<unknown, ClassifyQuery>({
      method: 'post', path: '/classify-image', tags: ['images'], summary: 'Classify an image with a recurrent attention model',
      description: 'The image as raw bytes (image/png, jpeg, webp, gif, tiff, avif), a multipart file field `image`, or JSON '
        + '{"image": "<base64>"}. It is normalised like MNIST (grey, light background inverted, lighting evened out), then for a 28×28 '
        + 'model cropped to the ink, fitted to 20 px and centred by mass; a model with a larger canvas (translated, cluttered) reads '
        + 'the whole picture at its canvas resolution, digits where they are (pixel for pixel when the upload has that size, scaled '
        + 'down to fit when larger). It is then classified and logged as an event for feedback through POST /reward. '
        + 'With Accept: image/png or ?render=png the answer is a PNG of the input with each glimpse drawn and numbered '
        + '(the event id in the X-Focal-Event-Id header).',
      query: classifyQuerySchema(limits.stringLength),
      rawRequestBody: imageRequestBody,
      middleware: [refuseEarly, readImageBody(limits.imageBytes)],
      responses: {
        200: { description: 'The classification (or, rendered, image/png)', schema: classificationSchema },
        400: { description: 'Invalid query, malformed multipart or JSON, or an empty image' },
        404: { description: 'Unknown model' },
        409: { description: 'The eventId is already in use' },
        413: { description: 'Over FOCAL_MAX_IMAGE_BYTES or FOCAL_MAX_IMAGE_PIXELS' },
        415: { description: 'Unsupported media type' },
        422: { description: 'The bytes do not decode as an image' },
        503: { description: 'Every image worker is busy and FOCAL_IMAGE_QUEUE classifications are waiting, or the worker handling it stopped (with Retry-After)' },
      },
      handler: async ({ query, req, res }) => {
        const entry = findModel(models, query.model, deps.modelsDir);
        const upload = res.locals.image as ImageUpload;
        const config = entry.config;
        const glimpses = query.glimpses ?? config.glimpses;
        const eventId = query.eventId ?? newEventId();
        const wantsPng = query.render === 'png' || (query.render === undefined && req.accepts(['application/json', 'image/png']) === 'image/png');
        // Decoding, preprocessing, inference, the PNG and the durable log entry all happen on an image worker (image-pool.ts).
        let result: ClassifyReply;
        try {
          result = await pool.classify({
            op: 'classify', model: entry.name, eventId, bytes: upload.bytes, maxPixels: limits.imagePixels, glimpses, samples: query.samples,
            seed: eventSeed(eventId, ROLLOUT_STREAM), render: wantsPng, form: upload.form, modelUpdates: entry.learner.updates, input: query.input,
          });
        } catch (err) {
          // The worker's log write failed for lack of space: the store's health hears of it (503, /readyz).
          storageHealth(deps.db)?.failed(err);
          throw err;
        }
        // Durable before answering, with the input as the model saw it, so feedback can teach it after a restart: the worker
        // logged it already, unless the database is in memory (no other thread can open it), where it comes back to be logged here.
        if (result.payload !== undefined) {
          const logged = await writer.submit({ op: 'classification', eventId, model: entry.name, createdAt: Date.now(), payload: result.payload });
          if (!logged.ok) throw duplicate(eventId);
        }
        metrics.classificationSeconds.observe({ model: entry.name }, result.latencyMs / 1000);
        metrics.classifications.inc({ model: entry.name, label: result.label });

        res.vary('Accept');
        if (wantsPng && result.png) {
          res.status(200).type('image/png')
            .set({ 'X-Focal-Event-Id': eventId, 'X-Focal-Label': result.label, 'X-Focal-Confidence': result.confidence.toFixed(6) })
            .send(Buffer.from(result.png.buffer, result.png.byteOffset, result.png.byteLength));
          return;
        }
        // The worker wrote the JSON (classificationSchema, with the input when asked): no serialisation on the event loop.
        const body = result.body;
        res.writeHead(200, ['Content-Type', JSON_CONTENT_TYPE, 'Content-Length', String(Buffer.byteLength(body))]);
        res.end(body);
      },
    }),
    route({
      method: 'get', path: '/image-models', tags: ['images'], summary: 'The image models served',
      responses: {
        200: {
          description: 'One entry per loaded model',
          schema: {
            type: 'object',
            properties: {
              models: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string', description: 'The ?model= value of POST /classify-image.' },
                    classes: { type: 'array', items: { type: 'string' } },
                    imageSize: { type: 'integer', description: 'Side of the model\'s square input in pixels: 28 for a digit model (`input: digit`, MNIST\'s size); a canvas model\'s canvas, for example 60 or 100.' },
                    input: { type: 'string', enum: ['digit', 'canvas'], description: 'digit: the upload is cropped to the ink and centred in the input (MNIST); canvas: the whole upload is read at imageSize, digits where they are.' },
                    glimpses: { type: 'integer' },
                    patchSize: { type: 'integer' },
                    scales: { type: 'integer' },
                    shifts: { type: 'integer', description: 'The deterministic reading (samples=1) averages the probabilities over this many one-pixel shifts of the input (1: read once; mnist-conv: 5).' },
                    onlineUpdates: { type: 'integer' },
                    snapshotVersion: { type: 'integer' },
                  },
                },
              },
            },
          },
        },
      },
      handler: ({ res }) => {
        sendJson(res, {
          models: [...models.values()].map((e) => ({
            name: e.name, classes: e.config.classes, imageSize: e.config.imageSize, input: inputPlacement(e.config),
            glimpses: e.config.glimpses,
            patchSize: e.config.patchSize, scales: e.config.scales, shifts: e.config.shifts ?? 1,
            onlineUpdates: e.learner.updates, snapshotVersion: e.learner.snapshotVersion,
          })),
        });
      },
    }),
  ];
}
