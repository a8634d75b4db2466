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
 * the files are rewritten every 500 pictures and a new run continues where they end. The thin pen
 * (`--thin-pen`, default `line`; see ThinPen in scripts/lib/photo-digits.ts) and the stroke filter
 * (`--stroke-filter`, default `grey`; StrokeFilter) are recorded in `renderer.json` with the preprocessing's ink
 * calibration (`--calibrate-ink on|off`, default on; models/README.md rule 13), and a folder is only continued with
 * the settings it was started with (a folder without the file was drawn with `erode`, one without a filter in it
 * with `bitwise`, one without the calibration in it read without it).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mnistFiles, readMnist, writeMnist } from '../src/attention/mnist-dataset.js';
import { preprocessImage } from '../src/images/preprocess.js';
import {
  DEFAULT_STROKE_FILTER, DEFAULT_THIN_PEN, parseStrokeFilter, parseThinPen, photoDigit, STROKE_FILTERS, THIN_PENS, type Pen,
} from './lib/photo-digits.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '60000' },
    seed: { type: 'string', default: '3' },
    out: { type: 'string' },
    'thin-pen': { type: 'string', default: DEFAULT_THIN_PEN },
    'stroke-filter': { type: 'string', default: DEFAULT_STROKE_FILTER },
    'calibrate-ink': { type: 'string', default: 'on' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(`npm run render:photos -- [--count 60000] [--seed 3 (not 1 or 2: eval:photos uses those)] [--out data/photo-train-s<seed>] [--thin-pen ${THIN_PENS.join('|')} (default ${DEFAULT_THIN_PEN})] [--stroke-filter ${STROKE_FILTERS.join('|')} (default ${DEFAULT_STROKE_FILTER})] [--calibrate-ink on|off (the preprocessing's calibrateInk; default on)]`);
  process.exit(0);
}

const seed = Number(values.seed);
const train = readMnist('train');
const count = Math.min(Number(values.count), train.count);
if (!Number.isInteger(seed) || seed === 1 || seed === 2) throw new Error(`--seed must be an integer other than 1 and 2 (eval:photos' sets), got ${values.seed}`);
if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a positive integer, got ${values.count}`);
const pen: Pen = { thin: parseThinPen(values['thin-pen']), filter: parseStrokeFilter(values['stroke-filter']) };
if (values['calibrate-ink'] !== 'on' && values['calibrate-ink'] !== 'off') throw new Error(`--calibrate-ink is on or off, not ${values['calibrate-ink']}`);
const calibrateInk = values['calibrate-ink'] === 'on';
const out = values.out ?? `data/photo-train-s${seed}`;
const SIDE = 28;
const MAX_PIXELS = 25_000_000;
const files = mnistFiles('train', out);

mkdirSync(out, { recursive: true });
const images = new Uint8Array(count * SIDE * SIDE);
const labels = new Uint8Array(count);
let done = 0;
const rendererFile = join(out, 'renderer.json');
if (existsSync(files.images) && existsSync(files.labels)) {
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
  const previous = readMnist('train', out);
  done = Math.min(previous.count, count);
  images.set(previous.images.subarray(0, done * SIDE * SIDE));
  labels.set(previous.labels.subarray(0, done));
  console.log(`continuing after ${done} pictures in ${out}`);
}
writeFileSync(rendererFile, `${JSON.stringify({ seed, thinPen: pen.thin, strokeFilter: pen.filter, calibrateInk }, null, 2)}\n`);

/** Writes the first `n` pictures as idx files (writeMnist: a kill never leaves half a file). */
const save = (n: number): void => writeMnist('train', out, { images, labels, count: n, side: SIDE });

const start = performance.now();
const first = done;
for (let i = done; i < count; i++) {
  const { bytes, params } = await photoDigit(train, i, seed, undefined, pen);
  if (params.label !== train.labels[i]) throw new Error(`picture ${i}: label ${params.label}, digit ${train.labels[i]}`);
  const { pixels } = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, calibrateInk });
  if (pixels.length !== SIDE * SIDE) throw new Error(`picture ${i}: preprocessing gave ${pixels.length} values, not ${SIDE * SIDE}`);
  for (let p = 0; p < pixels.length; p++) images[i * SIDE * SIDE + p] = Math.round(Math.min(1, Math.max(0, pixels[p]!)) * 255);
  labels[i] = params.label;
  done = i + 1;
  if (done % 500 === 0 || done === count) {
    save(done);
    const rate = (done - first) / ((performance.now() - start) / 1000);
    console.log(`${done}/${count} pictures (${(rate).toFixed(1)}/s, ${((count - done) / rate / 60).toFixed(0)} min left)`);
  }
}
save(done);
console.log(`${done} pictures of training digits (seed ${seed}) in ${out}`);
