/**
 * How well a served model reads photographs of handwritten digits:
 *   npm run eval:photos -- [MODEL_DIR] [--count 1000] [--seed 1] [--samples 1] [--digits test|validation] [--write DIR]
 *     [--page 3000x2250 --digit 120] [--without zoom|second-look|even-strokes|calibrate-ink]
 * Renders photograph-like pictures of the first COUNT digits of the MNIST test
 * split (scripts/lib/photo-digits.ts: paper, lighting, pen or pencil, stroke width,
 * rotation, size, off-centre, blur, noise, JPEG), sends each through the service's
 * own preprocessing (src/images/preprocess.ts) and the model, and prints the
 * accuracy overall and by condition; for reference, the same digits as clean
 * 28×28 PNGs through the same preprocessing, and straight into the model. --samples N
 * averages N sampled rollouts per picture (the API's ?samples=N); --digits validation draws
 * the digits from the model's own held-out training digits instead of the test split, so
 * that choices (an inference mode, a preprocessing change) can be made without the test set.
 * --page W×H --digit PX draws the same conditions as phone photos: pages of W × H px with a
 * digit field of PX px anywhere on them. --without turns a step of the preprocessing off
 * (comma-separated), to measure what it does; --thin-above A --thin-to T thins strokes that measure over A to T
 * instead of the preprocessing's own limits (models/README.md rule 16). --thin-pen erode draws the thinner-pen pictures as every figure
 * before 2026-12-04 did (an erosion that can erase thin strokes); the default, line, draws a fine pen line
 * over it (scripts/lib/photo-digits.ts, ThinPen). --stroke-filter bitwise changes stroke widths with sharp's
 * erode/dilate (bitwise OR/AND on grey pixels), as every figure before rule 11 of models/README.md did; the default,
 * grey, with the grey max/min (StrokeFilter). The earlier pictures: --thin-pen erode --stroke-filter bitwise.
 * --average-with DIR reads every picture with a second model too (preprocessed once, for the first model's canvas;
 * the second at its location means) and scores the mean of the two models' probabilities: an ensemble of two,
 * compared before serving one (models/README.md rule 24). --shifts 5 (or 9) reads every preprocessed picture as it is
 * and moved by one pixel (zero fill) and scores the mean of the copies' probabilities (models/README.md rule 28); without
 * it a model is read as the service reads it, with its config's shifts (unless --samples or --average-with is given).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { standardError, validationDigits } from '../src/attention/evaluation.js';
import { loadRamModel, type AttentionModel, type RamModel } from '../src/attention/index.js';
import { argMax, meanOf, pairProblem, shiftedProbabilities, shiftsProblem, shiftsToRead } from './lib/ensemble.js';
import { readMnist } from '../src/attention/mnist-dataset.js';
import { inputPlacement, preprocessImage, type PreprocessOptions } from '../src/images/preprocess.js';
import { selectTensorBackend } from '../src/platform/tensor-backend.js';
import {
  DEFAULT_STROKE_FILTER, DEFAULT_THIN_PEN, parseStrokeFilter, parseThinPen, photoDigit, STROKE_FILTERS, THIN_PENS, type Pen, type PhotoParams,
} from './lib/photo-digits.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    count: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    write: { type: 'string' },
    samples: { type: 'string', default: '1' },
    digits: { type: 'string', default: 'test' },
    page: { type: 'string' },
    digit: { type: 'string' },
    without: { type: 'string', default: '' },
    'thin-above': { type: 'string' },
    'thin-to': { type: 'string' },
    'thin-pen': { type: 'string', default: DEFAULT_THIN_PEN },
    'stroke-filter': { type: 'string', default: DEFAULT_STROKE_FILTER },
    'average-with': { type: 'string' },
    shifts: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('npm run eval:photos -- [MODEL_DIR (models/ram-mnist)] [--count 1000] [--seed 1] [--samples 1] [--digits test|validation] [--write DIR (saves the pictures and the misread ones)]\n' +
    '  [--page WxH --digit PX (phone photos: W×H pages, a PX px digit field anywhere on them)] [--without zoom,second-look,even-strokes,calibrate-ink (preprocessing steps off)]\n' +
    '  [--thin-above A --thin-to T (thin a stroke measuring over A to T, in the preprocessing\'s stroke units; default its own)]\n' +
    `  [--thin-pen ${THIN_PENS.join('|')} (how thinner strokes are drawn; default ${DEFAULT_THIN_PEN})]` +
    ` [--stroke-filter ${STROKE_FILTERS.join('|')} (how stroke widths are changed; default ${DEFAULT_STROKE_FILTER})]\n` +
    '  [--average-with DIR (a second model: the mean of both models\' probabilities)] [--shifts 1|5|9 (each picture also read moved one pixel; probabilities averaged; default the model\'s config.shifts)]');
  process.exit(0);
}

const MAX_PIXELS = 25_000_000;

interface Bucket { n: number; right: number }
const buckets = new Map<string, Bucket>();
function tally(key: string, right: boolean): void {
  const b = buckets.get(key) ?? { n: 0, right: 0 };
  b.n++;
  if (right) b.right++;
  buckets.set(key, b);
}

/** The conditions a result is broken down by, each in a few ranges. */
function conditions(p: PhotoParams): string[] {
  const range = (name: string, v: number, cuts: number[], labels: string[]): string => {
    let k = 0;
    while (k < cuts.length && v >= cuts[k]!) k++;
    return `${name} ${labels[k]}`;
  };
  return [
    `format ${p.format}`,
    range('digit size', p.digitSide, [60, 120], ['< 60 px', '60–120 px', '≥ 120 px']),
    range('stroke', p.stroke, [0, 1, 3], ['thinner', 'as drawn', 'thicker', 'much thicker']),
    range('|rotation|', Math.abs(p.angle), [6], ['< 6°', '6–12°']),
    range('blur', p.blur / Math.max(1, p.digitSide / 80), [0.3, 0.8], ['none', 'light', 'strong']),
    range('noise', p.noise, [0.02], ['< 0.02', '≥ 0.02']),
    range('shadow', p.shadow, [0.25], ['< 25%', '≥ 25%']),
    range('ink', Math.max(...p.ink) - Math.min(...p.ink), [40], ['grey/black', 'blue']),
    range('contrast', (p.paper[0] - p.ink[0]) / 255, [0.55], ['low', 'high']),
  ];
}

const STEPS = { zoom: 'zoom', 'second-look': 'secondLook', 'even-strokes': 'evenStrokes', 'calibrate-ink': 'calibrateInk' } as const;
const without = values.without ? values.without.split(',') : [];
for (const step of without) if (!(step in STEPS)) throw new Error(`--without takes ${Object.keys(STEPS).join(', ')}, not ${step}`);
type StepName = (typeof STEPS)[keyof typeof STEPS];
const steps: Partial<Pick<PreprocessOptions, StepName | 'thinStrokes'>> = Object.fromEntries(without.map((step) => [STEPS[step as keyof typeof STEPS], false]));
if (values['thin-above'] !== undefined || values['thin-to'] !== undefined) {
  const [above, to] = [Number(values['thin-above']), Number(values['thin-to'])];
  if (!(Number.isFinite(above) && Number.isFinite(to) && to > 0 && to <= above)) {
    throw new Error(`--thin-above A and --thin-to T go together, with 0 < T ≤ A (got ${values['thin-above']} and ${values['thin-to']})`);
  }
  steps.thinStrokes = { above, to };
}
let page: { width: number; height: number; digitSide: number } | undefined;
if (values.page || values.digit) {
  const m = /^(\d+)x(\d+)$/.exec(values.page ?? '');
  const digitSide = Number(values.digit);
  if (!m || !Number.isInteger(digitSide) || digitSide < 8) throw new Error('--page WIDTHxHEIGHT and --digit PX go together, e.g. --page 3000x2250 --digit 120');
  page = { width: Number(m[1]), height: Number(m[2]), digitSide };
  if (digitSide > Math.min(page.width, page.height)) throw new Error(`a ${digitSide} px digit does not fit a ${values.page} page`);
}

const pen: Pen = { thin: parseThinPen(values['thin-pen']), filter: parseStrokeFilter(values['stroke-filter']) };

const samples = Number(values.samples);
if (!Number.isInteger(samples) || samples < 1) throw new Error(`--samples is a positive integer, not ${values.samples}`);
if (values.digits !== 'test' && values.digits !== 'validation') throw new Error(`--digits is test or validation, not ${values.digits}`);

/** The second model of --average-with, read at its location means. */
let other: AttentionModel | undefined;

/** One-pixel shifts per picture: --shifts, or as the service reads the model (its config's, at the location means). */
let shifts = 1;

/** The class read from `pixels`: the model's, with --average-with the most probable of both models' mean, with --shifts of the copies' mean. */
function classifyPixels(model: RamModel, pixels: Float32Array, seed: number): number {
  if (shifts > 1) return argMax(shiftedProbabilities(model, pixels, shifts));
  const c = model.classify(pixels, { samples, seed });
  return other ? argMax(meanOf(c.probabilities, other.classify(pixels).probabilities)) : c.predicted;
}

/** The predicted class of a picture through the service's preprocessing; sampled rollouts seeded per picture, as the service seeds them per event. */
async function classifyBytes(model: RamModel, bytes: Buffer, seed: number): Promise<number> {
  const c = model.config;
  const pre = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, size: c.imageSize, placement: inputPlacement(c), ...steps });
  return classifyPixels(model, pre.pixels, seed);
}

async function main(): Promise<void> {
  const dir = positionals[0] ?? 'models/ram-mnist';
  const count = Number(values.count);
  const seed = Number(values.seed);
  const backend = await selectTensorBackend();
  const model = await loadRamModel(dir);
  if (values['average-with']) {
    other = await loadRamModel(values['average-with']);
    const problem = pairProblem(dir, model.config, values['average-with'], other.config, values.digits === 'validation');
    if (problem) throw new Error(problem);
  }
  shifts = shiftsToRead(values.shifts, samples, other !== undefined, model.config);
  const shiftProblem = shiftsProblem(shifts, samples, other !== undefined);
  if (shiftProblem) throw new Error(shiftProblem);
  if (model.config.imageSize !== 28) console.warn(`${dir} reads a ${model.config.imageSize}×${model.config.imageSize} canvas; the photographs are whole pages, shrunk to it`);
  // The digits drawn: the test split's first COUNT, or the first COUNT of the model's validation digits.
  let digits = readMnist('test');
  let order = Array.from({ length: digits.count }, (_, i) => i);
  if (values.digits === 'validation') ({ digits, indices: order } = validationDigits(model.config));
  const n = Math.min(count, order.length);
  if (values.write) await mkdir(join(values.write, 'wrong'), { recursive: true });
  const started = performance.now();
  let right = 0, cleanRight = 0, rawRight = 0;
  for (let i = 0; i < n; i++) {
    const index = order[i]!;
    const { bytes, params } = await photoDigit(digits, index, seed, page, pen);
    const predicted = await classifyBytes(model, bytes, i + 1);
    const ok = predicted === params.label;
    if (ok) right++;
    for (const key of conditions(params)) tally(key, ok);
    if (values.write) {
      const name = `${String(i).padStart(5, '0')}-label${params.label}-read${predicted}.${params.format === 'jpeg' ? 'jpg' : 'png'}`;
      await writeFile(join(values.write, ok ? name : join('wrong', name)), bytes);
    }
    // References: the same MNIST digit as a clean 28×28 PNG, through the preprocessing and straight in.
    const digit = digits.images.subarray(index * 784, (index + 1) * 784);
    const png = await sharp(Buffer.from(digit), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
    if ((await classifyBytes(model, png, i + 1)) === params.label) cleanRight++;
    if (model.config.imageSize === 28 && classifyPixels(model, Float32Array.from(digit, (v) => v / 255), i + 1) === params.label) rawRight++;
    if ((i + 1) % 200 === 0) console.log(`  ${i + 1}/${n}: ${((right / (i + 1)) * 100).toFixed(2)}% right so far`);
  }
  const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(2)}%`;
  const what = `${n} photograph-like pictures of ${values.digits} digits (seed ${seed})${page ? ` on ${page.width}×${page.height} pages, the digit ${page.digitSide} px` : ''}` +
    `${samples > 1 ? `, mean of ${samples} sampled rollouts each` : ''}${without.length ? `, without ${without.join(', ')}` : ''}${steps.thinStrokes ? `, strokes over ${values['thin-above']} thinned to ${values['thin-to']}` : ''}${other ? `, probabilities averaged with ${values['average-with']}'s` : ''}${shifts > 1 ? `, probabilities averaged over ${shifts} one-pixel shifts` : ''}, thin pen ${pen.thin}, stroke filter ${pen.filter}`;
  console.log(`${dir} on ${what} through the service's preprocessing: ${pct(right, n)} right ± ${(standardError(right / n, n) * 100).toFixed(2)}% (${n - right} wrong)`);
  console.log(`  reference, the same digits as clean 28×28 PNGs through the preprocessing: ${pct(cleanRight, n)}`);
  if (model.config.imageSize === 28) console.log(`  reference, the same digits straight into the model (MNIST's own preprocessing): ${pct(rawRight, n)}`);
  console.log('  by condition (accuracy, pictures):');
  for (const [key, b] of [...buckets.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`    ${key.padEnd(28)} ${pct(b.right, b.n).padStart(7)}  ${String(b.n).padStart(5)}`);
  }
  console.log(`  ${((performance.now() - started) / 1000).toFixed(1)} s on ${backend.backend}`);
  model.dispose();
  other?.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
