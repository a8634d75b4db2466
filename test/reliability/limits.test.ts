import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import request from 'supertest';
import { makeRoot, shipTestModel, startImages, type ImagesHarness } from '../images/harness.js';
import { CONFIG_VARS, type Limits } from '../../src/platform/config.js';
import { assertProblem } from './hostile-fixtures.js';

/**
 * Every limit of src/platform/config.ts (issue 5), set small, exceeded once:
 * the answer is a 4xx problem document that names the variable (in `limit`
 * and in `detail`), and nothing is logged. At the limit itself the request
 * is served. The list of FOCAL_MAX_* variables is read from the config, so a
 * new limit without a case here fails the last test.
 */

const LIMITS: Limits = {
  bodyBytes: 2048,
  imageBytes: 4096,
  imagePixels: 64 * 64,
  actionsPerRequest: 4,
  featuresPerRequest: 8,
  stringLength: 16,
  rewardBatch: 3,
};

let h: ImagesHarness;
const covered = new Set<string>();

function count(): number {
  return (h.db.prepare('SELECT (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM rewards) AS n').get() as { n: number }).n;
}

/** Expects a 413 naming `variable`, with nothing logged. */
async function exceeds(variable: string, send: () => request.Test): Promise<void> {
  const before = count();
  const res = await send();
  assertProblem(res, variable);
  assert.equal(res.status, 413, `${variable}: ${res.text}`);
  assert.equal(res.body.limit, variable, `${variable}: ${res.text}`);
  assert.match(res.body.detail as string, new RegExp(variable), `${variable}: detail`);
  assert.equal(typeof res.body.max, 'number');
  assert.equal(count(), before, `${variable}: nothing is logged`);
  covered.add(variable);
}

async function ok(send: () => PromiseLike<request.Response>, what: string): Promise<request.Response> {
  const res = await send();
  assert.equal(res.status, 200, `${what}: ${res.text}`);
  return res;
}

const png = (side: number) => sharp({ create: { width: side, height: side, channels: 3, background: '#fff' } }).png().toBuffer();

describe('configured limits', { timeout: 120_000 }, () => {
  before(async () => {
    const root = makeRoot();
    await shipTestModel(root);
    h = await startImages(root, { limits: LIMITS });
    await ok(() => request(h.focal.app).put('/models/m').send({ reward: { waitSeconds: 3600 } }), 'PUT m');
  });
  after(async () => { await h.close(true); });

  it('FOCAL_MAX_BODY: a JSON body one byte over, on every JSON endpoint', async () => {
    const pad = (n: number) => 'x'.repeat(n);
    const sized = (n: number, make: (p: string) => string) => {
      const base = make('').length;
      return make(pad(n - base));
    };
    const decide = sized(LIMITS.bodyBytes + 1, (p) => `{"model":"m","actions":["a"],"context":{"p":"${p}"}}`);
    assert.equal(Buffer.byteLength(decide), LIMITS.bodyBytes + 1);
    await exceeds('FOCAL_MAX_BODY', () => request(h.focal.app).post('/decide').set('Content-Type', 'application/json').send(decide));
    await exceeds('FOCAL_MAX_BODY', () => request(h.focal.app).post('/reward').set('Content-Type', 'application/json')
      .send(sized(LIMITS.bodyBytes + 1, (p) => `{"eventId":"e","reward":1}${' '.repeat(p.length)}`)));
    await exceeds('FOCAL_MAX_BODY', () => request(h.focal.app).put('/models/m').set('Content-Type', 'application/json')
      .send(sized(LIMITS.bodyBytes + 1, (p) => `{"actions":["a"]}${' '.repeat(p.length)}`)));
  });

  it('FOCAL_MAX_ACTIONS: one action over in /decide and in a fixed actions list', async () => {
    const actions = (n: number) => Array.from({ length: n }, (_, i) => `a${i}`);
    await ok(() => request(h.focal.app).post('/decide').send({ model: 'm', actions: actions(LIMITS.actionsPerRequest) }), 'at the limit');
    await exceeds('FOCAL_MAX_ACTIONS', () => request(h.focal.app).post('/decide').send({ model: 'm', actions: actions(LIMITS.actionsPerRequest + 1) }));
    await exceeds('FOCAL_MAX_ACTIONS', () => request(h.focal.app).put('/models/fixed').send({ actions: actions(LIMITS.actionsPerRequest + 1) }));
    assert.equal((await request(h.focal.app).get('/models/fixed')).status, 404, 'the model was not created');
  });

  it('FOCAL_MAX_FEATURES: one feature over, counted across context and actions', async () => {
    const context = { user: { a: 1, b: 'x', c: true }, d: 2 };
    await ok(() => request(h.focal.app).post('/decide').send({ model: 'm', context, actions: [{ id: 'p', features: { e: 1, f: 2 } }, { id: 'q', features: { g: 1, h: 'y' } }] }), 'at the limit');
    await exceeds('FOCAL_MAX_FEATURES', () => request(h.focal.app).post('/decide').send({
      model: 'm', context, actions: [{ id: 'p', features: { e: 1, f: 2 } }, { id: 'q', features: { g: 1, h: 'y', i: false } }],
    }));
    await exceeds('FOCAL_MAX_FEATURES', () => request(h.focal.app).post('/decide').send({
      model: 'm', context: Object.fromEntries(Array.from({ length: LIMITS.featuresPerRequest + 1 }, (_, i) => [`f${i}`, i])), actions: ['a'],
    }));
  });

  it('FOCAL_MAX_STRING_LENGTH: action ids, feature names and values, event ids one character over', async () => {
    const at = 's'.repeat(LIMITS.stringLength);
    const over = 's'.repeat(LIMITS.stringLength + 1);
    await ok(() => request(h.focal.app).post('/decide').send({ model: 'm', context: { [at]: at }, actions: [at], eventId: at }), 'at the limit');
    await exceeds('FOCAL_MAX_STRING_LENGTH', () => request(h.focal.app).post('/decide').send({ model: 'm', actions: [over] }));
    await exceeds('FOCAL_MAX_STRING_LENGTH', () => request(h.focal.app).post('/decide').send({ model: 'm', actions: [{ id: over }] }));
    await exceeds('FOCAL_MAX_STRING_LENGTH', () => request(h.focal.app).post('/decide').send({ model: 'm', context: { [over]: 1 }, actions: ['a'] }));
    await exceeds('FOCAL_MAX_STRING_LENGTH', () => request(h.focal.app).post('/decide').send({ model: 'm', context: { u: { k: over } }, actions: ['a'] }));
    await exceeds('FOCAL_MAX_STRING_LENGTH', () => request(h.focal.app).post('/decide').send({ model: 'm', actions: [{ id: 'a', features: { k: over } }] }));
    await exceeds('FOCAL_MAX_STRING_LENGTH', () => request(h.focal.app).post('/decide').send({ model: 'm', actions: ['a'], eventId: over }));
    await exceeds('FOCAL_MAX_STRING_LENGTH', () => request(h.focal.app).put('/models/long').send({ actions: [over] }));
    // On /reward the limit never drops below the 36 characters of the UUIDs the server hands out.
    await exceeds('FOCAL_MAX_STRING_LENGTH', () => request(h.focal.app).post('/reward').send({ eventId: 'e'.repeat(37), reward: 1 }));
    await exceeds('FOCAL_MAX_STRING_LENGTH', () => request(h.focal.app).post('/reward').send({ events: [{ eventId: 'e'.repeat(37), reward: 1 }] }));
  });

  it('FOCAL_MAX_REWARD_BATCH: one event over (server-generated 36-character event ids pass under a lower string limit)', async () => {
    const ids: string[] = [];
    for (let i = 0; i <= LIMITS.rewardBatch; i++) {
      ids.push((await ok(() => request(h.focal.app).post('/decide').send({ model: 'm', actions: ['a', 'b'] }), 'decide')).body.eventId as string);
    }
    await exceeds('FOCAL_MAX_REWARD_BATCH', () => request(h.focal.app).post('/reward').send({ events: ids.map((eventId) => ({ eventId, reward: 1 })) }));
    const res = await ok(() => request(h.focal.app).post('/reward').send({ events: ids.slice(0, LIMITS.rewardBatch).map((eventId) => ({ eventId, reward: 1 })) }), 'at the limit');
    assert.deepEqual((res.body.results as { status: number }[]).map((r) => r.status), [200, 200, 200]);
  });

  it('multi-slot decisions: slots count against FOCAL_MAX_ACTIONS, their features against FOCAL_MAX_FEATURES, their ids against FOCAL_MAX_STRING_LENGTH, slot rewards against FOCAL_MAX_REWARD_BATCH', async () => {
    const actions = ['a', 'b', 'c', 'd'];
    const slots = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `s${i}` }));
    const four = await ok(() => request(h.focal.app).post('/decide').send({ model: 'm', actions, slots: slots(LIMITS.actionsPerRequest) }), 'slots at the limit');
    await exceeds('FOCAL_MAX_ACTIONS', () => request(h.focal.app).post('/decide').send({ model: 'm', actions, slots: slots(LIMITS.actionsPerRequest + 1) }));
    const context = { user: { a: 1, b: 'x', c: true }, d: 2 };
    await ok(() => request(h.focal.app).post('/decide').send({ model: 'm', context, actions: ['p', 'q'], slots: [{ id: 'x', features: { e: 1, f: 2 } }, { id: 'y', features: { g: 1, h: 2 } }] }), 'slot features at the limit');
    await exceeds('FOCAL_MAX_FEATURES', () => request(h.focal.app).post('/decide').send({
      model: 'm', context, actions: ['p', 'q'], slots: [{ id: 'x', features: { e: 1, f: 2 } }, { id: 'y', features: { g: 1, h: 2, i: 3 } }],
    }));
    await exceeds('FOCAL_MAX_STRING_LENGTH', () => request(h.focal.app).post('/decide').send({ model: 'm', actions, slots: [{ id: 's'.repeat(LIMITS.stringLength + 1) }] }));
    const eventId = four.body.eventId as string;
    await exceeds('FOCAL_MAX_REWARD_BATCH', () => request(h.focal.app).post('/reward').send({ eventId, rewards: { s0: 1, s1: 1, s2: 1, s3: 1 } }));
    await exceeds('FOCAL_MAX_STRING_LENGTH', () => request(h.focal.app).post('/reward').send({ eventId, slot: 's'.repeat(37), reward: 1 }));
    const res = await ok(() => request(h.focal.app).post('/reward').send({ eventId, rewards: { s0: 1, s1: 0, s2: 1 } }), 'slot rewards at the limit');
    assert.deepEqual((res.body.results as { status: number }[]).map((r) => r.status), [200, 200, 200]);
  });

  it('FOCAL_MAX_IMAGE_BYTES: raw, multipart and base64 uploads one byte over', async () => {
    const over = Buffer.alloc(LIMITS.imageBytes + 1, 7);
    await exceeds('FOCAL_MAX_IMAGE_BYTES', () => request(h.focal.app).post('/classify-image').set('Content-Type', 'image/png').send(over));
    await exceeds('FOCAL_MAX_IMAGE_BYTES', () => request(h.focal.app).post('/classify-image').attach('image', over, { filename: 'x.png', contentType: 'image/png' }));
    await exceeds('FOCAL_MAX_IMAGE_BYTES', () => request(h.focal.app).post('/classify-image').send({ image: over.toString('base64') }));
  });

  it('FOCAL_MAX_IMAGE_PIXELS: a small file that decodes to too many pixels', async () => {
    const side = Math.sqrt(LIMITS.imagePixels);
    await ok(async () => request(h.focal.app).post('/classify-image').set('Content-Type', 'image/png').send(await png(side)), 'at the limit');
    const big = await png(side + 1);
    assert.ok(big.length <= LIMITS.imageBytes);
    await exceeds('FOCAL_MAX_IMAGE_PIXELS', () => request(h.focal.app).post('/classify-image').set('Content-Type', 'image/png').send(big));
  });

  it('covers every FOCAL_MAX_* variable of the configuration', () => {
    const limits = CONFIG_VARS.map((v) => v.name).filter((n) => n.startsWith('FOCAL_MAX_'));
    assert.equal(limits.length, Object.keys(LIMITS).length);
    assert.deepEqual([...covered].sort(), limits.sort());
  });
});
