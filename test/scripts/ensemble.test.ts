import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { argMax, meanOf, pairProblem } from '../../scripts/lib/ensemble.js';
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
