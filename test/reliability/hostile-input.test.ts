import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import sharp from 'sharp';
import request from 'supertest';
import { makeRoot, shipTestModel, startImages, type ImagesHarness } from '../images/harness.js';
import { assertProblem, lyingPng } from './hostile-fixtures.js';
import { prototypeState } from '../helpers.js';

/**
 * Hostile and malformed input across every endpoint (issue 5): property-based
 * bodies that are invalid by construction — wrong types, NaN/Infinity as
 * strings or out-of-range literals, huge numbers, deep nesting, too many
 * features, duplicate or empty actions, control characters in ids,
 * prototype-pollution keys, truncated JSON, lying images — each must get a
 * 4xx problem document and change nothing: row counts, model versions and
 * learned-state fingerprints are compared before and after every request.
 * (Random image bytes are covered by src/images/hostile-input.test.ts.)
 */

const RUNS = Number(process.env.FOCAL_FC_RUNS ?? 60);

let h: ImagesHarness;
let app: ImagesHarness['focal']['app'];
/** Events to aim at: an open `first` decision, a rewarded one, an open image classification. */
const target = { open: '', closed: '', image: '', predicted: '' };
const prototypeBefore = prototypeState();

function rows(): string {
  return JSON.stringify(h.db.prepare(`SELECT (SELECT COUNT(*) FROM events) AS events, (SELECT COUNT(*) FROM rewards) AS rewards,
    (SELECT COUNT(*) FROM events WHERE closed = 1) AS closed, (SELECT TOTAL(reward) FROM events) AS rewardTotal,
    (SELECT TOTAL(reward_count) FROM events) AS rewardCount, (SELECT COUNT(*) FROM models) AS models,
    (SELECT group_concat(name || ':' || version || ':' || updated_at || ':' || config, ',')
       FROM (SELECT * FROM models WHERE kind = 'bandit' ORDER BY name)) AS bandits`).get());
}

/** What the API itself reports: per model its version, counts and the fingerprint of its learned state. */
async function modelState(): Promise<string> {
  const res = await request(app).get('/models');
  assert.equal(res.status, 200);
  const models = (res.body as { models: { name: string; version: number; stats: Record<string, unknown> }[] }).models;
  const images = await request(app).get('/image-models');
  return JSON.stringify({
    bandits: models.map((m) => [m.name, m.version, m.stats.decisions, m.stats.clientRewards, m.stats.updates, m.stats.rewardSeq, m.stats.fingerprint]),
    images: (images.body as { models: { name: string; onlineUpdates: number }[] }).models.map((m) => [m.name, m.onlineUpdates]),
  });
}

type Send = () => request.Test;

/** Sends, expects a 4xx problem document and no change in any row. */
async function rejects(send: Send, what: string): Promise<request.Response> {
  const before = rows();
  const res = await send();
  assertProblem(res, what);
  assert.equal(rows(), before, `${what}: state changed`);
  return res;
}

const json = (method: 'post' | 'put' | 'delete', path: string, raw: string): Send => () => request(app)[method](path).set('Content-Type', 'application/json').send(raw);

// ---- arbitraries ----

const controlChar = fc.oneof(fc.integer({ min: 0, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f })).map((c) => String.fromCharCode(c));
const withControl = fc.tuple(fc.string({ maxLength: 4 }), controlChar, fc.string({ maxLength: 4 })).map(([a, c, b]) => a + c + b);
const protoKey = fc.constantFrom('__proto__', 'constructor', 'prototype');
const pollution = fc.constantFrom('{"polluted":"yes","isAdmin":true}', '{"prototype":{"polluted":"yes"}}', '1', 'null');
/** Raw JSON fragments of each type, so bodies can hold what JSON.stringify cannot write (1e999). */
const FRAGMENTS = {
  string: ['"x"', '""', '"NaN"', '"Infinity"', '"1e3"', '"0x10"'],
  number: ['0', '-1', '1.5', '1e999', '-1e999', '1e10', '-1e300', '9'.repeat(400)],
  boolean: ['true', 'false'],
  null: ['null'],
  array: ['[]', '[1,"a"]', '[[[]]]'],
  object: ['{}', '{"a":1}', '{"__proto__":{"polluted":"yes"}}'],
} as const;
type FragmentType = keyof typeof FRAGMENTS;
function notOfType(...types: FragmentType[]): fc.Arbitrary<string> {
  return fc.constantFrom(...(Object.keys(FRAGMENTS) as FragmentType[]).filter((t) => !types.includes(t)).flatMap((t) => [...FRAGMENTS[t]]));
}
/** Numbers a model must never learn from: out of range, infinite, not numbers at all. */
const lyingNumber = fc.constantFrom('1e999', '-1e999', '1e10', '-5e9', '9'.repeat(400), '"NaN"', '"Infinity"', '"-Infinity"', '"1"', 'null', 'true', '[1]', '{}', 'NaN', 'Infinity');
const q = (s: string) => JSON.stringify(s);

/** Ids that must be refused: control characters, or past FOCAL_MAX_STRING_LENGTH (256). */
const badActionId = fc.oneof(withControl, fc.constant(''), fc.integer({ min: 257, max: 2000 }).map((n) => 'x'.repeat(n)));
const badEventId = fc.oneof(withControl, fc.constant(''), fc.constantFrom('a b', 'é', '🎯', 'x\u2028y'), fc.integer({ min: 257, max: 2000 }).map((n) => 'e'.repeat(n)));
const badModelName = fc.oneof(withControl, fc.string({ maxLength: 80 }), fc.constantFrom('', '-x', '.hidden', 'a b', 'ü', 'x'.repeat(65), '__proto__', 'a/b'))
  .filter((s) => s !== '' && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(s));

function nested(depth: number, leaf: string): string {
  return '{"n":'.repeat(depth) + leaf + '}'.repeat(depth);
}

function features(n: number): string {
  return `{${Array.from({ length: n }, (_, i) => `"f${i}":${i % 7}`).join(',')}}`;
}

const decideBody = fc.oneof(
  fc.record({ field: fc.constantFrom('model', 'eventId'), value: notOfType('string') }).map(({ field, value }) => `{"actions":["a","b"],${q(field)}:${value}}`),
  notOfType('object').map((v) => `{"model":"m","context":${v},"actions":["a","b"]}`),
  notOfType('array').map((v) => `{"model":"m","actions":${v}}`),
  // (A string or boolean is a categorical feature and {} an empty namespace: all valid, so not among these.)
  lyingNumber.filter((v) => !v.startsWith('"') && v !== '{}' && v !== 'true').map((v) => `{"model":"m","context":{"user":{"age":${v}}},"actions":["a","b"]}`),
  lyingNumber.filter((v) => !v.startsWith('"') && v !== '{}' && v !== 'true').map((v) => `{"model":"m","actions":[{"id":"a","features":{"len":${v}}},"b"]}`),
  fc.integer({ min: 9, max: 5000 }).map((d) => `{"model":"m","context":${nested(d, '1')},"actions":["a"]}`),
  fc.integer({ min: 9, max: 200 }).map((d) => `{"model":"m","actions":[{"id":"a","features":${nested(d, '"x"')}}]}`),
  fc.integer({ min: 4097, max: 6000 }).map((n) => `{"model":"m","context":${features(n)},"actions":["a"]}`),
  fc.integer({ min: 257, max: 400 }).map((n) => `{"model":"m","actions":${JSON.stringify(Array.from({ length: n }, (_, i) => `a${i}`))}}`),
  fc.uniqueArray(fc.string({ minLength: 1, maxLength: 5 }).filter((s) => !/\p{Cc}/u.test(s)), { minLength: 1, maxLength: 5 })
    .chain((ids) => fc.nat({ max: ids.length - 1 }).map((i) => [...ids, ids[i]!]))
    .map((ids) => `{"model":"m","actions":${JSON.stringify(ids.map((id, i) => (i % 2 ? { id } : id)))}}`),
  fc.constantFrom('{"model":"m","actions":[]}', '{"actions":[]}', '{"model":"m","actions":[{}]}', '{"model":"m","actions":[{"id":1}]}',
    '{"model":"m","actions":[{"id":"a","features":[1,2]}]}', '{"model":"m","actions":[{"id":"a","extra":1}]}', '{}', '{"model":"default"}'),
  badActionId.map((id) => `{"model":"m","actions":[${q(id)},"b"]}`),
  badActionId.map((id) => `{"model":"m","actions":[{"id":${q(id)}},"b"]}`),
  fc.oneof(withControl, fc.constant('')).map((k) => `{"model":"m","context":{${q(k)}:1},"actions":["a"]}`),
  badEventId.map((id) => `{"model":"m","actions":["a","b"],"eventId":${q(id)}}`),
  badModelName.map((name) => `{"model":${q(name)},"actions":["a"]}`),
  fc.constantFrom('nope', 'mnist', 'M').map((name) => `{"model":${q(name)},"actions":["a"]}`),
  fc.tuple(protoKey, pollution).map(([k, v]) => `{"model":"m","context":{${q(k)}:${v}},"actions":["a"]}`),
  fc.tuple(protoKey, pollution).map(([k, v]) => `{"model":"m","context":{"user":{${q(k)}:${v}}},"actions":["a"]}`),
  fc.tuple(protoKey, pollution).map(([k, v]) => `{"model":"m","actions":[{"id":"a","features":{${q(k)}:${v}}}]}`),
  fc.tuple(protoKey, pollution).map(([k, v]) => `{"model":"m","actions":["a"],${q(k)}:${v}}`),
  fc.tuple(protoKey, pollution).map(([k, v]) => `{"model":"m","actions":[{"id":"a",${q(k)}:${v}}]}`),
  fc.constant(null).map(() => `{"model":"m","actions":["a","b"],"eventId":${q(target.open)}}`),
);

const rewardBody = fc.oneof(
  lyingNumber.map((v) => `{"eventId":${q(target.open)},"reward":${v}}`),
  notOfType('string').map((v) => `{"eventId":${v},"reward":1}`),
  badEventId.map((id) => `{"eventId":${q(id)},"reward":1}`),
  fc.constant(null).map(() => `{"eventId":${q(target.open)}}`),
  fc.constant(null).map(() => `{"eventId":${q(target.open)},"label":"7"}`),
  fc.constant(null).map(() => `{"eventId":${q(target.closed)},"reward":1}`),
  fc.constant(null).map(() => `{"eventId":"never-logged","reward":1}`),
  fc.constant(null).map(() => `{"eventId":${q(target.open)},"reward":1,"events":[{"eventId":${q(target.open)},"reward":1}]}`),
  fc.constantFrom('{"events":[]}', '{"events":{}}', '{"events":null}', '{"events":[null]}', '{"events":[{}]}', '{}', '{"reward":1}'),
  lyingNumber.map((v) => `{"events":[{"eventId":${q(target.open)},"reward":${v}}]}`),
  fc.constant(null).map(() => `{"events":${JSON.stringify(Array.from({ length: 1001 }, () => ({ eventId: target.open, reward: 1 })))}}`),
  fc.tuple(protoKey, pollution).map(([k, v]) => `{"eventId":${q(target.open)},"reward":1,${q(k)}:${v}}`),
  fc.tuple(protoKey, pollution).map(([k, v]) => `{"events":[{"eventId":${q(target.open)},"reward":1,${q(k)}:${v}}]}`),
  // Image events: a label that is no class, a reward out of [0, 1], a reward contradicting the label.
  fc.oneof(withControl, fc.constantFrom('banana', '10', '-1', '07', ' 7', '__proto__'), fc.string({ minLength: 257, maxLength: 300 }))
    .map((label) => `{"eventId":${q(target.image)},"label":${q(label)}}`),
  fc.constantFrom('2', '-0.5', '1e999', '"1"').map((r) => `{"eventId":${q(target.image)},"reward":${r}}`),
  fc.constant(null).map(() => `{"eventId":${q(target.image)},"label":${q(target.predicted)},"reward":0.5}`),
);

const STRATEGY_CASES = [
  '{"name":"nope"}', '{}', '{"name":null}', '{"name":"epsilon-greedy","epsilon":2}', '{"name":"epsilon-greedy","epsilon":-0.1}',
  '{"name":"epsilon-greedy","epsilon":"0.1"}', '{"name":"epsilon-greedy","epsilon":1e999}', '{"name":"squarecb","gamma":0}',
  '{"name":"squarecb","gamma":-1}', '{"name":"bagging","bags":0}', '{"name":"bagging","bags":1000}', '{"name":"bagging","bags":2.5}',
  '{"name":"softmax","lambda":-1}', '{"name":"greedy","epsilon":0.1}', '{"name":"thompson","scale":0}', '"greedy"', '[]',
];
const LEARNER_CASES = [
  '{"name":"nope"}', '{"name":"linear","bits":100}', '{"name":"linear","bits":2}', '{"name":"linear","learningRate":0}',
  '{"name":"linear","interactions":[["a"]]}', '{"name":"linear","interactions":"context"}', '{"name":"bayes-linear","dims":0}',
  '{"name":"bayes-linear","dims":1e999}', '{"name":"linear","dims":8}',
];
const REWARD_CASES = ['{"waitSeconds":-1}', '{"waitSeconds":"600"}', '{"waitSeconds":1e999}', '{"aggregation":"max"}',
  '{"default":"0"}', '{"default":1e300}', '{"extra":1}', '[]'];

const putBody = fc.oneof(
  fc.constantFrom(...STRATEGY_CASES).map((s) => `{"strategy":${s}}`),
  fc.constantFrom(...LEARNER_CASES).map((l) => `{"learner":${l}}`),
  fc.constantFrom(...REWARD_CASES).map((r) => `{"reward":${r}}`),
  fc.record({ field: fc.constantFrom('strategy', 'learner', 'reward', 'actions'), value: fc.constantFrom('1', '"x"', 'true', 'null') })
    .map(({ field, value }) => `{${q(field)}:${value}}`),
  fc.tuple(fc.constantFrom('strategy', 'learner', 'reward'), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'), pollution)
    .map(([field, k, v]) => `{${q(field)}:{${field === 'reward' ? '' : `"name":${q(field === 'strategy' ? 'greedy' : 'linear')},`}${q(k)}:${v}}}`),
  fc.tuple(protoKey, pollution).map(([k, v]) => `{${q(k)}:${v}}`),
  fc.constantFrom('{"actions":[]}', '{"actions":["a","a"]}', '{"actions":[{"id":"a"},"a"]}', '{"actions":[""]}', '{"unknown":1}', '[]', '"x"', '1', 'null'),
  badActionId.map((id) => `{"actions":[${q(id)}]}`),
  fc.integer({ min: 257, max: 400 }).map((n) => `{"actions":${JSON.stringify(Array.from({ length: n }, (_, i) => `a${i}`))}}`),
  fc.integer({ min: 9, max: 2000 }).map((d) => `{"actions":[{"id":"a","features":${nested(d, '1')}}]}`),
);

describe('hostile and malformed input', { timeout: 300_000 }, () => {
  let startModels = '';

  before(async () => {
    const root = makeRoot();
    await shipTestModel(root);
    // A body limit high enough that 10⁵ features or actions reach the request's own limits.
    h = await startImages(root, { limits: { bodyBytes: 4 * 1024 * 1024 } });
    app = h.focal.app;
    assert.equal((await request(app).put('/models/m').send({ actions: ['a', 'b', 'c'], reward: { waitSeconds: 3600 } })).status, 200);
    assert.equal((await request(app).put('/models/s').send({ actions: ['a', 'b'], reward: { waitSeconds: 3600, aggregation: 'sum' } })).status, 200);
    for (let i = 0; i < 6; i++) {
      const d = await request(app).post('/decide').send({ model: 'm', context: { user: { age: 20 + i } } });
      assert.equal(d.status, 200);
      if (i < 4) assert.equal((await request(app).post('/reward').send({ eventId: d.body.eventId, reward: i % 2 })).status, 200);
      if (i === 0) target.closed = d.body.eventId as string;
      target.open = d.body.eventId as string;
    }
    const png = await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 250, g: 250, b: 250 } } })
      .composite([{ input: Buffer.from('<svg width="40" height="40"><rect x="16" y="6" width="8" height="28" fill="#000"/></svg>'), left: 0, top: 0 }])
      .png().toBuffer();
    const c = await request(app).post('/classify-image').set('Content-Type', 'image/png').send(png);
    assert.equal(c.status, 200, c.text);
    target.image = c.body.eventId as string;
    target.predicted = c.body.label as string;
    startModels = await modelState();
  });

  after(async () => {
    await h.close(true);
  });

  it('POST /decide: every invalid body is a 4xx problem and logs nothing', async () => {
    await fc.assert(fc.asyncProperty(decideBody, async (raw) => { await rejects(json('post', '/decide', raw), `decide ${raw.slice(0, 120)}`); }), { numRuns: RUNS * 2 });
    // 10⁵ features, 10⁵ actions, 10⁵ levels of nesting: refused by the request limits, never fed to a model.
    const many = await rejects(json('post', '/decide', `{"model":"m","context":${features(100_000)},"actions":["a"]}`), '10⁵ features');
    assert.equal(many.body.limit, 'FOCAL_MAX_FEATURES');
    const actions = await rejects(json('post', '/decide', `{"model":"m","actions":${JSON.stringify(Array.from({ length: 100_000 }, (_, i) => `a${i}`))}}`), '10⁵ actions');
    assert.equal(actions.body.limit, 'FOCAL_MAX_ACTIONS');
    await rejects(json('post', '/decide', `{"model":"m","context":${nested(100_000, '1')},"actions":["a"]}`), '10⁵ levels');
    await rejects(json('post', '/decide', `{"model":"m","context":{},"actions":["a"],"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), '10⁵ nested arrays');
  });

  it('POST /reward: every invalid body is a 4xx problem and applies nothing', async () => {
    await fc.assert(fc.asyncProperty(rewardBody, async (raw) => { await rejects(json('post', '/reward', raw), `reward ${raw.slice(0, 120)}`); }), { numRuns: RUNS * 2 });
  });

  it('PUT and DELETE /models/{name}: invalid names and configurations are 4xx problems and change no model', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('m', 'fresh'), putBody, async (name, raw) => {
      await rejects(json('put', `/models/${name}`, raw), `PUT ${name} ${raw.slice(0, 120)}`);
    }), { numRuns: RUNS * 2 });
    await fc.assert(fc.asyncProperty(badModelName, fc.constantFrom('put', 'delete', 'get'), async (name, method) => {
      const path = `/models/${encodeURIComponent(name)}`;
      const send: Send = method === 'put' ? json('put', path, '{}') : method === 'get' ? () => request(app).get(path) : () => request(app).delete(path);
      await rejects(send, `${method} ${path}`);
    }), { numRuns: RUNS });
    for (const path of ['/models/%E0%A4%A', '/models/%ZZ', '/models/%', '/models/a%00b', '/models/..%2F..%2Fetc']) {
      await rejects(json('put', path, '{}'), `PUT ${path}`);
      await rejects(() => request(app).delete(path), `DELETE ${path}`);
    }
    await rejects(json('put', '/models/mnist', '{}'), 'PUT over an image model');
    await rejects(() => request(app).delete('/models/never-created'), 'DELETE unknown');
  });

  it('POST /classify-image: lying, truncated and mislabelled images, bad queries and media types are 4xx problems and log nothing', async () => {
    const real = await sharp({ create: { width: 28, height: 28, channels: 3, background: '#fff' } }).png().toBuffer();
    const huge = await lyingPng(100_000, 100_000);
    const lies = fc.oneof(
      fc.uint8Array({ maxLength: 512 }).map((tail) => Buffer.concat([real.subarray(0, 8), Buffer.from(tail)])),
      fc.uint8Array({ maxLength: 512 }).map((tail) => Buffer.concat([real.subarray(0, 33), Buffer.from(tail)])),
      fc.integer({ min: 1, max: real.length - 13 }).map((n) => real.subarray(0, n)),
      fc.constantFrom(huge, Buffer.from('GIF89a'), Buffer.from([0xff, 0xd8, 0xff, 0xdb, 0, 0x43]), Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"/>')),
    );
    await fc.assert(fc.asyncProperty(lies, fc.constantFrom('raw', 'multipart', 'json'), fc.constantFrom('image/png', 'image/jpeg', 'image/webp'), async (bytes, form, type) => {
      const send: Send = form === 'raw' ? () => request(app).post('/classify-image').set('Content-Type', type).send(bytes)
        : form === 'multipart' ? () => request(app).post('/classify-image').attach('image', bytes, { filename: 'x.png', contentType: type })
          : json('post', '/classify-image', JSON.stringify({ image: bytes.toString('base64') }));
      await rejects(send, `${form} ${type} ${bytes.length} bytes`);
    }), { numRuns: RUNS });
    const hugeRes = await rejects(() => request(app).post('/classify-image').set('Content-Type', 'image/png').send(huge), '1×1 PNG claiming 100000×100000');
    assert.equal(hugeRes.status, 413);
    assert.equal(hugeRes.body.limit, 'FOCAL_MAX_IMAGE_PIXELS');

    const badQuery = fc.constantFrom('glimpses=0', 'glimpses=33', 'glimpses=-1', 'glimpses=1.5', 'glimpses=abc', 'glimpses=1&glimpses=2', 'samples=0',
      'samples=1000', 'samples=NaN', 'model=nope', 'model=..%2F..%2Fetc', 'model=%00', 'render=gif', '__proto__=1', '__proto__[polluted]=yes', 'constructor=1', 'x=1');
    await fc.assert(fc.asyncProperty(badQuery, async (query) => {
      await rejects(() => request(app).post(`/classify-image?${query}`).set('Content-Type', 'image/png').send(real), `query ${query}`);
    }), { numRuns: RUNS / 2 });
    const badJson = fc.constantFrom('{"image":1}', '{"image":null}', '{"image":""}', '{"image":"***"}', '{"image":"QUJD"}', '{"image":"a","x":1}',
      '{"__proto__":{"polluted":"yes"},"image":"QUJD"}', '[]', '"x"', '{"image":["QUJD"]}');
    await fc.assert(fc.asyncProperty(badJson, async (raw) => { await rejects(json('post', '/classify-image', raw), `json ${raw}`); }), { numRuns: RUNS / 2 });
    for (const type of ['text/plain', 'application/octet-stream', 'image/svg+xml', 'application/x-www-form-urlencoded']) {
      await rejects(() => request(app).post('/classify-image').set('Content-Type', type).send(real), `Content-Type ${type}`);
    }
    await rejects(() => request(app).post('/classify-image').set('Content-Type', 'image/png').set('Content-Encoding', 'gzip').send(real), 'gzip upload');
    await rejects(() => request(app).post('/classify-image').set('Content-Type', 'multipart/form-data').send('--x\r\n'), 'multipart without boundary');
  });

  it('every JSON endpoint: truncated JSON, wrong media types, charsets and corrupt compression are 4xx problems', async () => {
    const valid: Record<string, ['post' | 'put', string]> = {
      decide: ['post', `{"model":"m","context":{"user":{"age":30}},"actions":["a","b"]}`],
      reward: ['post', `{"eventId":${q(target.open)},"reward":1}`],
      put: ['put', '{"strategy":{"name":"greedy"},"actions":["a","b"]}'],
      classify: ['post', '{"image":"iVBORw0KGgo="}'],
    };
    const paths: Record<string, string> = { decide: '/decide', reward: '/reward', put: '/models/m', classify: '/classify-image' };
    await fc.assert(fc.asyncProperty(fc.constantFrom(...Object.keys(valid)), fc.double({ min: 0, max: 1, noNaN: true }),
      fc.constantFrom('truncate', 'text/plain', 'charset', 'gzip', 'deflate', 'form'), async (endpoint, cut, how) => {
        const [method, raw] = valid[endpoint]!;
        const path = paths[endpoint]!;
        const send: Send = () => {
          const r = request(app)[method](path);
          switch (how) {
            case 'truncate': return r.set('Content-Type', 'application/json').send(raw.slice(0, 1 + Math.floor(cut * (raw.length - 2))));
            case 'charset': return r.set('Content-Type', 'application/json; charset=klingon').send(raw);
            case 'gzip': case 'deflate': return r.set('Content-Type', 'application/json').set('Content-Encoding', how).send(raw);
            case 'form': return r.set('Content-Type', 'application/x-www-form-urlencoded').send('model=m&actions=a');
            default: return r.set('Content-Type', how).send(raw);
          }
        };
        await rejects(send, `${endpoint} ${how} ${cut}`);
      }), { numRuns: RUNS });
  });

  it('arbitrary JSON values to every endpoint never get a 5xx', async () => {
    const paths: ['post' | 'put', string][] = [['post', '/decide'], ['post', '/reward'], ['put', '/models/fresh'], ['post', '/classify-image']];
    await fc.assert(fc.asyncProperty(fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 6 }), async ([method, path], value) => {
      // A bare object is a valid PUT (every field optional): it is the one body that may succeed.
      if (method === 'put' && value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) return;
      await rejects(json(method, path, JSON.stringify(value)), `${method} ${path} ${JSON.stringify(value).slice(0, 120)}`);
    }), { numRuns: RUNS * 2 });
  });

  it('left every model, counter and Object.prototype as it was', async () => {
    assert.equal(await modelState(), startModels);
    assert.deepEqual(prototypeState(), prototypeBefore);
  });

  it('odd but valid unicode in ids and features is served, never a 5xx, and comes back unchanged', async () => {
    const id = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((s) => !/\p{Cc}/u.test(s));
    await fc.assert(fc.asyncProperty(fc.uniqueArray(id, { minLength: 1, maxLength: 4 }), id, fc.string({ unit: 'binary', maxLength: 12 }), async (ids, key, value) => {
      if (['__proto__', 'constructor', 'prototype'].includes(key)) return;
      const res = await request(app).post('/decide').send({ model: 'm', context: { [key]: value }, actions: ids });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(new Set((res.body.ranking as { id: string }[]).map((r) => r.id)), new Set(ids));
    }), { numRuns: RUNS / 4 });
  });
});
