import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { argMax, meanOf } from '../../scripts/lib/ensemble.js';

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
