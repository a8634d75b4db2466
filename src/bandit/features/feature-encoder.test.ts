import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Example } from './example.js';
import { BanditInputError, CONSTANT_HASH, FeatureEncoder } from './feature-encoder.js';

function encode(context: Record<string, unknown>, action: { id: string; features?: Record<string, unknown> }, interactions: string[][] = [['context', 'action']]): Example {
  const enc = new FeatureEncoder(interactions);
  const ex = new Example(4);
  enc.encodeContext(context as never);
  enc.example(action as never, ex);
  return ex;
}

function entries(ex: Example): [number, number][] {
  return Array.from({ length: ex.n }, (_, i) => [ex.idx[i]!, ex.val[i]!] as [number, number]);
}

test('an example carries the constant, context, action and their crosses', () => {
  const ex = encode({ user: { age: 31, country: 'DE', premium: true }, hour: 14 }, { id: 'sports', features: { length: 120 } });
  // constant + 4 context features + (id + length) + 4×2 crosses
  assert.equal(ex.n, 1 + 4 + 2 + 8);
  assert.equal(ex.idx[0], CONSTANT_HASH | 0);
  assert.equal(ex.contextEnd, 5);
  assert.equal(ex.linearEnd, 7);
  assert.equal(ex.actionId, 'sports');
});

test('numbers are values, strings and booleans indicators, zeros dropped', () => {
  const ex = encode({ a: 2.5, b: 'x', c: false, d: 0 }, { id: 'z' }, []);
  const vals = entries(ex).slice(1, ex.contextEnd).map(([, v]) => v);
  assert.deepEqual(vals, [2.5, 1, 1]);
  // Same key, different categorical values → different indices; true vs false too.
  const x1 = encode({ b: 'x' }, { id: 'z' }, []);
  const x2 = encode({ b: 'y' }, { id: 'z' }, []);
  assert.notEqual(x1.idx[1], x2.idx[1]);
  assert.notEqual(encode({ c: true }, { id: 'z' }, []).idx[1], encode({ c: false }, { id: 'z' }, []).idx[1]);
});

test('namespaces separate equal feature names', () => {
  const a = encode({ user: { x: 1 } }, { id: 'z' }, []);
  const b = encode({ page: { x: 1 } }, { id: 'z' }, []);
  assert.notEqual(a.idx[1], b.idx[1]);
});

test('encoding is deterministic and independent of earlier calls', () => {
  const enc = new FeatureEncoder([['context', 'action']]);
  const e1 = new Example();
  const e2 = new Example();
  enc.encodeContext({ u: { a: 1, b: 'q' }, t: 3 });
  enc.example({ id: 'x' }, e1);
  enc.encodeContext({ other: { z: 9 } });
  enc.example({ id: 'y' }, new Example());
  enc.encodeContext({ u: { a: 1, b: 'q' }, t: 3 });
  enc.example({ id: 'x' }, e2);
  assert.deepEqual(entries(e1), entries(e2));
});

test('prototype-pollution keys are ordinary feature names and nothing is written through them', () => {
  const context = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"prototype": 2}, "user": {"__proto__": "x", "toString": 3}}');
  const ex = encode(context, { id: '__proto__', features: JSON.parse('{"__proto__": 5}') });
  assert.ok(ex.n > 1);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
  // The "__proto__" namespace is a real namespace: it differs from having no such key.
  assert.notDeepEqual(entries(ex), entries(encode({ user: context.user }, { id: '__proto__' })));
});

test('interactions can name namespaces and cross a namespace with itself once per pair', () => {
  const ex = encode({ a: { x: 1, y: 2 }, b: { z: 3 } }, { id: 'k' }, [['a', 'b'], ['a', 'a']]);
  // constant + 3 context + id + a×b (2) + a×a unordered with squares (3)
  assert.equal(ex.n, 1 + 3 + 1 + 2 + 3);
  const three = encode({ a: { x: 1 }, b: { z: 3 } }, { id: 'k' }, [['a', 'b', 'action']]);
  assert.equal(three.n, 1 + 2 + 1 + 1);
  assert.equal(three.val[three.n - 1], 3);
});

test('non-finite numbers are rejected with the path of the field', () => {
  assert.throws(
    () => encode({ user: { age: Number.NaN } }, { id: 'a' }),
    (e: unknown) => e instanceof BanditInputError && e.path === '/context/user/age',
  );
});

test('a three-namespace interaction crosses each unordered pair of a namespace with itself once, times the action', () => {
  // One context feature a=2 and the action's id: default × default × action is the single term (a, a, id).
  const ex = encode({ a: 2 }, { id: 'x' }, [['context', 'context', 'action']]);
  assert.equal(ex.n, 1 + 1 + 1 + 1);
  const a = ex.idx[1]!;
  const id = ex.idx[ex.contextEnd]!;
  const P = 16777619;
  assert.equal(ex.idx[3], Math.imul(Math.imul(a, P) ^ a, P) ^ id);
  assert.equal(ex.val[3], 4);
  // Two features in one namespace: (a,a), (a,b), (b,b) — three unordered pairs, each crossed with the id.
  assert.equal(encode({ a: 2, b: 3 }, { id: 'x' }, [['context', 'context', 'action']]).n, 1 + 2 + 1 + 3);
});

test('the three-namespace fast path gives the general crossing\'s features, in its order', () => {
  const specs = [[['context', 'context', 'action']], [['context', 'action'], ['context', 'context', 'action']], [['user', 'user', 'action'], ['action', 'action', 'user']]];
  for (const spec of specs) {
    const fast = new FeatureEncoder(spec);
    const general = new FeatureEncoder(spec);
    // The recursion every other arity takes, forced for this encoder.
    const g = general as unknown as { cross3(term: unknown, out: Example): void; crossRec(term: unknown, at: number, h: number, v: number, p: number, out: Example): void };
    g.cross3 = (term, out) => g.crossRec(term, 0, 0, 1, -1, out);
    for (let t = 0; t < 50; t++) {
      const context = { device: `m${t % 3}`, hour: t % 24, user: { age: t * 1.5, country: `c${t % 5}`, premium: t % 2 === 0 }, extra: { a: Math.sin(t), b: 'x' } };
      const action = { id: `a${t}`, features: Object.fromEntries(Array.from({ length: 1 + (t % 7) }, (_, f) => [`f${f}`, f % 2 ? `v${(t + f) % 4}` : ((t + 1) * (f + 1)) / 7])) };
      const e1 = new Example(4);
      const e2 = new Example(4);
      fast.encodeContext(context);
      fast.example(action, e1);
      general.encodeContext(context);
      general.example(action, e2);
      assert.ok(e1.n > e1.linearEnd, 'there are crossed features');
      assert.deepEqual(entries(e1), entries(e2));
    }
  }
});

test('an action seen again is encoded from the cache exactly as a fresh encoder encodes it, whatever changed', () => {
  // Ids repeat with the same, changed, reordered, added, removed or nested features: every example must equal
  // what an encoder that never saw the id gives (the cache must never serve stale features).
  const value = fc.oneof(fc.constantFrom('a', 'b', 'ab'), fc.constantFrom(0, 1, 2.5, -3), fc.boolean());
  const features = fc.option(fc.oneof(
    fc.dictionary(fc.constantFrom('f', 'g', 'h', '__proto__', 'constructor'), value, { maxKeys: 4 }),
    fc.record({ nested: fc.dictionary(fc.constantFrom('x', 'y'), value, { maxKeys: 2 }) }),
  ), { nil: undefined });
  const action = fc.record({ id: fc.constantFrom('p', 'q', 'r'), features }, { requiredKeys: ['id'] });
  fc.assert(fc.property(fc.array(action, { minLength: 1, maxLength: 12 }), (actions) => {
    const warm = new FeatureEncoder([['context', 'action']]);
    warm.encodeContext({ user: { age: 3 }, hour: 'x' });
    for (const a of actions) {
      const cached = new Example(4);
      warm.example(a as never, cached);
      assert.deepEqual(entries(cached), entries(encode({ user: { age: 3 }, hour: 'x' }, a as never)), JSON.stringify(a));
    }
  }), { numRuns: 300 });
});

test('a feature value that became invalid is refused even though the id was cached', () => {
  const enc = new FeatureEncoder([]);
  enc.encodeContext({});
  const ex = new Example(4);
  enc.example({ id: 'p', features: { f: 1 } }, ex);
  assert.throws(() => enc.example({ id: 'p', features: { f: Number.NaN } }, ex), BanditInputError);
  assert.throws(() => enc.example({ id: 'p', features: { f: null } } as never, ex), BanditInputError);
});
