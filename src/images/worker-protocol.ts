import type { RamConfig } from '../attention/index.js';
import type { TfBackendPreference } from '../platform/config.js';
import type { ConnectionOptions } from '../store/database.js';
import type { ImageForm } from './image-body.js';

/**
 * Messages between the main thread (image-pool.ts) and an image worker
 * (image-worker.ts). Plain data only: everything crosses a thread by
 * structured clone, large buffers by transfer.
 */

/** Where a worker reads a model: candidate folders in order of preference (latest snapshot first, the shipped folder last). */
export interface ModelSource {
  name: string;
  candidates: string[];
  /** Weights learned online since, applied over the folder (a replacement worker catches up with the learner). */
  weights?: WireWeights;
}

export interface WorkerInit {
  index: number;
  tfBackend: TfBackendPreference;
  /** Nice value of the worker's thread (FOCAL_IMAGE_NICE). */
  nice: number;
  models: ModelSource[];
  /**
   * The database file the worker logs its classifications to, on a connection of its own (event-writer.ts:
   * WorkerEventLog); absent for an in-memory database, which another thread cannot open: the main thread's
   * ImageWriter logs them then.
   */
  log?: { path: string; connection: ConnectionOptions };
}

/** Every parameter of a model in one buffer: names and shapes say how it is cut. */
export interface WireWeights {
  names: string[];
  shapes: number[][];
  values: Float32Array;
}

export interface ClassifyTask {
  op: 'classify';
  model: string;
  /** The event id, for the JSON answer the worker writes. */
  eventId: string;
  bytes: Uint8Array;
  maxPixels: number;
  glimpses: number;
  samples: number;
  seed: number;
  render: boolean;
  /** For the logged payload: how the image came and how many online updates the served weights hold. */
  form: ImageForm;
  modelUpdates: number;
  /** Add the model's input to the answer (?input=true). */
  input: boolean;
}

/**
 * A classification as the main thread needs it: strings and scalars, cheap to pass between threads (a
 * structured clone of the probabilities and glimpses as objects cost more than the rest of the message).
 */
export interface ClassifyReply {
  label: string;
  confidence: number;
  /** Preprocessing and inference time inside the worker. */
  latencyMs: number;
  /**
   * The ImageEventPayload as JSON (its probabilities, glimpses, predicted class), for the main thread to log:
   * only when the worker has no log of its own (WorkerInit.log). Otherwise the event is durable in the log
   * before this reply is sent, and the payload never crosses threads.
   */
  payload?: string;
  /** The JSON answer of POST /classify-image (the classification schema of classify-route.ts), ready to send. */
  body: string;
  png?: Uint8Array;
  /** Which worker classified (set by the pool). */
  worker?: number;
}

export interface LearnTask {
  op: 'learn';
  model: string;
  batch: { pixels: Float32Array; label: number }[];
  learningRate: number;
}

export interface LearnReply {
  loss: number;
  weights: WireWeights;
}

export type Task =
  | ClassifyTask
  | LearnTask
  | { op: 'weights'; model: string; weights: WireWeights }
  | { op: 'save'; model: string; dir: string };

export type ToWorker = { id: number; task: Task };

/** An error crossing the thread boundary; HttpErrors (413, 422) keep their problem fields. */
export interface WireError {
  message: string;
  /** SQLite's error code (SQLITE_FULL: the main thread answers 503 and reports the full disk). */
  code?: string;
  http?: { status: number; type: string; title: string; extra: Record<string, unknown> };
}

export type FromWorker =
  | { kind: 'ready'; models: ({ name: string; config: RamConfig; loaded: number } | { name: string; error: string })[]; tensors: number; warnings: string[] }
  | { kind: 'reply'; id: number; ok: true; value: unknown; tensors: number }
  | { kind: 'reply'; id: number; ok: false; error: WireError; tensors: number };
