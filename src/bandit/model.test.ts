import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BanditConfigError,
  SnapshotFormatError,
  createBanditModel,
  defaultBanditConfig,
  normalizeBanditConfig,
  type ActionInput,
  type BanditConfigInput,
  type BanditModel,
  type Features,
} from './index.js';
import { Xoshiro128 } from './random/seeded-rng.js';

const ACTIONS: ActionInput[] = [
  { id: 'sports', features: { topic: 'sports', length: 120 } },
  { id: 'politics', features: { topic: 'politics', length: 300 } },
  { id: 'music' },
  { id: 'tech', features: { topic: 'tech' } },
];

/** A small synthetic world: each user segment prefers one action (reward 1), others pay 0.1. */
function world(seed: number): { next(): { context: Features; best: number } } {
  const rng = new Xoshiro128(seed);
  const countries = ['DE', 'FR', 'US', 'JP'];
  return {
    next() {
      const c = Math.floor(rng.next() * 4);
      const age = 18 + Math.floor(rng.next() * 50);
      return { context: { user: { country: countries[c]!, age: age / 100, premium: rng.next() < 0.3 }, hour: Math.floor(rng.next() * 24) / 24 }, best: c };
    },
  };
}

function run(model: BanditModel, n: number, seed = 1): number {
  const w = world(seed);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const { context, best } = w.next();
    const eventId = `e-${seed}-${i}`;
    const d = model.decide(context, ACTIONS, eventId);
    const reward = d.chosen === best ? 1 : 0.1;
    total += reward;
    model.learn({ context, actions: ACTIONS, chosen: d.chosen, probability: d.probability, reward, eventId });
  }
  return total / n;
}

const ALL: BanditConfigInput[] = [
  defaultBanditConfig(),
  { strategy: { name: 'greedy' } },
  { strategy: { name: 'uniform' } },
  { strategy: { name: 'epsilon-greedy', epsilon: 0.1 } },
  { strategy: { name: 'softmax', lambda: 20 } },
  { strategy: { name: 'squarecb', gamma: 10 } },
  { strategy: { name: 'bagging', bags: 3 } },
  { strategy: { name: 'linucb', alpha: 1 }, learner: { name: 'bayes-linear', dims: 64 } },
  { strategy: { name: 'thompson', scale: 0.5 }, learner: { name: 'bayes-linear', dims: 64 } },
  { strategy: { name: 'neural-linear', hidden: 8, scale: 0.3 }, learner: { name: 'linear', bits: 10 } },
];

test('default model beats uniform by a wide margin on a supervised→bandit task', () => {
  const learned = run(createBanditModel(defaultBanditConfig()), 3000);
  const uniform = run(createBanditModel({ strategy: { name: 'uniform' } }), 3000);
  // Optimum 1.0, uniform ≈ 0.325.
  assert.ok(uniform < 0.36, `uniform ${uniform}`);
  assert.ok(learned > 0.85, `default ${learned} vs uniform ${uniform}`);
});

for (const config of ALL) {
  const name = config.strategy!.name!;
  test(`${name}: snapshot round trip gives bitwise-equal decisions and scores`, () => {
    const a = createBanditModel(config);
    run(a, 300);
    const snap = a.snapshot();
    const b = createBanditModel(a.config, snap);
    assert.equal(b.updates, a.updates);
    const w = world(77);
    for (let i = 0; i < 30; i++) {
      const { context } = w.next();
      assert.deepEqual(b.decide(context, ACTIONS, `probe-${i}`), a.decide(context, ACTIONS, `probe-${i}`));
    }
    // And they keep learning identically.
    run(a, 100, 9);
    run(b, 100, 9);
    assert.deepEqual(b.snapshot(), a.snapshot());
  });

  test(`${name}: learning is deterministic and decide()/pmf() leave state unchanged`, () => {
    const a = createBanditModel(config);
    const b = createBanditModel(config);
    run(a, 200, 3);
    run(b, 200, 3);
    const snap = a.snapshot();
    assert.deepEqual(b.snapshot(), snap);
    const { context } = world(5).next();
    const d = a.decide(context, ACTIONS, 'same-seed');
    assert.deepEqual(a.decide(context, ACTIONS, 'same-seed'), d);
    assert.deepEqual(a.pmf(context, ACTIONS, 'same-seed'), d.pmf);
    assert.equal(d.probability, d.pmf[d.chosen]);
    assert.ok(Math.abs(d.pmf.reduce((s, p) => s + p, 0) - 1) < 1e-9);
    assert.deepEqual(a.snapshot(), snap);
    assert.equal(a.updates, 200);
  });
}

test('every exploring strategy learns the synthetic task better than uniform', () => {
  const uniform = run(createBanditModel({ strategy: { name: 'uniform' } }), 1500);
  for (const config of ALL) {
    // Greedy may lock onto the first action that pays 0.1: that is why exploration exists.
    if (config.strategy!.name === 'uniform' || config.strategy!.name === 'greedy') continue;
    const r = run(createBanditModel(config), 1500);
    assert.ok(r > uniform + 0.25, `${config.strategy!.name}: ${r} vs uniform ${uniform}`);
  }
});

test('squarecb counts learn() updates, not decisions', () => {
  const m = createBanditModel({ strategy: { name: 'squarecb', gamma: 10 } });
  const { context } = world(1).next();
  const first = m.pmf(context, ACTIONS, 'x');
  for (let i = 0; i < 50; i++) m.decide(context, ACTIONS, `d${i}`);
  assert.deepEqual(m.pmf(context, ACTIONS, 'x'), first);
  // No updates yet: γ = 0, uniform.
  assert.deepEqual(first, [0.25, 0.25, 0.25, 0.25]);
});

test('the same event id gives the same decision; different ids explore', () => {
  const m = createBanditModel({ strategy: { name: 'uniform' } });
  const { context } = world(1).next();
  const chosen = new Set<number>();
  for (let i = 0; i < 50; i++) {
    const d = m.decide(context, ACTIONS, `id-${i}`);
    assert.equal(m.decide(context, ACTIONS, `id-${i}`).chosen, d.chosen);
    chosen.add(d.chosen);
  }
  assert.equal(chosen.size, 4);
});

test('config errors name the offending field', () => {
  const cases: [BanditConfigInput, string][] = [
    [{ strategy: { name: 'nope' } }, '/strategy/name'],
    [{ strategy: { name: 'epsilon-greedy', epsilon: 1.5 } }, '/strategy/epsilon'],
    [{ strategy: { name: 'epsilon-greedy', epsilon: -0.1 } }, '/strategy/epsilon'],
    [{ strategy: { name: 'softmax', lambda: -1 } }, '/strategy/lambda'],
    [{ strategy: { name: 'squarecb', gamma: 0 } }, '/strategy/gamma'],
    [{ strategy: { name: 'bagging', bags: 0 } }, '/strategy/bags'],
    [{ strategy: { name: 'bagging', bags: 2.5 } }, '/strategy/bags'],
    [{ strategy: { name: 'linucb', alpha: -1 } }, '/strategy/alpha'],
    [{ strategy: { name: 'thompson', scale: 0 } }, '/strategy/scale'],
    [{ strategy: { name: 'neural-linear', hidden: 0, scale: 1 } }, '/strategy/hidden'],
    [{ strategy: { name: 'linucb', alpha: 1 }, learner: { name: 'linear' } }, '/learner/name'],
    [{ strategy: { name: 'thompson', scale: 1 }, learner: { name: 'linear' } }, '/learner/name'],
    [{ learner: { name: 'forest' } }, '/learner/name'],
    [{ learner: { name: 'linear', bits: 40 } }, '/learner/bits'],
    [{ learner: { name: 'linear', learningRate: 0 } }, '/learner/learningRate'],
    [{ learner: { name: 'bayes-linear', dims: 0 } }, '/learner/dims'],
    [{ learner: { name: 'linear', interactions: [['context']] } }, '/learner/interactions/0'],
  ];
  for (const [config, path] of cases) {
    assert.throws(
      () => createBanditModel(config),
      (e: unknown) => e instanceof BanditConfigError && e.path === path,
      `${JSON.stringify(config)} should fail at ${path}`,
    );
  }
});

test('linucb and thompson default to bayes-linear; defaults are filled in', () => {
  assert.equal(normalizeBanditConfig({ strategy: { name: 'linucb' } }).learner.name, 'bayes-linear');
  assert.equal(normalizeBanditConfig({ strategy: { name: 'thompson' } }).learner.name, 'bayes-linear');
  assert.deepEqual(normalizeBanditConfig({ strategy: { name: 'epsilon-greedy' } }).strategy, { name: 'epsilon-greedy', epsilon: 0.05 });
  assert.deepEqual(normalizeBanditConfig({}), defaultBanditConfig());
  assert.equal(createBanditModel(defaultBanditConfig()).config.learner.name, 'linear');
});

test('a snapshot is refused by a model with another learner', () => {
  const a = createBanditModel({ strategy: { name: 'greedy' } });
  run(a, 10);
  assert.throws(() => createBanditModel({ strategy: { name: 'linucb' } }, a.snapshot()), SnapshotFormatError);
  assert.throws(() => createBanditModel({ strategy: { name: 'greedy' } }, a.snapshot().subarray(0, 20)), SnapshotFormatError);
  assert.throws(() => createBanditModel({ strategy: { name: 'greedy' }, learner: { name: 'linear', bits: 10 } }, a.snapshot()), SnapshotFormatError);
  // Changing only the exploration strategy keeps the learned state.
  const b = createBanditModel({ strategy: { name: 'epsilon-greedy' } }, a.snapshot());
  assert.equal(b.updates, 10);
});

test('learn() rejects events that cannot be replayed', () => {
  const m = createBanditModel(defaultBanditConfig());
  const context = { a: 1 };
  assert.throws(() => m.learn({ context, actions: ACTIONS, chosen: 4, probability: 0.5, reward: 1 }));
  assert.throws(() => m.learn({ context, actions: ACTIONS, chosen: 0, probability: 0, reward: 1 }));
  assert.throws(() => m.learn({ context, actions: ACTIONS, chosen: 0, probability: 0.5, reward: Number.NaN }));
  assert.throws(() => m.decide(context, [], 'x'));
  assert.equal(m.updates, 0);
});

test('learner options: ignoreLinear and importanceWeighted are validated and change learning', () => {
  assert.throws(
    () => createBanditModel({ learner: { name: 'linear', ignoreLinear: 'context' } }),
    (e: unknown) => e instanceof BanditConfigError && e.path === '/learner/ignoreLinear',
  );
  assert.throws(
    () => createBanditModel({ learner: { name: 'linear', importanceWeighted: 'yes' } }),
    (e: unknown) => e instanceof BanditConfigError && e.path === '/learner/importanceWeighted',
  );
  const plain = createBanditModel({ strategy: { name: 'epsilon-greedy', epsilon: 0.2 } });
  const noLinear = createBanditModel({ strategy: { name: 'epsilon-greedy', epsilon: 0.2 }, learner: { name: 'linear', ignoreLinear: ['context'] } });
  const unweighted = createBanditModel({ strategy: { name: 'epsilon-greedy', epsilon: 0.2 }, learner: { name: 'linear', importanceWeighted: false } });
  for (const m of [plain, noLinear, unweighted]) assert.ok(run(m, 1500) > 0.7);
  assert.notDeepEqual(plain.snapshot(), noLinear.snapshot());
  assert.notDeepEqual(plain.snapshot(), unweighted.snapshot());
});

test('bagging seeds its bootstrap weights from the event id when given', () => {
  const a = createBanditModel({ strategy: { name: 'bagging', bags: 4 } });
  const b = createBanditModel({ strategy: { name: 'bagging', bags: 4 } });
  const { context } = world(2).next();
  const event = { context, actions: ACTIONS, chosen: 1, probability: 0.5, reward: 1 };
  a.learn({ ...event, eventId: 'x' });
  b.learn({ ...event, eventId: 'y' });
  const c = createBanditModel({ strategy: { name: 'bagging', bags: 4 } });
  c.learn({ ...event, eventId: 'x' });
  assert.deepEqual(c.snapshot(), a.snapshot());
  // Different ids (almost surely) give different replica weights.
  assert.notDeepEqual(b.snapshot(), a.snapshot());
});

test('decide() on arbitrary contexts: a valid PMF, the chosen action has mass, learn() accepts it', async () => {
  const fc = (await import('fast-check')).default;
  const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'default', 'action'));
  const scalar = fc.oneof(fc.double({ min: -1e9, max: 1e9, noNaN: true }), fc.string({ maxLength: 5 }), fc.boolean());
  const features = fc.dictionary(key, fc.oneof(scalar, fc.dictionary(key, scalar, { maxKeys: 4 })), { maxKeys: 6 });
  const actions = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 });
  // Object.prototype as it was: a write through a "__proto__" key would add or change one of its own properties.
  const prototypeState = () => Object.getOwnPropertyNames(Object.prototype).sort().map((n) => [n, Object.getOwnPropertyDescriptor(Object.prototype, n)!.value as unknown]);
  const prototypeBefore = prototypeState();
  for (const config of ALL) {
    const model = createBanditModel(config);
    fc.assert(
      fc.property(features, actions, fc.string(), fc.oneof(fc.double({ min: -5, max: 5, noNaN: true }), fc.double({ min: -1e9, max: 1e9, noNaN: true })), (context, ids, seed, reward) => {
        const acts = ids.map((id) => ({ id }));
        const d = model.decide(context as Features, acts, seed);
        assert.equal(d.pmf.length, acts.length);
        assert.ok(Math.abs(d.pmf.reduce((s, p) => s + p, 0) - 1) < 1e-9);
        assert.ok(d.pmf.every((p) => p >= 0));
        assert.ok(d.probability > 0 && d.probability === d.pmf[d.chosen]);
        model.learn({ context: context as Features, actions: acts, chosen: d.chosen, probability: d.probability, reward });
        assert.ok(d.scores.every(Number.isFinite), `${config.strategy!.name}: scores ${d.scores}`);
      }),
      { numRuns: 60 },
    );
    assert.deepEqual(prototypeState(), prototypeBefore, 'Object.prototype gained or changed a property');
  }
});
