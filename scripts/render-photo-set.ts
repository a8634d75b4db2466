/**
 * Photograph-like pictures of MNIST training digits, as the service sees them, for training on the served
 * distribution (`npm run train:ram -- --photo-set DIR`):
 *
 *   npm run render:photos -- [--count 60000] [--seed 3] [--out data/photo-train-s3]
 *
 * Picture i is training digit i drawn by `scripts/lib/photo-digits.ts` (paper, light, pen, stroke width,
 * rotation, size, placement, blur, noise, JPEG or PNG; seed `--seed`, which must differ from eval:photos' seeds
 * 1 and 2), then read back by the service's own preprocessing (`src/images/preprocess.ts`) into the 28×28 input
 * the model gets. The result is written as MNIST idx files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`)
 * so `readMnist('train', DIR)` reads it, and picture i keeps digit i's place: the trainer uses only the pictures
 * of its training digits, never those of its validation split. Rendering is the slow part (tens of ms a picture):
 * the files are rewritten every 500 pictures and a new run continues where they end. `--workers N` renders on N
 * threads (a core each; default 1, so a render beside a training run takes one core), with the same pictures. The thin pen
 * (`--thin-pen`, default `line`; see ThinPen in scripts/lib/photo-digits.ts) and the stroke filter
 * (`--stroke-filter`, default `grey`; StrokeFilter) are recorded in `renderer.json` with the preprocessing's ink
 * calibration (`--calibrate-ink on|off`, default on; models/README.md rule 13), and a folder is only continued with
 * the settings it was started with (a folder without the file was drawn with `erode`, one without a filter in it
 * with `bitwise`, one without the calibration in it read without it).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { siblingWorker } from '../src/platform/worker-thread.js';
import { mnistFiles, readMnist, writeMnist } from '../src/attention/mnist-dataset.js';
import {
  DEFAULT_STROKE_FILTER, DEFAULT_THIN_PEN, parseStrokeFilter, parseThinPen, STROKE_FILTERS, THIN_PENS, type Pen,
} from './lib/photo-digits.js';
import { renderPicture, SIDE, type PhotoSetSettings, type RenderChunk, type RenderedChunk } from './lib/photo-set-render.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '60000' },
    seed: { type: 'string', default: '3' },
    out: { type: 'string' },
    'thin-pen': { type: 'string', default: DEFAULT_THIN_PEN },
    'stroke-filter': { type: 'string', default: DEFAULT_STROKE_FILTER },
    'calibrate-ink': { type: 'string', default: 'on' },
    workers: { type: 'string', default: '1' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(`npm run render:photos -- [--count 60000] [--seed 3 (not 1 or 2: eval:photos uses those)] [--out data/photo-train-s<seed>] [--thin-pen ${THIN_PENS.join('|')} (default ${DEFAULT_THIN_PEN})] [--stroke-filter ${STROKE_FILTERS.join('|')} (default ${DEFAULT_STROKE_FILTER})] [--calibrate-ink on|off (the preprocessing's calibrateInk; default on)] [--workers N (threads rendering, default 1; the same pictures whatever N)]`);
  process.exit(0);
}

// Every refusal comes before MNIST is read: fast, and on Node 24 a process that stops on an error while V8 is still
// compiling the hot loops of that read can hang at exit instead (nodejs/node#54918; about one run in four here).
const seed = Number(values.seed);
const asked = Number(values.count);
if (!Number.isInteger(seed) || seed === 1 || seed === 2) throw new Error(`--seed must be an integer other than 1 and 2 (eval:photos' sets), got ${values.seed}`);
if (!Number.isInteger(asked) || asked < 1) throw new Error(`--count must be a positive integer, got ${values.count}`);
const pen: Pen = { thin: parseThinPen(values['thin-pen']), filter: parseStrokeFilter(values['stroke-filter']) };
if (values['calibrate-ink'] !== 'on' && values['calibrate-ink'] !== 'off') throw new Error(`--calibrate-ink is on or off, not ${values['calibrate-ink']}`);
const calibrateInk = values['calibrate-ink'] === 'on';
const workers = Number(values.workers);
if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new Error(`--workers must be an integer from 1 to 64, got ${values.workers}`);
const out = values.out ?? `data/photo-train-s${seed}`;
const files = mnistFiles('train', out);

const rendererFile = join(out, 'renderer.json');
const continuing = existsSync(files.images) && existsSync(files.labels);
if (continuing) {
  const recorded = existsSync(rendererFile) ? (JSON.parse(readFileSync(rendererFile, 'utf8')) as { thinPen?: string; strokeFilter?: string; calibrateInk?: boolean }) : {};
  // What a folder written before each setting was recorded was drawn and read with.
  const thin = recorded.thinPen ?? 'erode';
  const filter = recorded.strokeFilter ?? 'bitwise';
  const calibrated = recorded.calibrateInk ?? false;
  if (thin !== pen.thin || filter !== pen.filter || calibrated !== calibrateInk) {
    const was = `the thin pen '${thin}', the stroke filter '${filter}' and the ink calibration ${calibrated ? 'on' : 'off'}`;
    const now = `'${pen.thin}', '${pen.filter}' and ${calibrateInk ? 'on' : 'off'}`;
    throw new Error(`${out} was drawn with ${was}, not ${now}: give --thin-pen ${thin} --stroke-filter ${filter} --calibrate-ink ${calibrated ? 'on' : 'off'} to continue it, or a new --out`);
  }
}

const train = readMnist('train');
const count = Math.min(asked, train.count);
mkdirSync(out, { recursive: true });
const images = new Uint8Array(count * SIDE * SIDE);
const labels = new Uint8Array(count);
let done = 0;
if (continuing) {
  const previous = readMnist('train', out);
  done = Math.min(previous.count, count);
  images.set(previous.images.subarray(0, done * SIDE * SIDE));
  labels.set(previous.labels.subarray(0, done));
  console.log(`continuing after ${done} pictures in ${out}`);
}
writeFileSync(rendererFile, `${JSON.stringify({ seed, thinPen: pen.thin, strokeFilter: pen.filter, calibrateInk }, null, 2)}\n`);

/** Writes the first `n` pictures as idx files (writeMnist: a kill never leaves half a file). */
const save = (n: number): void => writeMnist('train', out, { images, labels, count: n, side: SIDE });

const settings: PhotoSetSettings = { seed, pen, calibrateInk };
const start = performance.now();
const first = done;
/** Pictures [0, to) are rendered: saved on each 500th and at the end, with the rate. */
const advance = (to: number): void => {
  const before = done;
  done = to;
  if (Math.floor(done / 500) > Math.floor(before / 500) || done === count) {
    save(done);
    const rate = (done - first) / ((performance.now() - start) / 1000);
    console.log(`${done}/${count} pictures (${(rate).toFixed(1)}/s, ${((count - done) / rate / 60).toFixed(0)} min left)`);
  }
};

/**
 * Renders the rest on `n` worker threads (scripts/lib/photo-set-worker.ts), CHUNK pictures at a time. Chunks come
 * back in any order; the files are saved as the pictures rendered in order from `done` grow, so a stopped run
 * continues from the last save as a one-thread run would, with the same pictures (renderPicture depends on i alone).
 */
async function renderInWorkers(n: number): Promise<void> {
  const CHUNK = 50;
  const finished = new Map<number, number>();
  let next = done;
  const pool = Array.from({ length: n }, (_, k) => siblingWorker(import.meta.url, 'lib/photo-set-worker', { workerData: settings, name: `render worker ${k}` }));
  try {
    await Promise.all(pool.map((worker) => new Promise<void>((resolve, reject) => {
      const give = (): void => {
        if (next >= count) { resolve(); return; }
        const from = next;
        next = Math.min(count, from + CHUNK);
        worker.postMessage({ from, to: next } satisfies RenderChunk);
      };
      worker.on('message', (reply: RenderedChunk) => {
        if ('error' in reply) { reject(new Error(`render worker: ${reply.error}`)); return; }
        images.set(reply.images, reply.from * SIDE * SIDE);
        labels.set(reply.labels, reply.from);
        finished.set(reply.from, reply.to);
        for (let to = finished.get(done); to !== undefined; to = finished.get(done)) {
          finished.delete(done);
          advance(to);
        }
        give();
      });
      worker.on('error', reject);
      // After resolve() this changes nothing: the pool is terminated below.
      worker.on('exit', (code) => reject(new Error(`render worker exited with code ${code}`)));
      give();
    })));
  } finally {
    await Promise.all(pool.map((worker) => worker.terminate()));
  }
}

if (workers === 1) {
  for (let i = done; i < count; i++) {
    labels[i] = await renderPicture(train, i, settings, images, i);
    advance(i + 1);
  }
} else if (done < count) {
  console.log(`rendering pictures ${done + 1}–${count} on ${workers} worker threads`);
  await renderInWorkers(workers);
}
save(done);
console.log(`${done} pictures of training digits (seed ${seed}) in ${out}`);
