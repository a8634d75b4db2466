import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { argMax, meanOf, pairProblem, shiftedProbabilities, shiftsProblem, shiftsToRead } from '../../scripts/lib/ensemble.js';
import { shiftOffsets, shiftPixels } from '../../src/attention/test-shifts.js';
import type { Classification, ClassifyOptions, RamModel } from '../../src/attention/types.js';
import { mnistRamConfig, resolveRamConfig } from '../../src/attention/ram-config.js';

const pmf = fc.array(fc.double({ min: 0.001, max: 1, noNaN: true }), { minLength: 2, maxLength: 12 }).map((w) => {
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / sum);
});

test('meanOf of two probability vectors is one: it sums to 1, and lies between the two at every class', () => {
  fc.assert(fc.property(pmf, pmf, (a, bRaw) => {
    const b = bRaw.length >= a.length ? bRaw.slice(0, a.length) : [...bRaw, ...Array<number>(a.length - bRaw.length).fill(0)];
    const scale = b.reduce((s, v) => s + v, 0);
    const bn = b.map((v) => v / scale);
    const m = meanOf(a, bn);
    assert.ok(Math.abs(m.reduce((s, v) => s + v, 0) - 1) < 1e-9);
    m.forEach((v, k) => assert.ok(v >= Math.min(a[k]!, bn[k]!) - 1e-12 && v <= Math.max(a[k]!, bn[k]!) + 1e-12));
  }));
  assert.deepEqual(meanOf([0.75, 0.25], [0.25, 0.75]), [0.5, 0.5]);
  assert.throws(() => meanOf([1], [0.5, 0.5]), /1 probabilities against 2/);
});

test('argMax: the largest value\'s index, the first of equal ones; the pair can overrule both of its members\' reading only by their mean', () => {
  assert.equal(argMax([0.1, 0.7, 0.2]), 1);
  assert.equal(argMax([0.4, 0.2, 0.4]), 0);
  assert.throws(() => argMax([]), /argMax of no values/);
  // Two confident members that disagree: the pair follows the more confident one.
  assert.equal(argMax(meanOf([0.55, 0.45, 0], [0, 0.9, 0.1])), 1);
  fc.assert(fc.property(fc.array(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 20 }), (v) => {
    const k = argMax(v);
    assert.ok(v.every((x) => x <= v[k]!));
    assert.ok(v.slice(0, k).every((x) => x < v[k]!));
  }));
});

test('pairProblem: two models average only when they read the same task, canvas, placement and classes, and for validation digits the same split', () => {
  const config = (overrides: Record<string, unknown>) => resolveRamConfig(mnistRamConfig({ task: { task: 'mnist', imageSize: 28 }, training: { seed: 1, validation: 500 }, ...overrides }));
  const a = config({});
  assert.equal(pairProblem('A', a, 'B', config({ training: { seed: 2, splitSeed: 1, validation: 500 } }), true), undefined);
  assert.match(pairProblem('A', a, 'B', config({ imageSize: 60, task: { task: 'translated', imageSize: 60 } }), false)!, /--average-with: B reads translated 60×60 \(canvas placement.*, A mnist 28×28 \(digit placement.*cannot be averaged/);
  assert.match(pairProblem('A', a, 'B', config({ classes: ['a', 'b'] }), false)!, /classes a,b/);
  // Another split: refused for validation digits, where the two would read different digits, and not for the test split.
  const other = config({ training: { seed: 2, validation: 500 } });
  assert.match(pairProblem('A', a, 'B', other, true)!, /B was validated on other digits than A/);
  assert.equal(pairProblem('A', a, 'B', other, false), undefined);
});

test('shiftedProbabilities averages what the model reads at each one-pixel shift, in shiftOffsets\' order', () => {
  // A stand-in model whose reading depends on where the ink is: the class is the column of the picture's first inked
  // pixel (of 4), so each shift reads differently and the mean can be checked by hand.
  const seen: Float32Array[] = [];
  const model = {
    config: { imageSize: 4, classes: ['0', '1', '2', '3'] },
    classify(pixels: Float32Array, options?: ClassifyOptions): Classification {
      assert.equal(options?.glimpses, 3);
      seen.push(pixels);
      const first = pixels.findIndex((v) => v > 0);
      const probabilities = [0, 1, 2, 3].map((k) => (k === first % 4 ? 1 : 0));
      return { probabilities, predicted: first % 4, glimpses: [] };
    },
  } as unknown as RamModel;
  const picture = new Float32Array(16);
  picture[5] = 1; // row 1, column 1
  const mean = shiftedProbabilities(model, picture, 5, 3);
  assert.equal(seen.length, 5);
  shiftOffsets(5).forEach(([dx, dy], j) => assert.deepEqual(seen[j], shiftPixels(picture, 4, dx, dy)));
  // Columns read: 1 (as is), 0 (left), 2 (right), 1 (up), 1 (down).
  assert.deepEqual(mean, [0.2, 0.6, 0.2, 0]);
  assert.equal(argMax(mean), 1);
});

test('shiftsProblem refuses a count there is no offsets for, and --shifts with --samples or --average-with', () => {
  assert.equal(shiftsProblem(1, 10, true), undefined);
  assert.equal(shiftsProblem(5, 1, false), undefined);
  assert.equal(shiftsProblem(9, 1, false), undefined);
  assert.match(shiftsProblem(2, 1, false)!, /--shifts: shifts must be one of 1, 5, 9, not 2/);
  assert.match(shiftsProblem(5, 10, false)!, /does not take --samples above 1/);
  assert.match(shiftsProblem(5, 1, true)!, /one at a time/);
});

test('shiftsToRead: --shifts as given, else the model\'s config.shifts, and once with sampled rollouts or a pair', () => {
  const shifted = resolveRamConfig(mnistRamConfig({ shifts: 5 }));
  const once = resolveRamConfig(mnistRamConfig());
  assert.equal(shiftsToRead(undefined, 1, false, shifted), 5);
  assert.equal(shiftsToRead(undefined, 1, false, once), 1);
  assert.equal(shiftsToRead(undefined, 10, false, shifted), 1);
  assert.equal(shiftsToRead(undefined, 1, true, shifted), 1);
  assert.equal(shiftsToRead('1', 1, false, shifted), 1);
  assert.equal(shiftsToRead('9', 1, false, once), 9);
  // A flag that is no count passes through, for shiftsProblem to refuse.
  assert.ok(Number.isNaN(shiftsToRead('x', 1, false, once)));
  assert.match(shiftsProblem(shiftsToRead('x', 1, false, once), 1, false)!, /--shifts: shifts must be one of 1, 5, 9, not NaN/);
});
