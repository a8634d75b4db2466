/**
 * An image worker thread: decodes and preprocesses uploads with sharp, runs
 * the attention models (inference and, on the learner worker, online
 * learning), renders glimpse PNGs and writes weight snapshots, so none of it
 * runs on the event loop that answers /decide. Started by image-pool.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { loadRamModel, type AttentionModel } from '../attention/index.js';
import type { StoredTensor } from '../attention/tensor-file.js';
import { HttpError } from '../http/errors.js';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { renderGlimpses } from './glimpse-render.js';
import { encodePixels, type ImageEventPayload } from './image-store.js';
import { preprocessImage } from './preprocess.js';
import type { ClassifyReply, ClassifyTask, FromWorker, LearnReply, LearnTask, Task, ToWorker, WireError, WireWeights, WorkerInit } from './worker-protocol.js';

const init = workerData as WorkerInit;
const port = parentPort!;
// One libvips thread per operation: the pool's threads are the parallelism, and libvips' own
// threads would only contend with them (and with the main thread) for the same cores.
sharp.concurrency(1);

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

await selectTensorBackend(init.tfBackend);
const models = new Map<string, AttentionModel>();
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

async function classify(t: ClassifyTask): Promise<{ value: ClassifyReply; transfer: ArrayBuffer[] }> {
  const model = modelOf(t.model);
  const config = model.config;
  const bytes = Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const started = performance.now();
  const pre = await preprocessImage(bytes, { maxPixels: t.maxPixels, size: config.imageSize });
  const result = model.classify(pre.pixels, { glimpses: t.glimpses, samples: t.samples, seed: t.seed });
  const latencyMs = performance.now() - started;
  const label = config.classes[result.predicted]!;
  const confidence = result.probabilities[result.predicted]!;
  const probabilities = Object.fromEntries(config.classes.map((c, i) => [c, result.probabilities[i]!]));
  // The input as the model saw it, so feedback can teach it after a restart.
  const payload: ImageEventPayload = {
    imageSize: config.imageSize, pixels: encodePixels(pre.pixels), label, predicted: result.predicted, confidence, probabilities,
    glimpses: result.glimpses, options: { glimpses: t.glimpses, samples: t.samples },
    input: { form: t.form, format: pre.source.format, width: pre.source.width, height: pre.source.height, bytes: t.bytes.byteLength, inverted: pre.inverted },
    modelUpdates: t.modelUpdates,
  };
  const value: ClassifyReply = {
    label, predicted: result.predicted, confidence, probabilities, glimpses: result.glimpses, latencyMs, payload: JSON.stringify(payload),
  };
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
  return { message: err instanceof Error ? err.message : String(err) };
}

port.on('message', ({ id, task }: ToWorker) => {
  run(task).then(
    ({ value, transfer }) => port.postMessage({ kind: 'reply', id, ok: true, value, tensors: tf.memory().numTensors } satisfies FromWorker, transfer),
    (err: unknown) => port.postMessage({ kind: 'reply', id, ok: false, error: wire(err), tensors: tf.memory().numTensors } satisfies FromWorker),
  );
});
