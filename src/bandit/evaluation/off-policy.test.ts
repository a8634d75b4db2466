import assert from 'node:assert/strict';
import { test } from 'node:test';
import { offPolicyEstimate } from './off-policy.js';

test('IPS, SNIPS and effective sample size on a small log', () => {
  const est = offPolicyEstimate([
    { loggedProbability: 0.5, targetProbability: 1, reward: 1 },
    { loggedProbability: 0.5, targetProbability: 0, reward: 1 },
    { loggedProbability: 0.25, targetProbability: 1, reward: 0 },
    { loggedProbability: 1, targetProbability: 1, reward: 0.5 },
  ]);
  // weights 2, 0, 4, 1
  assert.equal(est.n, 4);
  assert.equal(est.ips, (2 * 1 + 0 + 0 + 0.5) / 4);
  assert.equal(est.snips, 2.5 / 7);
  assert.equal(est.effectiveSampleSize, 49 / 21);
  assert.equal(est.dr, undefined);
});

test('on-policy logs: every estimator equals the mean reward and ESS = n', () => {
  const records = [0.2, 0.8, 0.5].map((reward) => ({ loggedProbability: 0.3, targetProbability: 0.3, reward, targetPredicted: 0.5, loggedPredicted: 0.5 }));
  const est = offPolicyEstimate(records);
  assert.ok(Math.abs(est.ips - 0.5) < 1e-12);
  assert.ok(Math.abs(est.snips - 0.5) < 1e-12);
  assert.ok(Math.abs(est.dr! - 0.5) < 1e-12);
  assert.ok(Math.abs(est.effectiveSampleSize - 3) < 1e-12);
});

test('doubly robust: a perfect model gives its value whatever the weights', () => {
  const est = offPolicyEstimate([
    { loggedProbability: 0.1, targetProbability: 0.9, reward: 0.7, targetPredicted: 0.6, loggedPredicted: 0.7 },
    { loggedProbability: 0.9, targetProbability: 0.1, reward: 0.2, targetPredicted: 0.6, loggedPredicted: 0.2 },
  ]);
  assert.ok(Math.abs(est.dr! - 0.6) < 1e-12);
});

test('empty logs and invalid probabilities', () => {
  assert.deepEqual(offPolicyEstimate([]), { n: 0, ips: 0, snips: 0, effectiveSampleSize: 0 });
  assert.throws(() => offPolicyEstimate([{ loggedProbability: 0, targetProbability: 1, reward: 1 }]), RangeError);
});
