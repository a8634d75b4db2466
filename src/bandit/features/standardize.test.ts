/**
 * The linear learner's `standardize` option: the encoder gives each numeric context feature as (x − mean) / sd
 * of the events learned so far; a learner then learns a small variation on a large offset as fast as a centred one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBanditModel, type ActionInput, type BanditModel, type Features } from '../index.js';
import { Xoshiro128 } from '../random/seeded-rng.js';
import { Example } from './example.js';
import { FeatureEncoder, Standardizer } from './feature-encoder.js';

test('Standardizer: running mean and variance (Welford) against the two-pass figures, shrunk by one prior observation', () => {
  const st = new Standardizer();
  const rng = new Xoshiro128(3);
  const xs = Array.from({ length: 5000 }, () => 200 + 10 * (rng.next() + rng.next() + rng.next() - 1.5) * 2);
  for (const x of xs) st.observe(7, x);
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
  const [n, m, m2] = st.stats.get(7)!;
  assert.equal(n, 5000);
  assert.ok(Math.abs(m! - mean) < 1e-9 * mean);
  assert.ok(Math.abs(m2! / n! - variance) < 1e-6 * variance);
  // One standard deviation above the mean reads as 1, but for the prior: its one observation at 0 moves the mean by
  // mean/5001 (0.04 here, 0.004 of an sd of about 10), and a value is clipped at ±5.
  const z = st.transform(7, mean + Math.sqrt(variance));
  assert.ok(Math.abs(z - (1 + mean / 5001 / Math.sqrt(variance))) < 1e-3, `z ${z}`);
  assert.equal(st.transform(7, mean + 100 * Math.sqrt(variance)), 5);
  // An unseen feature passes as it is (within the clip).
  assert.equal(st.transform(8, 0.25), 0.25);
});

test('the encoder standardises numbers only, keeps a 0 as a value, and learns statistics only from learned events', () => {
  const plain = new FeatureEncoder([['context', 'action']]);
  const std = new FeatureEncoder([['context', 'action']], [], true);
  for (const e of [plain, std]) e.encodeContext({ u: { mass: 0, island: 'Biscoe', male: true } });
  // The raw encoder drops the 0 (an absent feature); the standardising one keeps it.
  const features = (e: FeatureEncoder): number => {
    const ex = new Example();
    e.example({ id: 'a' }, ex);
    return ex.n;
  };
  assert.equal(features(std), features(plain) + 2, 'the 0 feature and its crossing with the action');
  // Statistics come from observeContext (what a learned event calls), not from encoding.
  for (let i = 0; i < 100; i++) std.encodeContext({ u: { mass: 4000 + i } });
  assert.equal(std.standardizer!.stats.size, 0);
  for (let i = 0; i < 100; i++) std.observeContext({ u: { mass: 4000 + i } });
  assert.equal(std.standardizer!.stats.size, 1, 'one numeric feature; strings and booleans have no statistics');
});

const ACTIONS: ActionInput[] = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];

/** Penguin-like: three species told apart by small variations of two measurements on large offsets. */
function penguin(rng: Xoshiro128): { context: Features; best: number } {
  const best = Math.floor(rng.next() * 3);
  const noise = (): number => (rng.next() - 0.5) * 4;
  const flipper = 190 + 10 * best + noise();
  const beak = 40 + (best === 1 ? 8 : 0) + noise();
  return { context: { p: { flipper, beak } }, best };
}

function run(model: BanditModel, n: number, tail: number, seed: number): number {
  const rng = new Xoshiro128(seed);
  let total = 0;
  for (let t = 0; t < n; t++) {
    const { context, best } = penguin(rng);
    const eventId = `p-${seed}-${t}`;
    const d = model.decide(context, ACTIONS, eventId);
    const reward = d.chosen === best ? 1 : 0;
    if (t >= n - tail) total += reward;
    model.learn({ context, actions: ACTIONS, chosen: d.chosen, probability: d.probability, reward, eventId });
  }
  return total / tail;
}

test('standardised features: SquareCB learns offset measurements that the raw features leave it guessing', () => {
  const std = run(createBanditModel({ strategy: { name: 'squarecb' }, learner: { name: 'linear', standardize: true } }), 3000, 1000, 1);
  const raw = run(createBanditModel({ strategy: { name: 'squarecb' } }), 3000, 1000, 1);
  // The species are separable to about 0.93 by two thresholds on each measurement (noise ±2 against gaps of 8–10).
  assert.ok(std > 0.8, `standardised: ${std} in the last 1,000 rounds`);
  assert.ok(raw < std - 0.15, `raw ${raw} against standardised ${std}`);
});

test('a standardised model snapshots and replays exactly, statistics included', () => {
  const config = { strategy: { name: 'squarecb' as const }, learner: { name: 'linear' as const, standardize: true } };
  const live = createBanditModel(config);
  const rng = new Xoshiro128(9);
  const log: Parameters<BanditModel['learn']>[0][] = [];
  for (let t = 0; t < 600; t++) {
    const { context, best } = penguin(rng);
    const d = live.decide(context, ACTIONS, `s-${t}`);
    const e = { context, actions: ACTIONS, chosen: d.chosen, probability: d.probability, reward: d.chosen === best ? 1 : 0, eventId: `s-${t}` };
    live.learn(e);
    log.push(e);
  }
  const replayed = createBanditModel(config);
  for (const e of log) replayed.learn(e);
  assert.deepEqual(replayed.snapshot(), live.snapshot());
  const restored = createBanditModel(config, live.snapshot());
  const probe = { p: { flipper: 205, beak: 41 } };
  assert.deepEqual(restored.decide(probe, ACTIONS, 'probe'), live.decide(probe, ACTIONS, 'probe'));
  assert.deepEqual(restored.snapshot(), live.snapshot());
  // The statistics are in the snapshot: a model without them decides otherwise.
  const unstandardised = createBanditModel({ strategy: { name: 'squarecb' } });
  for (const e of log) unstandardised.learn(e);
  assert.notDeepEqual(unstandardised.decide(probe, ACTIONS, 'probe').scores, live.decide(probe, ACTIONS, 'probe').scores);
});
