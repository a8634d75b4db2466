import * as workerThreads from 'node:worker_threads';
import type { Worker } from 'node:worker_threads';
import { siblingWorker } from '../platform/worker-thread.js';
import type { RamConfig } from '../attention/index.js';
import { HttpError, ServiceUnavailableError } from '../http/errors.js';
import type { TfBackendPreference } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { ImageMetrics } from './image-metrics.js';
import type { ClassifyReply, ClassifyTask, FromWorker, LearnReply, ModelSource, Task, ToWorker, WireError, WireWeights, WorkerInit } from './worker-protocol.js';

/**
 * The image worker pool: every piece of image work (decode and preprocess,
 * inference, glimpse PNGs, online learning, weight snapshots) runs on one of
 * `size` worker threads (image-worker.ts), never on the event loop that
 * answers /decide.
 *
 * Built on node:worker_threads rather than a pool library such as piscina:
 * what this pool needs beyond "run a task on some thread" is exactly what
 * such libraries do not offer — one worker (index 0) owns online learning
 * and the optimizer state, and after each learning step its new weights are
 * sent to every other worker, in order with their tasks, so a classification
 * dispatched after a learning step finished uses the new weights; a
 * replacement worker starts from the latest weights; live tensors are
 * reported per worker. The task queue itself is small (below).
 *
 * Classifications wait in one bounded queue (`queueLimit`): when it is full
 * the request is refused at once with a 503 and Retry-After, never left to
 * wait without bound. A worker takes at most `DEPTH` classifications at a
 * time (their decoding overlaps and their inference is batched) while the
 * rest wait here, where the queue is bounded. A worker that dies fails its tasks in flight with a 503 and is
 * replaced; a learning step in flight on it is retried once on the replacement.
 */

/**
 * Classifications in flight per worker: several decode at once (sharp runs off the worker's thread) and
 * those ready together are classified in one pass (image-worker.ts batches them).
 */
const DEPTH = 8;
/** A worker that dies before it is ready is restarted after this delay, doubling up to a minute. */
const RESTART_DELAY_MS = 500;
const RESTART_DELAY_MAX_MS = 60_000;
/**
 * The longest a classification waits in the queue for a worker. A healthy pool drains its bounded queue far
 * sooner; this bounds the wait when no worker can run (every one crashing at start-up).
 */
export const MAX_QUEUE_WAIT_MS = 30_000;
/** The longest close() waits for the classifications in flight. */
const CLOSE_WAIT_MS = 10_000;

export interface ImagePoolOptions {
  size: number;
  queueLimit: number;
  tfBackend: TfBackendPreference;
  /** Nice value of the worker threads (Linux). */
  nice: number;
  models: ModelSource[];
  /** The database file the workers log classifications to (WorkerInit.log); absent for an in-memory database. */
  log?: WorkerInit['log'];
  logger: Logger;
  metrics: ImageMetrics;
}

/** A worker stopped while the task ran. */
export class WorkerStoppedError extends ServiceUnavailableError {
  constructor(index: number, why: string) {
    super(`The image worker handling this request stopped (${why}); it has been replaced: retry the request`, 1);
    this.extra.worker = index;
  }
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  classify: boolean;
}

interface Slot {
  index: number;
  worker: Worker;
  ready: boolean;
  /** Stopped on purpose (close) or found dead: no more tasks. */
  gone: boolean;
  classifying: number;
  pending: Map<number, Pending>;
}

interface Waiting {
  task: ClassifyTask;
  resolve: (reply: ClassifyReply) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

export interface LoadedModel {
  name: string;
  config: RamConfig;
  /** Index into the model's candidate folders that loaded. */
  loaded: number;
}

/** Node 21+'s check (Node 20 has none, and copies an untransferable buffer named in a transfer list instead of throwing). */
const isMarkedAsUntransferable = (workerThreads as { isMarkedAsUntransferable?: (value: object) => boolean }).isMarkedAsUntransferable;
function untransferable(buffer: ArrayBufferLike): boolean {
  return isMarkedAsUntransferable?.(buffer) ?? false;
}

function fromWire(err: WireError): Error {
  if (err.http) return new HttpError(err.http.status, err.http.type, err.http.title, err.message, err.http.extra);
  return Object.assign(new Error(err.message), err.code !== undefined ? { code: err.code } : {});
}

export class ImagePool {
  private readonly slots: (Slot | undefined)[];
  private readonly waiting: Waiting[] = [];
  private nextId = 1;
  private closed = false;
  private readonly restartDelay: number[];
  /** The latest weights each model learned online, for workers started after the learning. */
  private readonly latest = new Map<string, WireWeights>();
  /** The folder each model was loaded from by the first worker: every other worker loads the same one. */
  private readonly sources: Map<string, ModelSource>;
  private readonly tensors: number[];
  /** Resolves when the learner worker (index 0) is ready: learning and snapshots wait for it. */
  private learnerReady: Promise<void> = Promise.resolve();

  constructor(private readonly options: ImagePoolOptions) {
    this.slots = Array.from({ length: options.size }, () => undefined);
    this.restartDelay = Array.from({ length: options.size }, () => RESTART_DELAY_MS);
    this.tensors = Array.from({ length: options.size }, () => 0);
    this.sources = new Map(options.models.map((m) => [m.name, m]));
    const { metrics } = options;
    metrics.workerTensors.reset();
    metrics.bindPool(() => ({ waiting: this.waiting.length, live: this.slots.filter((s) => s?.ready && !s.gone).length }));
  }

  get size(): number {
    return this.options.size;
  }

  /** Classifications waiting for a worker (not yet dispatched). */
  get queued(): number {
    return this.waiting.length;
  }

  /** Live TensorFlow.js tensors per worker, as each reported with its last answer. */
  liveTensors(): number[] {
    return [...this.tensors];
  }

  /** The worker threads (tests stop one to check that it is replaced). */
  threads(): (Worker | undefined)[] {
    return this.slots.map((s) => (s && !s.gone ? s.worker : undefined));
  }

  /** Whether worker `index` is running and ready for tasks. */
  isReady(index: number): boolean {
    const slot = this.slots[index];
    return slot !== undefined && slot.ready && !slot.gone;
  }

  /** Classifications in flight on worker `index`. */
  inFlight(index: number): number {
    return this.slots[index]?.classifying ?? 0;
  }

  /**
   * Starts the learner worker alone and reports which models it loaded (and from which candidate folder);
   * the rest start with `startOthers()`, once start-up re-learning has run, from the same folders and weights.
   */
  async startLearner(): Promise<Map<string, LoadedModel | { name: string; error: string }>> {
    const ready = await this.spawn(0);
    const out = new Map<string, LoadedModel | { name: string; error: string }>();
    for (const m of ready.models) {
      out.set(m.name, m);
      const source = this.sources.get(m.name)!;
      if ('error' in m) this.sources.delete(m.name);
      else this.sources.set(m.name, { name: m.name, candidates: [source.candidates[m.loaded]!] });
    }
    return out;
  }

  async startOthers(): Promise<void> {
    await Promise.all(this.slots.map((_, i) => (i === 0 ? undefined : this.spawn(i))));
  }

  private workerInit(index: number): WorkerInit {
    const models = [...this.sources.values()].map((s) => {
      const weights = this.latest.get(s.name);
      return weights ? { ...s, weights } : s;
    });
    return { index, tfBackend: this.options.tfBackend, nice: this.options.nice, models, ...(this.options.log ? { log: this.options.log } : {}) };
  }

  private spawn(index: number): Promise<Extract<FromWorker, { kind: 'ready' }>> {
    const workerData = this.workerInit(index);
    const name = `image worker ${index}`;
    const worker = siblingWorker(import.meta.url, 'image-worker', { workerData, name });
    worker.unref();
    const slot: Slot = { index, worker, ready: false, gone: false, classifying: 0, pending: new Map() };
    this.slots[index] = slot;
    let settled = false;
    // The weights it starts from: a learning step that ends while it starts is sent to it once it is ready.
    const startedWith = new Map(workerData.models.map((m) => [m.name, m.weights]));
    const started = new Promise<Extract<FromWorker, { kind: 'ready' }>>((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if (m.kind === 'ready') {
          slot.ready = true;
          settled = true;
          this.restartDelay[index] = RESTART_DELAY_MS;
          this.report(index, m.tensors);
          for (const w of m.warnings) this.options.logger.warn({ worker: index, warning: w }, 'image worker: a model folder could not be read');
          for (const [model, weights] of this.latest) if (startedWith.get(model) !== weights && this.sources.has(model)) this.sendWeights(slot, model, weights);
          resolve(m);
          this.pump();
          return;
        }
        this.reply(slot, m);
      });
      const died = (why: string) => {
        if (slot.gone) return;
        const wasReady = slot.ready;
        slot.gone = true;
        slot.ready = false;
        const error = new WorkerStoppedError(index, why);
        for (const p of slot.pending.values()) p.reject(error);
        slot.pending.clear();
        slot.classifying = 0;
        this.reference();
        if (!settled) {
          settled = true;
          reject(new Error(`${name} stopped before it was ready: ${why}`));
        }
        if (this.closed) return;
        this.options.metrics.workerRestarts.inc();
        // A worker that dies while starting (a broken install, no memory) is retried with a growing delay, not in a loop.
        const delay = wasReady ? 0 : this.restartDelay[index]!;
        this.restartDelay[index] = Math.min(RESTART_DELAY_MAX_MS, wasReady ? RESTART_DELAY_MS : delay * 2);
        this.options.logger.error({ worker: index, why, restartInMs: delay }, 'image worker stopped; starting a replacement');
        const restart = () => {
          if (this.closed) return;
          this.spawn(index).catch(() => { /* its own death is logged and handled like this one */ });
        };
        if (delay === 0) restart();
        else setTimeout(restart, delay).unref();
        // Waiting classifications go to the other workers, or wait for this one's replacement within the queue's bound.
        this.pump();
      };
      worker.on('error', (err) => died(err.message));
      worker.on('exit', (code) => died(`exit code ${code}`));
    });
    if (index === 0) this.learnerReady = started.then(() => undefined, () => undefined);
    return started;
  }

  private report(index: number, tensors: number): void {
    this.tensors[index] = tensors;
    this.options.metrics.workerTensors.set({ worker: String(index) }, tensors);
  }

  private reply(slot: Slot, m: Extract<FromWorker, { kind: 'reply' }>): void {
    this.report(slot.index, m.tensors);
    const p = slot.pending.get(m.id);
    if (!p) return;
    slot.pending.delete(m.id);
    if (p.classify) slot.classifying--;
    this.reference();
    if (m.ok) p.resolve(m.value);
    else p.reject(fromWire(m.error));
    if (p.classify) this.pump();
  }

  /** Keeps the process alive while a worker has work (scripts and tests exit once everything is answered). */
  private reference(): void {
    for (const s of this.slots) {
      if (!s || s.gone) continue;
      if (s.pending.size > 0) s.worker.ref();
      else s.worker.unref();
    }
  }

  private send<T>(slot: Slot, task: Task, classify: boolean, transfer: ArrayBuffer[] = []): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      // Sent first: a message postMessage refuses (a DataCloneError) rejects this promise, and nothing waits for its reply.
      slot.worker.postMessage({ id, task } satisfies ToWorker, transfer);
      slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, classify });
      if (classify) slot.classifying++;
      slot.worker.ref();
    });
  }

  /** The ready worker with the fewest classifications in flight, if one has room. */
  private idleSlot(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (!s || !s.ready || s.gone || s.classifying >= DEPTH) continue;
      if (!best || s.classifying < best.classifying) best = s;
    }
    return best;
  }

  private pump(): void {
    for (let slot = this.idleSlot(); slot && this.waiting.length > 0; slot = this.idleSlot()) {
      const w = this.waiting.shift()!;
      clearTimeout(w.timer);
      this.dispatch(slot, w.task).then(w.resolve, w.reject);
    }
  }

  private dispatch(slot: Slot, task: ClassifyTask): Promise<ClassifyReply> {
    // An empty upload is refused before it gets here, so no bytes means a buffer already transferred away (detached).
    if (task.bytes.byteLength === 0) return Promise.reject(new Error('The image bytes are empty: was their buffer already transferred to a worker?'));
    // The upload's bytes move to the worker without a copy when they own their buffer (a pooled small Buffer does not)
    // and it may be transferred: Node 21+ throws on an untransferable one (sharp's output, say), where Node 20 copied it.
    const buffer = task.bytes.buffer;
    const own = task.bytes.byteOffset === 0 && task.bytes.byteLength === buffer.byteLength && !(buffer instanceof SharedArrayBuffer)
      && !untransferable(buffer);
    const bytes = own ? task.bytes : new Uint8Array(task.bytes);
    return this.send<ClassifyReply>(slot, { ...task, bytes }, true, [bytes.buffer as ArrayBuffer]).then((reply) => {
      reply.worker = slot.index;
      return reply;
    });
  }

  /**
   * Classifies on the first worker with room, or waits in the bounded queue; a full queue is a 503
   * with Retry-After at once.
   */
  classify(task: ClassifyTask): Promise<ClassifyReply> {
    if (this.closed) return Promise.reject(new ServiceUnavailableError('The image workers are shutting down', 1));
    const slot = this.waiting.length === 0 ? this.idleSlot() : undefined;
    if (slot) return this.dispatch(slot, task);
    if (this.waiting.length >= this.options.queueLimit) {
      this.options.metrics.queueRejections.inc();
      return Promise.reject(new ServiceUnavailableError(
        `Every image worker is busy and ${this.waiting.length} classifications are already waiting (FOCAL_IMAGE_QUEUE=${this.options.queueLimit}): retry shortly`,
        1, { limit: 'FOCAL_IMAGE_QUEUE', max: this.options.queueLimit }));
    }
    return new Promise((resolve, reject) => {
      const waiting: Waiting = {
        task, resolve, reject,
        timer: setTimeout(() => {
          const at = this.waiting.indexOf(waiting);
          if (at < 0) return;
          this.waiting.splice(at, 1);
          reject(new ServiceUnavailableError(`No image worker could take this classification within ${MAX_QUEUE_WAIT_MS / 1000} s (workers are restarting): retry later`, 5));
        }, MAX_QUEUE_WAIT_MS),
      };
      this.waiting.push(waiting);
    });
  }

  private async learner(): Promise<Slot> {
    await this.learnerReady;
    const slot = this.slots[0];
    if (!slot || slot.gone || !slot.ready) throw new ServiceUnavailableError('The image learner worker is not running', 1);
    return slot;
  }

  /**
   * One online learning step on the learner worker; its new weights go to every other worker before
   * anything dispatched afterwards (`publish: false` keeps them until `publish()`, for start-up re-learning).
   * Retried once if the learner dies meanwhile (its replacement starts from the last published weights).
   */
  async learn(model: string, batch: { pixels: Float32Array; label: number }[], learningRate: number, publish = true): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        const slot = await this.learner();
        const reply = await this.send<LearnReply>(slot, { op: 'learn', model, batch, learningRate }, false);
        this.latest.set(model, reply.weights);
        if (publish) this.publish(model);
        return reply.loss;
      } catch (err) {
        if (!(err instanceof WorkerStoppedError) || attempt > 0 || this.closed) throw err;
      }
    }
  }

  /** Sends the latest learned weights of `model` to every worker but the learner. */
  publish(model: string): void {
    const weights = this.latest.get(model);
    if (!weights) return;
    for (const s of this.slots) {
      if (!s || s.index === 0 || s.gone || !s.ready) continue;
      this.sendWeights(s, model, weights);
    }
  }

  private sendWeights(slot: Slot, model: string, weights: WireWeights): void {
    // Not awaited: a worker applies them before any task posted after them (a port delivers in order).
    this.send(slot, { op: 'weights', model, weights }, false).catch((err: unknown) => {
      if (!(err instanceof WorkerStoppedError)) this.options.logger.error({ err, worker: slot.index, model }, 'image worker could not apply new weights');
    });
  }

  /** Writes the learner's current weights of `model` into `dir`. */
  async save(model: string, dir: string): Promise<void> {
    const slot = await this.learner();
    await this.send(slot, { op: 'save', model, dir }, false);
  }

  /**
   * Refuses waiting classifications, lets those in flight finish (CLOSE_WAIT_MS at most: a worker logs a
   * classification before answering it, so one stopped between its commit and its answer would be a durable
   * write answered with a 503), and stops every worker (callers finish learning and snapshots first).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new ServiceUnavailableError('The image workers are shutting down', 1));
    }
    const until = Date.now() + CLOSE_WAIT_MS;
    while (Date.now() < until && this.slots.some((s) => s && !s.gone && s.classifying > 0)) await new Promise((r) => setTimeout(r, 5));
    await Promise.all(this.slots.map(async (s) => {
      if (!s || s.gone) return;
      s.gone = true;
      await s.worker.terminate();
    }));
  }
}
