/**
 * Does each stroke condition of the photo renderer keep the digit it draws?
 *   npm run check:pen -- [--count 2000] [--model models/ram-mnist]
 * For the first COUNT MNIST training digits that are not among the model's validation digits, the digit's
 * unchanged 4× ink mask (step 1 of scripts/lib/photo-digits.ts), thresholded at half ink, is thinned to its
 * skeleton; a changed mask keeps the digit if at least 90% of those skeleton pixels are still at half ink or
 * more. Prints, per stroke filter, stroke change and thin pen, the share of masks that do not keep their digit
 * (the rule of models/README.md, fifteenth session: a condition erases strokes above 2%), the mean skeleton
 * coverage, and the share that lose a loop: fewer holes of at least one MNIST pixel (16 px at 4×) at half ink
 * than the unchanged mask (rule 11: a thicker stroke closing a loop, or a thinner one cutting it open), and the
 * ink (the sum of the mask's grey levels) against the unchanged mask's.
 * No model reads anything: the check is about the pictures.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { validationDigits } from '../src/attention/evaluation.js';
import { changeStroke, halfInk, inkSkeleton, STROKE_FILTERS, strokeMaskSide, THIN_PENS, upscaledDigit, type Pen } from './lib/photo-digits.js';
import { countHoles } from './lib/skeleton.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    model: { type: 'string', default: 'models/ram-mnist' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('npm run check:pen -- [--count 2000] [--model models/ram-mnist (whose validation digits are left out)]');
  process.exit(0);
}
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a positive integer, got ${values.count}`);

/** The rule's thresholds (models/README.md, fifteenth session). */
const KEEPS = 0.9;
const ERASES = 0.02;
/** Smallest hole counted as a loop: one pixel of the 28×28 digit, at 4×. */
const LOOP_AREA = 16;
/** The conditions checked, per stroke filter: each thinner stroke with each thin pen, each thicker one (where the pen plays no part) once. */
const CONDITIONS: { stroke: number; pen: Pen }[] = STROKE_FILTERS.flatMap((filter) => [-2, -1, 1, 2, 3, 5].flatMap((stroke) =>
  stroke < 0 ? THIN_PENS.map((thin) => ({ stroke, pen: { thin, filter } })) : [{ stroke, pen: { thin: 'erode' as const, filter } }]));

const config = JSON.parse(readFileSync(join(values.model, 'config.json'), 'utf8')) as Record<string, unknown>;
const { digits, indices } = validationDigits(config);
const held = new Set(indices);
const chosen: number[] = [];
for (let i = 0; i < digits.count && chosen.length < count; i++) if (!held.has(i)) chosen.push(i);

/** Per condition (CONDITIONS' order): masks that lose their digit, the sum of their skeleton coverage, masks that lose a loop. */
const tallies = CONDITIONS.map(() => ({ lost: 0, coverage: 0, loops: 0, ink: 0 }));
let drawnInk = 0;
const big = strokeMaskSide(digits.side);
for (const index of chosen) {
  // Upscaled once per digit; every condition changes the same mask.
  const drawn = await upscaledDigit(digits, index);
  const skeleton = inkSkeleton(drawn, big);
  const holes = countHoles(halfInk(drawn), big, big, LOOP_AREA);
  let total = 0;
  for (const s of skeleton) total += s;
  if (total === 0) continue;
  for (const v of drawn) drawnInk += v;
  for (const [k, { stroke, pen }] of CONDITIONS.entries()) {
    const changed = await changeStroke(drawn, big, stroke, pen);
    let covered = 0;
    for (let i = 0; i < skeleton.length; i++) if (skeleton[i] && changed[i]! >= 128) covered++;
    const share = covered / total;
    if (share < KEEPS) tallies[k]!.lost++;
    tallies[k]!.coverage += share;
    if (countHoles(halfInk(changed), big, big, LOOP_AREA) < holes) tallies[k]!.loops++;
    for (const v of changed) tallies[k]!.ink += v;
  }
}
const percent = (n: number): string => `${(100 * n / chosen.length).toFixed(2)}%`;
console.log(`${chosen.length} training digits (not among ${values.model}'s ${indices.length} validation digits); a mask keeps its digit if ≥ ${KEEPS * 100}% of the skeleton is at half ink or more`);
console.log(`stroke filter | stroke change (px at 4×) | thin pen | masks that lose their digit | mean skeleton coverage | masks that lose a loop (holes ≥ ${LOOP_AREA} px) | ink against the drawn mask | erases strokes (> 2%)`);
for (const [k, { stroke, pen }] of CONDITIONS.entries()) {
  const t = tallies[k]!;
  console.log(`${pen.filter} | ${String(stroke).padStart(3)} | ${stroke < 0 ? pen.thin : '—'} | ${t.lost} of ${chosen.length} (${percent(t.lost)}) | ` +
    `${percent(t.coverage)} | ${t.loops} (${percent(t.loops)}) | ${(t.ink / drawnInk).toFixed(3)} | ${t.lost / chosen.length > ERASES ? 'yes' : 'no'}`);
}
