import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BanditConfigError, createBanditModel, type ActionInput, type BanditModel, type Features } from '../index.js';
import { Xoshiro128 } from '../random/seeded-rng.js';
import { mixtureRadius } from './auto-model.js';

const TWO: ActionInput[] = [{ id: 'left' }, { id: 'right' }];

/** Runs `n` rounds of `world` through the model; returns the mean reward over the last `tail` rounds. */
function drive(model: BanditModel, n: number, seed: number, world: (rng: Xoshiro128) => { context: Features; reward: (a: number) => number }, tail = n): number {
  const rng = new Xoshiro128(seed);
  let total = 0;
  for (let t = 0; t < n; t++) {
    const { context, reward } = world(rng);
    const eventId = `auto-${seed}-${t}`;
    const d = model.decide(context, TWO, eventId);
    const r = reward(d.chosen);
    if (t >= n - tail) total += r;
    model.learn({ context, actions: TWO, chosen: d.chosen, probability: d.probability, reward: r, eventId });
  }
  return total / tail;
}

/** XOR: "left" pays when the two signs agree. Per-action linear terms cannot tell; the c×c×a term can. */
function xor(rng: Xoshiro128): { context: Features; reward: (a: number) => number } {
  const a = rng.next() < 0.5 ? -1 : 1;
  const b = rng.next() < 0.5 ? -1 : 1;
  const best = a * b > 0 ? 0 : 1;
  const u = rng.next();
  return { context: { u: { a, b } }, reward: (x) => (u < (x === best ? 0.9 : 0.1) ? 1 : 0) };
}

/** Noise: every action pays Bernoulli(0.5) whatever the context. */
function noise(rng: Xoshiro128): { context: Features; reward: (a: number) => number } {
  const context: Features = { u: { a: rng.next(), b: rng.next() < 0.5 ? 'x' : 'y' }, v: rng.next() };
  const u = rng.next();
  return { context, reward: () => (u < 0.5 ? 1 : 0) };
}

test('the optimizer switches to the candidate that wins: quadratic terms on an XOR problem', () => {
  // Interactions named by the user are served first (the default ones would start quadratic on a narrow context).
  const model = createBanditModel({ strategy: { name: 'auto' }, learner: { name: 'linear', interactions: [['u', 'action']] } });
  const plain = createBanditModel({ strategy: { name: 'squarecb' } });
  const tailAuto = drive(model, 4000, 1, xor, 1000);
  const tailPlain = drive(plain, 4000, 1, xor, 1000);
  const status = model.optimizerStatus!();
  assert.match(status.serving, /quadratic/, `serving ${status.serving}: ${JSON.stringify(status.candidates.map((c) => [c.name, c.value, c.lowerBound]))}`);
  assert.ok(status.switches >= 1);
  assert.equal(status.history.at(-1)!.to, status.serving);
  assert.ok(status.history[0]!.lowerBound > 0);
  // The served candidate earns what the XOR allows (0.9), the linear default cannot (0.5).
  assert.ok(tailAuto > 0.8, `auto: ${tailAuto} in the last 1,000 rounds`);
  assert.ok(tailPlain < 0.6, `squarecb alone: ${tailPlain}`);
});

test('seeded A/A: on pure noise the optimizer never switches', () => {
  for (let seed = 1; seed <= 6; seed++) {
    const model = createBanditModel({ strategy: { name: 'auto' } });
    drive(model, 3000, seed, noise);
    const status = model.optimizerStatus!();
    assert.equal(status.switches, 0, `seed ${seed}: switched to ${status.serving}`);
    // A narrow context (4 features) over the default interactions starts standardised, and stays there.
    assert.equal(status.serving, 'squarecb-standardized');
  }
});

/** Noise over ten actions: with the sample variance alone, the bound switched in 75 of 200 runs (0.999, 10,000 events). */
test('seeded A/A with ten actions: rare large importance weights do not make noise look like a win', () => {
  const TEN: ActionInput[] = Array.from({ length: 10 }, (_, i) => ({ id: `a${i}` }));
  for (let seed = 1; seed <= 8; seed++) {
    const model = createBanditModel({ strategy: { name: 'auto' } });
    const rng = new Xoshiro128(seed);
    for (let t = 0; t < 1500; t++) {
      const { context, reward } = noise(rng);
      const eventId = `aa10-${seed}-${t}`;
      const d = model.decide(context, TEN, eventId);
      model.learn({ context, actions: TEN, chosen: d.chosen, probability: d.probability, reward: reward(d.chosen), eventId });
    }
    const status = model.optimizerStatus!();
    assert.equal(status.switches, 0, `seed ${seed}: switched to ${status.serving} ${JSON.stringify(status.history)}`);
  }
});

test('a narrow context starts with the standardised candidate, a wide one with the plain default', () => {
  const narrow = createBanditModel({ strategy: { name: 'auto' } });
  drive(narrow, 1, 1, xor);
  assert.equal(narrow.optimizerStatus!().serving, 'squarecb-standardized');
  const wide = createBanditModel({ strategy: { name: 'auto' } });
  const context: Features = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, i / 30]));
  wide.learn({ context, actions: TWO, chosen: 0, probability: 0.5, reward: 1, eventId: 'w' });
  assert.equal(wide.optimizerStatus!().serving, 'squarecb');
});

test('replay is deterministic: restoring a snapshot mid-stream and going on gives the same choices and state', () => {
  const config = { strategy: { name: 'auto' as const, evaluationRate: 0.5 } };
  const whole = createBanditModel(config);
  const rng = new Xoshiro128(5);
  const events: { context: Features; reward: (a: number) => number }[] = Array.from({ length: 3000 }, () => xor(rng));
  const step = (m: BanditModel, t: number): void => {
    const { context, reward } = events[t]!;
    const d = m.decide(context, TWO, `r-${t}`);
    m.learn({ context, actions: TWO, chosen: d.chosen, probability: d.probability, reward: reward(d.chosen), eventId: `r-${t}` });
  };
  for (let t = 0; t < 2200; t++) step(whole, t);
  const restored = createBanditModel(config, whole.snapshot());
  assert.deepEqual(restored.optimizerStatus!(), whole.optimizerStatus!());
  for (let t = 2200; t < 3000; t++) {
    step(whole, t);
    step(restored, t);
  }
  assert.deepEqual(restored.snapshot(), whole.snapshot());
  assert.deepEqual(restored.optimizerStatus!(), whole.optimizerStatus!());
  // And a model that learns the same logged events (no decide at all: what replay does) ends in the same state.
  const replayed = createBanditModel(config);
  const log: Parameters<BanditModel['learn']>[0][] = [];
  const live = createBanditModel(config);
  for (let t = 0; t < 1500; t++) {
    const { context, reward } = events[t]!;
    const d = live.decide(context, TWO, `l-${t}`);
    const e = { context, actions: TWO, chosen: d.chosen, probability: d.probability, reward: reward(d.chosen), eventId: `l-${t}` };
    live.learn(e);
    log.push(e);
  }
  for (const e of log) replayed.learn(e);
  assert.deepEqual(replayed.snapshot(), live.snapshot());
});

test('a bad event changes nothing; auto needs a linear learner; the status names every candidate', () => {
  const model = createBanditModel({ strategy: { name: 'auto' } });
  drive(model, 50, 3, noise);
  const before = model.snapshot();
  assert.throws(() => model.learn({ context: { u: { a: Number.NaN } }, actions: TWO, chosen: 0, probability: 0.5, reward: 1, eventId: 'bad' }));
  assert.throws(() => model.learn({ context: {}, actions: TWO, chosen: 2, probability: 0.5, reward: 1 }));
  assert.deepEqual(model.snapshot(), before);
  assert.throws(() => createBanditModel({ strategy: { name: 'auto' }, learner: { name: 'bayes-linear' } }), BanditConfigError);
  const status = model.optimizerStatus!();
  assert.ok(status.candidates.length >= 6 && status.candidates.length <= 10);
  assert.equal(status.candidates.filter((c) => c.serving).length, 1);
  assert.ok(status.candidates.some((c) => c.config.learner.name === 'linear' && (c.config.learner as { forget?: number }).forget !== undefined));
  assert.ok(status.candidates.some((c) => JSON.stringify(c.config.learner).includes('"context","context","action"')));
  assert.equal(status.events, 50);
  assert.equal(status.evaluatedEvents, 50);
});

test('wide contexts retire the quadratic candidates (their cost grows as the square of the features) and the standardised one', () => {
  const model = createBanditModel({ strategy: { name: 'auto' } });
  const context: Features = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, i / 30]));
  const d = model.decide(context, TWO, 'w');
  model.learn({ context, actions: TWO, chosen: d.chosen, probability: d.probability, reward: 1, eventId: 'w' });
  const status = model.optimizerStatus!();
  assert.deepEqual(status.candidates.filter((c) => c.retired).map((c) => c.name).sort(), ['epsilon-greedy-quadratic', 'squarecb-quadratic', 'squarecb-standardized']);
});

/** Smallest probability of a PMF. */
const least = (pmf: number[]): number => Math.min(...pmf);

test('the floor: evaluated events keep floor/k on every action, the others are the served candidate\'s alone', () => {
  const floor = 0.05;
  const model = createBanditModel({ strategy: { name: 'auto', floor } });
  const rng = new Xoshiro128(11);
  let mixedAfterWarmup = 0;
  const after = 3000;
  for (let t = 0; t < 2000 + after; t++) {
    const { context, reward } = xor(rng);
    const eventId = `mix-${t}`;
    const d = model.decide(context, TWO, eventId);
    const sum = d.pmf.reduce((s, p) => s + p, 0);
    assert.ok(Math.abs(sum - 1) < 1e-12 && d.pmf.every((p) => p <= 1), `event ${t}: ${d.pmf}`);
    assert.deepEqual(model.pmf!(context, TWO, eventId), d.pmf);
    if (t < 2000) assert.ok(least(d.pmf) >= floor / 2 - 1e-12, `warm-up event ${t}: ${d.pmf}`);
    else if (least(d.pmf) >= floor / 2 - 1e-12) mixedAfterWarmup++;
    model.learn({ context, actions: TWO, chosen: d.chosen, probability: d.probability, reward: reward(d.chosen), eventId });
  }
  // After the warm-up only the evaluated share (evaluationRate 10%) pays the floor: the served SquareCB, sure of
  // the XOR by then, gives the worse action far less than floor/2 on the rest.
  const share = mixedAfterWarmup / after;
  assert.ok(share > 0.06 && share < 0.16, `share of decisions at the floor after the warm-up: ${share}`);
  assert.equal(model.optimizerStatus!().drift.detections, 0);
});

test('after a drift alarm every decision mixes in twice the floor, uniformly, for 500 events', () => {
  const floor = 0.05;
  const model = createBanditModel({ strategy: { name: 'auto', floor } });
  const rng = new Xoshiro128(12);
  let alarmedAt = -1;
  let checked = 0;
  for (let t = 0; t < 6000; t++) {
    const { context, reward } = xor(rng);
    // At 3,000 the world flips: the action that paid 0.9 pays 0.1.
    const r = (a: number): number => (t < 3000 ? reward(a) : reward(1 - a));
    const eventId = `drift-${t}`;
    const d = model.decide(context, TWO, eventId);
    // The alarm is raised while event `alarmedAt` is learned; the 499 events after it are decided in its window.
    if (alarmedAt >= 0 && t - alarmedAt < 500) {
      assert.ok(least(d.pmf) >= (2 * floor) / 2 - 1e-12, `event ${t}, ${t - alarmedAt} after the alarm: ${d.pmf}`);
      checked++;
    }
    model.learn({ context, actions: TWO, chosen: d.chosen, probability: d.probability, reward: r(d.chosen), eventId });
    const last = model.optimizerStatus!().drift.lastEvent;
    if (alarmedAt < 0 && last !== null) alarmedAt = last;
  }
  assert.ok(alarmedAt > 3000 && alarmedAt < 3400, `alarm at ${alarmedAt}`);
  assert.equal(checked, 499);
});

test('a version-1 snapshot (before the predictable moments) restores, and the model goes on learning', () => {
  const model = createBanditModel({ strategy: { name: 'auto' } });
  drive(model, 400, 7, xor);
  const v2 = model.snapshot();
  const view = new DataView(v2.buffer, v2.byteOffset, v2.byteLength);
  assert.equal(view.getUint32(4, true), 2);
  // Version 1 is version 2 without V, the count² array written right after D (same length prefix).
  const C = model.optimizerStatus!().candidates.length;
  const block = 4 + 8 * C * C;
  let at = -1;
  for (let p = 8; p + 2 * block <= v2.length; p += 4) {
    if (view.getUint32(p, true) === C * C && view.getUint32(p + block, true) === C * C) {
      at = p + block;
      break;
    }
  }
  assert.ok(at > 0);
  const v1 = new Uint8Array(v2.length - block);
  v1.set(v2.subarray(0, at));
  v1.set(v2.subarray(at + block), at);
  new DataView(v1.buffer).setUint32(4, 1, true);
  const restored = createBanditModel({ strategy: { name: 'auto' } }, v1);
  const [a, b] = [model.optimizerStatus!(), restored.optimizerStatus!()];
  assert.equal(b.serving, a.serving);
  assert.deepEqual(b.candidates.map((c) => c.value), a.candidates.map((c) => c.value));
  drive(restored, 100, 8, xor);
  assert.equal(restored.optimizerStatus!().events, 500);
  // A version it does not know is refused.
  new DataView(v1.buffer).setUint32(4, 9, true);
  assert.throws(() => createBanditModel({ strategy: { name: 'auto' } }, v1), /version 9/);
});

test('mixture boundary: wider than the fixed-n normal interval, shrinking with n', () => {
  const r100 = mixtureRadius(1, 100, 0.05);
  const r10k = mixtureRadius(1, 10000, 0.05);
  assert.ok(r100 > 1.96 / 10);
  assert.ok(r10k < r100 / 5);
  assert.equal(mixtureRadius(1, 0, 0.05), Infinity);
});
