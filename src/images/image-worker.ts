/**
 * An image worker thread: decodes and preprocesses uploads with sharp, runs
 * the attention models (inference and, on the learner worker, online
 * learning), renders glimpse PNGs and writes weight snapshots, so none of it
 * runs on the event loop that answers /decide. Started by image-pool.ts.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { loadRamModel, type AttentionModel, type Classification } from '../attention/index.js';
import { RamInference } from '../attention/inference.js';
import { meanReading, shiftedCopies } from '../attention/test-shifts.js';
import { Rng } from '../attention/rng.js';
import type { StoredTensor } from '../attention/tensor-file.js';
import { ConflictError, HttpError } from '../http/errors.js';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { WorkerEventLog } from './event-writer.js';
import { renderGlimpses } from './glimpse-render.js';
import { encodePixels, type ImageEventPayload } from './image-store.js';
import { inputPlacement, preprocessImage } from './preprocess.js';
import type { ClassifyReply, ClassifyTask, FromWorker, LearnReply, LearnTask, Task, ToWorker, WireError, WireWeights, WorkerInit } from './worker-protocol.js';

const init = workerData as WorkerInit;
const port = parentPort!;
// One libvips thread per operation: the pool's threads are the parallelism, and libvips' own
// threads would only contend with them (and with the main thread) for the same cores.
sharp.concurrency(1);
// Uploads are never decoded twice: libvips' operation cache would only cost bookkeeping and memory.
sharp.cache(false);
// Image work yields the CPU to the event loop that answers decisions: on Linux a thread has its own nice
// value, so this thread (not the process) runs at a lower priority (FOCAL_IMAGE_NICE). Elsewhere it keeps the default.
if (init.nice > 0) {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), init.nice);
  } catch { /* not Linux, or not allowed: same priority as the event loop */ }
}

/**
 * Classifications ready together are classified together, one pass of the network for up to this many
 * images: on the wasm backend a pass costs about the same for 1 image as for 4 (its many small ops' fixed
 * cost dominates; measured on ram-mnist: ≈ 0.9 ms for one image, ≈ 1.4 ms for four), so under load this
 * multiplies throughput.
 */
const MAX_BATCH = 16;
/**
 * How long a preprocessed image may wait for the others this worker is still decoding, so that they share a
 * pass (and then a commit of the log): a 28×28 upload decodes in about a millisecond, a large photo takes
 * tens, and the images ready by then do not wait for it.
 */
const BATCH_WAIT_MS = 5;

function toStored(w: WireWeights): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  let offset = 0;
  w.names.forEach((name, i) => {
    const shape = w.shapes[i]!;
    const size = shape.reduce((a, b) => a * b, 1);
    out.set(name, { shape, values: w.values.subarray(offset, offset + size) });
    offset += size;
  });
  return out;
}

function weightsOf(model: AttentionModel): WireWeights {
  const entries = model.network.params.entries();
  const values = new Float32Array(entries.reduce((n, [, v]) => n + v.size, 0));
  let offset = 0;
  for (const [, v] of entries) {
    values.set(v.dataSync() as Float32Array, offset);
    offset += v.size;
  }
  return { names: entries.map(([n]) => n), shapes: entries.map(([, v]) => [...v.shape]), values };
}

/** Where this worker logs its classifications (absent: the main thread logs them, from the reply's payload). */
const eventLog = init.log ? new WorkerEventLog(init.log.path, init.log.connection) : undefined;

await selectTensorBackend(init.tfBackend);
const models = new Map<string, AttentionModel>();
/** The serving path of each model (RamInference: the same results with a fifth of the kernels), when its core allows. */
const inference = new Map<string, RamInference>();
const ready: Extract<FromWorker, { kind: 'ready' }> = { kind: 'ready', models: [], tensors: 0, warnings: [] };
for (const source of init.models) {
  let loaded = -1;
  let error = 'no candidate folder';
  for (let i = 0; i < source.candidates.length && loaded < 0; i++) {
    try {
      const model = await loadRamModel(source.candidates[i]!);
      if (source.weights) model.setWeights(toStored(source.weights));
      // The first pass compiles the backend's kernels (hundreds of ms on wasm): paid here, not on a client's request.
      model.classify(new Float32Array(model.config.imageSize ** 2));
      if (RamInference.supports(model.network)) {
        const fast = new RamInference(model.network);
        fast.classifyMany([new Float32Array(model.config.imageSize ** 2)]);
        inference.set(source.name, fast);
      }
      models.set(source.name, model);
      loaded = i;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      ready.warnings.push(`${source.name}: ${source.candidates[i]}: ${error}`);
    }
  }
  ready.models.push(loaded >= 0 ? { name: source.name, config: models.get(source.name)!.config, loaded } : { name: source.name, error });
}
ready.tensors = tf.memory().numTensors;
port.postMessage(ready);

function modelOf(name: string): AttentionModel {
  const model = models.get(name);
  if (!model) throw new Error(`model ${name} is not loaded in this worker`);
  return model;
}

interface Batched { pixels: Float32Array; resolve: (c: Classification) => void; reject: (err: unknown) => void }
const batches = new Map<string, { model: string; glimpses: number; items: Batched[] }>();
/** A flush is scheduled (after this turn's I/O: every preprocessing that finished in it joins). */
let flushing = false;
/** Classifications of this worker still decoding and preprocessing: a batch waits for them (BATCH_WAIT_MS at most). */
let preparing = 0;
let deadline: NodeJS.Timeout | undefined;

function scheduleFlush(): void {
  if (flushing || batches.size === 0) return;
  if (preparing > 0) {
    deadline ??= setTimeout(() => {
      deadline = undefined;
      startFlush();
    }, BATCH_WAIT_MS);
    return;
  }
  startFlush();
}

function startFlush(): void {
  if (flushing || batches.size === 0) return;
  if (deadline) clearTimeout(deadline);
  deadline = undefined;
  flushing = true;
  setImmediate(flush);
}

function batched(model: string, glimpses: number, pixels: Float32Array): Promise<Classification> {
  return new Promise((resolve, reject) => {
    const key = `${model}\0${glimpses}`;
    let batch = batches.get(key);
    if (!batch) batches.set(key, (batch = { model, glimpses, items: [] }));
    batch.items.push({ pixels, resolve, reject });
    scheduleFlush();
  });
}

/** Preprocesses as one of the classifications a batch waits for. */
async function prepared(bytes: Buffer, options: Parameters<typeof preprocessImage>[1]): Promise<Awaited<ReturnType<typeof preprocessImage>>> {
  preparing++;
  try {
    return await preprocessImage(bytes, options);
  } finally {
    preparing--;
    scheduleFlush();
  }
}

function flush(): void {
  flushing = false;
  const ready = [...batches.values()];
  batches.clear();
  for (const { model, glimpses, items } of ready) {
    for (let at = 0; at < items.length; at += MAX_BATCH) {
      const chunk = items.slice(at, at + MAX_BATCH);
      try {
        const pixels = chunk.map((b) => b.pixels);
        const fast = inference.get(model);
        const results = fast ? fast.classifyMany(pixels, glimpses) : modelOf(model).classifyMany(pixels, { glimpses });
        chunk.forEach((b, i) => b.resolve(results[i]!));
      } catch (err) {
        for (const b of chunk) b.reject(err);
      }
    }
  }
}

async function classify(t: ClassifyTask): Promise<{ value: ClassifyReply; transfer: ArrayBuffer[] }> {
  const model = modelOf(t.model);
  const config = model.config;
  const bytes = Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const started = performance.now();
  const pre = await prepared(bytes, { maxPixels: t.maxPixels, size: config.imageSize, placement: inputPlacement(config) });
  // Sampled rollouts are seeded per event, so they run alone (one batch of their rollouts); deterministic ones join a batch,
  // and a model read at one-pixel shifts (config.shifts) sends each shifted copy to it and averages their readings.
  const fast = inference.get(t.model);
  const shifts = t.samples > 1 ? 1 : config.shifts ?? 1;
  const result = t.samples > 1
    ? (fast
      ? fast.classifySampled(pre.pixels, { glimpses: t.glimpses, samples: t.samples, rng: new Rng(t.seed) })
      : model.classify(pre.pixels, { glimpses: t.glimpses, samples: t.samples, seed: t.seed }))
    : shifts > 1
      ? meanReading(await Promise.all(shiftedCopies(pre.pixels, config.imageSize, shifts).map((copy) => batched(t.model, t.glimpses, copy))))
      : await batched(t.model, t.glimpses, pre.pixels);
  const latencyMs = performance.now() - started;
  const label = config.classes[result.predicted]!;
  const confidence = result.probabilities[result.predicted]!;
  const probabilities = Object.fromEntries(config.classes.map((c, i) => [c, result.probabilities[i]!]));
  // The input as the model saw it, so feedback can teach it after a restart.
  const payload: ImageEventPayload = {
    imageSize: config.imageSize, pixels: encodePixels(pre.pixels), label, predicted: result.predicted, confidence, probabilities,
    glimpses: result.glimpses, options: { glimpses: t.glimpses, samples: t.samples, ...(shifts > 1 ? { shifts } : {}) },
    input: { form: t.form, format: pre.source.format, width: pre.source.width, height: pre.source.height, bytes: t.bytes.byteLength, inverted: pre.inverted },
    modelUpdates: t.modelUpdates,
  };
  const logged = JSON.stringify(payload);
  // Durable before the main thread hears of it (and so before the 2xx), with the input as the model saw it.
  if (eventLog) {
    const written = await eventLog.submit({ op: 'classification', eventId: t.eventId, model: t.model, createdAt: Date.now(), payload: logged });
    if (!written.ok) throw new ConflictError(`eventId "${t.eventId}" is already in use`, { eventId: t.eventId });
  }
  // The answer is written here, off the event loop; the main thread sends the text as it is.
  const body = JSON.stringify({
    eventId: t.eventId, model: t.model, label, confidence, probabilities, glimpses: result.glimpses, latencyMs: Math.round(latencyMs * 100) / 100,
    ...(t.input ? { input: { size: config.imageSize, pixels: payload.pixels } } : {}),
  });
  const value: ClassifyReply = { label, confidence, latencyMs, body, ...(eventLog ? {} : { payload: logged }) };
  if (!t.render) return { value, transfer: [] };
  const png = await renderGlimpses(pre.pixels, config.imageSize, result.glimpses);
  const out = new Uint8Array(png.byteLength);
  out.set(png);
  value.png = out;
  return { value, transfer: [out.buffer] };
}

function learn(t: LearnTask): { value: LearnReply; transfer: ArrayBuffer[] } {
  const model = modelOf(t.model);
  const loss = model.learn(t.batch, t.learningRate);
  const weights = weightsOf(model);
  return { value: { loss, weights }, transfer: [weights.values.buffer as ArrayBuffer] };
}

async function run(task: Task): Promise<{ value: unknown; transfer: ArrayBuffer[] }> {
  switch (task.op) {
    case 'classify': return classify(task);
    case 'learn': return learn(task);
    case 'weights':
      modelOf(task.model).setWeights(toStored(task.weights));
      return { value: null, transfer: [] };
    case 'save':
      await modelOf(task.model).save(task.dir);
      return { value: null, transfer: [] };
  }
}

function wire(err: unknown): WireError {
  if (err instanceof HttpError) return { message: err.message, http: { status: err.status, type: err.type, title: err.title, extra: err.extra } };
  const code = (err as { code?: unknown } | undefined)?.code;
  return { message: err instanceof Error ? err.message : String(err), ...(typeof code === 'string' ? { code } : {}) };
}

port.on('message', ({ id, task }: ToWorker) => {
  run(task).then(
    ({ value, transfer }) => port.postMessage({ kind: 'reply', id, ok: true, value, tensors: tf.memory().numTensors } satisfies FromWorker, transfer),
    (err: unknown) => port.postMessage({ kind: 'reply', id, ok: false, error: wire(err), tensors: tf.memory().numTensors } satisfies FromWorker),
  );
});
