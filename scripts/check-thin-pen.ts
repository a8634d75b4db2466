/**
 * Does each stroke condition of the photo renderer keep the digit it draws?
 *   npm run check:pen -- [--count 2000] [--model models/ram-mnist]
 * For the first COUNT MNIST training digits that are not among the model's validation digits, the digit's
 * unchanged 4× ink mask (step 1 of scripts/lib/photo-digits.ts), thresholded at half ink, is thinned to its
 * skeleton; a changed mask keeps the digit if at least 90% of those skeleton pixels are still at half ink or
 * more. Prints, per stroke change and thin pen, the share of masks that do not keep their digit (the rule of
 * models/README.md, fifteenth session: a condition erases strokes above 2%) and the mean skeleton coverage.
 * No model reads anything: the check is about the pictures.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { validationDigits } from '../src/attention/evaluation.js';
import { inkSkeleton, strokeMask, strokeMaskSide, THIN_PENS, type ThinPen } from './lib/photo-digits.js';

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
/** The conditions checked: each thinner stroke with each thin pen, each thicker one (where the pen plays no part) once. */
const CONDITIONS: { stroke: number; pen: ThinPen }[] = [-2, -1, 1, 2, 3, 5].flatMap((stroke) =>
  stroke < 0 ? THIN_PENS.map((pen) => ({ stroke, pen })) : [{ stroke, pen: 'erode' as const }]);

const config = JSON.parse(readFileSync(join(values.model, 'config.json'), 'utf8')) as Record<string, unknown>;
const { digits, indices } = validationDigits(config);
const held = new Set(indices);
const chosen: number[] = [];
for (let i = 0; i < digits.count && chosen.length < count; i++) if (!held.has(i)) chosen.push(i);

/** Per condition (CONDITIONS' order): masks that lose their digit, and the sum of their skeleton coverage. */
const tallies = CONDITIONS.map(() => ({ lost: 0, coverage: 0 }));
const big = strokeMaskSide(digits.side);
for (const index of chosen) {
  const drawn = await strokeMask(digits, index, 0, 'erode');
  const skeleton = inkSkeleton(drawn, big);
  let total = 0;
  for (const s of skeleton) total += s;
  if (total === 0) continue;
  for (const [k, { stroke, pen }] of CONDITIONS.entries()) {
    const changed = await strokeMask(digits, index, stroke, pen);
    let covered = 0;
    for (let i = 0; i < skeleton.length; i++) if (skeleton[i] && changed[i]! >= 128) covered++;
    const share = covered / total;
    if (share < KEEPS) tallies[k]!.lost++;
    tallies[k]!.coverage += share;
  }
}
console.log(`${chosen.length} training digits (not among ${values.model}'s ${indices.length} validation digits); a mask keeps its digit if ≥ ${KEEPS * 100}% of the skeleton is at half ink or more`);
console.log('stroke change (px at 4×) | thin pen | masks that lose their digit | mean skeleton coverage | erases strokes (> 2%)');
for (const [k, { stroke, pen }] of CONDITIONS.entries()) {
  const t = tallies[k]!;
  const lost = t.lost / chosen.length;
  console.log(`${String(stroke).padStart(3)} | ${stroke < 0 ? pen : '—'} | ${t.lost} of ${chosen.length} (${(100 * lost).toFixed(2)}%) | ${(100 * t.coverage / chosen.length).toFixed(2)}% | ${lost > ERASES ? 'yes' : 'no'}`);
}
