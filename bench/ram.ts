/**
 * RAM benchmark (npm run bench:ram). Prints, for each shipped model (every models/ram-*
 * folder, or the one given with --model DIR):
 *   1. Test error on its 10,000-image test set (MNIST, or translated/cluttered from a fixed seed); a model
 *      with config.shifts also as served, its probabilities averaged over the shifted copies.
 *   2. Single-image latency in-process (classify), p50/p99, on an image of its own task.
 *   3. Cost against input size: RAM from its canvas size S to 2S and 4S (for 28 px also
 *      60, 100, 200) against a small convolutional classifier on the same inputs, in the same
 *      run. A glimpse model reads k·g² pixels per glimpse whatever the image size, so its
 *      cost should stay flat while the CNN's grows with the pixel count.
 *   4. POST /classify-image?model=NAME over HTTP (the app from createApp, loopback), p50/p99,
 *      with a PNG of its own canvas size.
 * Options: --model DIR, --limit N test images, --samples N (also report Monte-Carlo
 * averaged error), --runs N latency runs.
 */
import { readdirSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectTensorBackend } from '../src/platform/tensor-backend.js';
import { renderTestSet, taskOfConfig, testError } from '../src/attention/evaluation.js';
import { createRamModel, loadRamModel, mnistRamConfig, type AttentionModel } from '../src/attention/index.js';
import { Rng } from '../src/attention/rng.js';
import { RamInference } from '../src/attention/inference.js';
import { meanReading, shiftedCopies } from '../src/attention/test-shifts.js';
import { benchArgs } from './lib/cli.js';

const args = benchArgs({
  model: { type: 'string', help: 'one model folder (default: every models/ram-* folder)' },
  limit: { type: 'number', help: 'test images (default: the whole test set)' },
  samples: { type: 'number', default: 0, help: 'also report the error of the mean of N sampled rollouts' },
  runs: { type: 'number', default: 200, help: 'latency runs' },
});

const MODEL_DIRS = args.model !== undefined
  ? [args.model]
  : readdirSync('models', { withFileTypes: true }).filter((d) => d.isDirectory() && d.name.startsWith('ram-')).map((d) => join('models', d.name)).sort();
const RUNS = args.runs;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function timeIt(runs: number, f: () => void): { p50: number; p99: number; mean: number } {
  for (let i = 0; i < Math.min(10, runs); i++) f();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    f();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), mean: times.reduce((a, b) => a + b, 0) / runs };
}

function table(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(headers));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of cells.slice(1)) console.log(line(r));
  console.log('');
}

/** conv3×3(16)+ReLU → maxpool 2 → conv3×3(32)+ReLU → maxpool 2 → flatten → dense(10): a small CNN. */
function smallCnn(size: number): { run: (x: tf.Tensor4D) => tf.Tensor2D; dispose: () => void } {
  const rng = new Rng(3);
  const w = (shape: number[], fanIn: number) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1) / Math.sqrt(fanIn)), shape);
  const k1 = w([3, 3, 1, 16], 9);
  const k2 = w([3, 3, 16, 32], 144);
  const flat = Math.ceil(Math.ceil(size / 2) / 2) ** 2 * 32;
  const dense = w([flat, 10], flat);
  return {
    run: (x) =>
      tf.tidy(() => {
        const h1 = tf.maxPool(tf.relu(tf.conv2d(x, k1 as tf.Tensor4D, 1, 'same')), 2, 2, 'same');
        const h2 = tf.maxPool(tf.relu(tf.conv2d(h1, k2 as tf.Tensor4D, 1, 'same')), 2, 2, 'same');
        return tf.matMul(tf.reshape(h2, [x.shape[0], flat]), dense as tf.Tensor2D);
      }),
    dispose: () => tf.dispose([k1, k2, dense]),
  };
}

async function httpLatency(modelDir: string, model: AttentionModel, digit: Float32Array): Promise<string[] | string> {
  let images: typeof import('../src/images/index.js');
  try {
    images = await import('../src/images/index.js');
  } catch (err) {
    return `src/images is not available (${err instanceof Error ? err.message.split('\n')[0] : String(err)}): no HTTP numbers`;
  }
  const [{ createApp }, { CAPABILITIES }, { defaultConfig }, { createLogger }, { Metrics }, { openDatabase, closeDatabase }, sharp] = await Promise.all([
    import('../src/app.js'),
    import('../src/capabilities.js'),
    import('../src/platform/config.js'),
    import('../src/platform/logger.js'),
    import('../src/platform/metrics.js'),
    import('../src/store/database.js'),
    import('sharp'),
  ]);
  void images;
  const root = await mkdtemp(join(tmpdir(), 'focal-bench-ram-'));
  // A copy of the shipped model under its own name: online feedback never touches models/.
  const folder = modelDir.split('/').filter(Boolean).at(-1)!;
  const name = folder.startsWith('ram-') ? folder.slice(4) : 'mnist';
  await cp(modelDir, join(root, 'models', `ram-${name}`), { recursive: true });
  const config = defaultConfig({ dataDir: join(root, 'data'), modelsDir: join(root, 'models'), logLevel: 'silent' });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(config.dataDir, { recursive: true });
  const db = openDatabase({ path: join(config.dataDir, 'focal.db') });
  const focal = await createApp({ config, db, logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }), backend: 'wasm', capabilities: CAPABILITIES });
  const server = focal.app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const side = model.config.imageSize;
    const raw = Buffer.from(Uint8Array.from(digit, (v) => Math.round(v * 255)));
    const png = await sharp.default(raw, { raw: { width: side, height: side, channels: 1 } }).png().toBuffer();
    const post = async (): Promise<number> => {
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/classify-image?model=${name}`, { method: 'POST', headers: { 'content-type': 'image/png', ...(config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {}) }, body: png });
      const body = (await res.json()) as { label?: string };
      if (res.status !== 200) throw new Error(`POST /classify-image → ${res.status} ${JSON.stringify(body)}`);
      return performance.now() - t;
    };
    for (let i = 0; i < 10; i++) await post();
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) times.push(await post());
    times.sort((a, b) => a - b);
    const inProcess = timeIt(RUNS, () => model.classify(digit));
    return [`${percentile(times, 50).toFixed(2)}`, `${percentile(times, 99).toFixed(2)}`, `${inProcess.p50.toFixed(2)}`, `${side}×${side} PNG of ${png.length} B, sequential, one connection`];
  } catch (err) {
    return `POST /classify-image failed: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    server.close();
    await focal.close();
    closeDatabase(db);
    await rm(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const backend = await selectTensorBackend();
  console.log(`# RAM benchmark — backend ${backend.backend}, node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores)\n`);
  for (const dir of MODEL_DIRS) await benchModel(dir);
  console.log(`tensors still allocated: ${tf.memory().numTensors}`);
}

async function benchModel(MODEL_DIR: string): Promise<void> {
  console.log(`# ${MODEL_DIR}\n`);
  const model = await loadRamModel(MODEL_DIR);
  const c = model.config;

  // 1. Accuracy of the shipped model.
  const limit = args.limit;
  const rows: (string | number)[][] = [];
  const det = testError(model.network, { limit });
  rows.push([`${c.glimpses} glimpses, location means`, `${(det.error * 100).toFixed(2)}%`, `${det.wrong}/${det.count}`, det.seconds.toFixed(1)]);
  // A model served at one-pixel shifts (config.shifts) is also measured as it is served.
  const shifts = c.shifts ?? 1;
  if (shifts > 1) {
    const shifted = testError(model.network, { limit, shifts });
    rows.push([`${c.glimpses} glimpses, location means, ${shifts} one-pixel shifts (as served)`, `${(shifted.error * 100).toFixed(2)}%`, `${shifted.wrong}/${shifted.count}`, shifted.seconds.toFixed(1)]);
  }
  const samples = args.samples;
  if (samples > 1) {
    const mc = testError(model.network, { limit, samples });
    rows.push([`${c.glimpses} glimpses, mean of ${samples} sampled rollouts`, `${(mc.error * 100).toFixed(2)}%`, `${mc.wrong}/${mc.count}`, mc.seconds.toFixed(1)]);
  }
  const paper: Record<string, string> = { mnist: 'paper 1.12% at 6 glimpses, 1.07% at 7; best PyTorch reimplementation 1.21%', translated: 'paper 1.22%, tfRAM 0.94%', cluttered: 'paper 4.04%, tfRAM 2.63%' };
  console.log(`## Test error of ${MODEL_DIR} (${det.task.task} ${det.task.imageSize}×${det.task.imageSize}; ${paper[det.task.task] ?? ''})\n`);
  table(['inference', 'test error', 'wrong', 'seconds'], rows);

  // 2. In-process latency of one image.
  const digit = renderTestSet(taskOfConfig(c), 1).pixels;
  const lat = timeIt(RUNS, () => model.classify(digit));
  const latMc = timeIt(Math.max(20, Math.floor(RUNS / 4)), () => model.classify(digit, { samples: 10, seed: 1 }));
  // The image workers' serving path (RamInference): the same answers with fewer kernels.
  const fast = new RamInference(model.network);
  const fastLat = timeIt(RUNS, () => fast.classifyMany([digit]));
  const fastMc = timeIt(Math.max(20, Math.floor(RUNS / 4)), () => fast.classifySampled(digit, { samples: 10, rng: new Rng(1) }));
  // As an image worker reads a model with config.shifts: the shifted copies in one batch, their readings averaged.
  const copies = shiftedCopies(digit, c.imageSize, shifts);
  const fastShifts = shifts > 1 ? timeIt(RUNS, () => meanReading(fast.classifyMany(copies))) : undefined;
  fast.dispose();
  console.log('## Single-image latency in-process (ms): the tfjs unroll (classify) and the serving path (RamInference)\n');
  table(['mode', 'p50', 'p99', 'mean', 'p50 / unroll samples 1'], [
    ['unroll, deterministic (samples 1)', lat.p50.toFixed(2), lat.p99.toFixed(2), lat.mean.toFixed(2), '1.00'],
    ['unroll, Monte-Carlo (samples 10)', latMc.p50.toFixed(2), latMc.p99.toFixed(2), latMc.mean.toFixed(2), (latMc.p50 / lat.p50).toFixed(2)],
    ['serving path, deterministic (samples 1)', fastLat.p50.toFixed(2), fastLat.p99.toFixed(2), fastLat.mean.toFixed(2), (fastLat.p50 / lat.p50).toFixed(2)],
    ['serving path, Monte-Carlo (samples 10)', fastMc.p50.toFixed(2), fastMc.p99.toFixed(2), fastMc.mean.toFixed(2), (fastMc.p50 / lat.p50).toFixed(2)],
    ...(fastShifts ? [[`serving path, ${shifts} one-pixel shifts (as served)`, fastShifts.p50.toFixed(2), fastShifts.p99.toFixed(2), fastShifts.mean.toFixed(2), (fastShifts.p50 / lat.p50).toFixed(2)]] : []),
  ]);

  // 3. Cost against input size: same architecture, random weights (cost does not depend on them).
  const sizeRows: (string | number)[][] = [];
  let base: { ram: number; cnn: number } | undefined;
  const batch = 32;
  const S = c.imageSize;
  const sizes = [...new Set([S, 2 * S, 4 * S, ...(S === 28 ? [60, 100, 200] : [])])].sort((a, b) => a - b);
  for (const size of sizes) {
    const ram = createRamModel(mnistRamConfig({ ...c, imageSize: size }), 1);
    const cnn = smallCnn(size);
    const rng = new Rng(size);
    const one = Float32Array.from({ length: size * size }, () => rng.next());
    const many = Float32Array.from({ length: batch * size * size }, () => rng.next());
    const ramOne = timeIt(50, () => ram.classify(one)).p50;
    const cnnOne = timeIt(50, () => tf.tidy(() => void cnn.run(tf.tensor4d(one, [1, size, size, 1])).dataSync())).p50;
    const ramBatch = timeIt(10, () => tf.tidy(() => void ram.network.unroll(tf.tensor4d(many, [batch, size, size, 1]), { mode: 'mean' }).logits.dataSync())).p50 / batch;
    const cnnBatch = timeIt(10, () => tf.tidy(() => void cnn.run(tf.tensor4d(many, [batch, size, size, 1])).dataSync())).p50 / batch;
    base ??= { ram: ramBatch, cnn: cnnBatch };
    sizeRows.push([
      `${size}×${size}`,
      ramOne.toFixed(2),
      cnnOne.toFixed(2),
      ramBatch.toFixed(3),
      cnnBatch.toFixed(3),
      `${(ramBatch / base.ram).toFixed(2)}×`,
      `${(cnnBatch / base.cnn).toFixed(2)}×`,
    ]);
    ram.dispose();
    cnn.dispose();
  }
  console.log(`## Cost against input size: RAM (${c.glimpses} glimpses, ${c.scales}×${c.patchSize}²) vs a small CNN (conv16-pool-conv32-pool-dense), ms\n`);
  table(['input', 'RAM 1 image', 'CNN 1 image', `RAM per image (batch ${batch})`, `CNN per image (batch ${batch})`, `RAM vs ${S} px`, `CNN vs ${S} px`], sizeRows);

  // 4. Over HTTP.
  console.log('## POST /classify-image over HTTP (ms)\n');
  const http = await httpLatency(MODEL_DIR, model, digit);
  if (typeof http === 'string') console.log(`${http}\n`);
  else table(['p50', 'p99', 'in-process p50', 'request'], [http]);
  model.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
