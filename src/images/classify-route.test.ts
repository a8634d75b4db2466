import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import request from 'supertest';
import { loadRamModel } from '../attention/index.js';
import { eventSeed } from '../bandit/random/seeded-rng.js';
import { ROLLOUT_STREAM } from './classify-route.js';
import { decodePixels, type ImageEventPayload } from './image-store.js';
import { lyingPng, mnistTestDigit, paperPicture } from '../../test/images/fixtures.js';
import { makeRoot, shipTestModel, startImages, type ImagesHarness } from '../../test/images/harness.js';

const IMAGE_BYTES = 64 * 1024;

describe('POST /classify-image', () => {
  let h: ImagesHarness;
  let png: Buffer;

  before(async () => {
    const root = makeRoot();
    await shipTestModel(root);
    h = await startImages(root, { limits: { imageBytes: IMAGE_BYTES, imagePixels: 4_000_000 }, rewards: false });
    png = await paperPicture(mnistTestDigit(0).pixels, { format: 'png' });
  });
  after(() => h.close(true));

  const classify = () => request(h.focal.app).post('/classify-image');

  it('classifies raw bytes, logs the event and answers the contract', async () => {
    const res = await classify().set('Content-Type', 'image/png').send(png).expect(200).expect('Content-Type', /json/);
    const body = res.body as { eventId: string; model: string; label: string; confidence: number; probabilities: Record<string, number>; glimpses: { step: number; x: number; y: number; sizes: number[] }[]; latencyMs: number };
    assert.equal(body.model, 'mnist');
    assert.deepEqual(Object.keys(body.probabilities), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const sum = Object.values(body.probabilities).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4, `probabilities sum to ${sum}`);
    assert.equal(body.confidence, body.probabilities[body.label]);
    assert.equal(body.confidence, Math.max(...Object.values(body.probabilities)));
    assert.equal(body.glimpses.length, 6);
    body.glimpses.forEach((g, i) => {
      assert.equal(g.step, i + 1);
      assert.ok(Math.abs(g.x) <= 1 && Math.abs(g.y) <= 1);
      assert.deepEqual(g.sizes, [8, 16, 32]);
    });
    assert.ok(body.latencyMs > 0);
    const row = h.db.prepare('SELECT kind, model, payload FROM events WHERE event_id = ?').get(body.eventId) as { kind: string; model: string; payload: string };
    assert.equal(row.kind, 'image');
    assert.equal(row.model, 'mnist');
    const payload = JSON.parse(row.payload) as { label: string; pixels: string };
    assert.equal(payload.label, body.label);
    assert.equal(Buffer.from(payload.pixels, 'base64').length, 784);
  });

  it('gives the same answer for multipart and JSON base64 uploads', async () => {
    const raw = await classify().set('Content-Type', 'image/png').send(png).expect(200);
    const multipart = await classify().attach('image', png, { filename: 'digit.png', contentType: 'image/png' }).field('note', 'ignored').expect(200);
    const json = await classify().send({ image: png.toString('base64') }).expect(200);
    const dataUrl = await classify().send({ image: `data:image/png;base64,${png.toString('base64')}` }).expect(200);
    for (const res of [multipart, json, dataUrl]) {
      assert.deepEqual(res.body.probabilities, raw.body.probabilities);
      assert.notEqual(res.body.eventId, raw.body.eventId);
    }
  });

  it('answers with the model\'s input on ?input=true (what the glimpse coordinates refer to), as logged', async () => {
    const plain = await classify().set('Content-Type', 'image/png').send(png).expect(200);
    assert.equal(plain.body.input, undefined);
    const res = await classify().query({ input: true }).set('Content-Type', 'image/png').send(png).expect(200);
    assert.equal(res.body.input.size, 28);
    const pixels = Buffer.from(res.body.input.pixels, 'base64');
    assert.equal(pixels.length, 28 * 28);
    // White ink on black, cropped and centred: the border is black, the centre has ink.
    assert.equal(pixels[0], 0);
    assert.ok(Math.max(...pixels) > 200);
    const row = h.db.prepare('SELECT payload FROM events WHERE event_id = ?').get(res.body.eventId) as { payload: string };
    assert.equal(JSON.parse(row.payload).pixels, res.body.input.pixels);
    await classify().query({ input: 'maybe' }).set('Content-Type', 'image/png').send(png).expect(400);
  });

  it('takes the glimpses and samples query parameters', async () => {
    const res = await classify().query({ glimpses: 3, samples: 4 }).set('Content-Type', 'image/png').send(png).expect(200);
    assert.equal(res.body.glimpses.length, 3);
    const bad = await classify().query({ glimpses: 0 }).set('Content-Type', 'image/png').send(png).expect(400);
    assert.equal(bad.body.errors[0].path, '/query/glimpses');
  });

  it('takes a client event id once (409 on reuse) and seeds sampled rollouts from it', async () => {
    const first = await classify().query({ eventId: 'img-42', samples: 8 }).set('Content-Type', 'image/png').send(png).expect(200);
    assert.equal(first.body.eventId, 'img-42');
    const again = await classify().query({ eventId: 'img-42', samples: 8 }).set('Content-Type', 'image/png').send(png).expect(409);
    assert.equal(again.body.eventId, 'img-42');
    const other = await classify().query({ eventId: 'img-43', samples: 8 }).set('Content-Type', 'image/png').send(png).expect(200);
    const same = await classify().query({ eventId: 'img-43-copy', samples: 8 }).set('Content-Type', 'image/png').send(png).expect(200);
    assert.notDeepEqual(other.body.probabilities, same.body.probabilities, 'different events sample different rollouts');
    await classify().query({ eventId: 'has space' }).set('Content-Type', 'image/png').send(png).expect(400);
  });

  it('replays a sampled classification from its logged input and the event id\'s seed (eventSeed)', async () => {
    const res = await classify().query({ eventId: 'img-replay', samples: 4, glimpses: 5 }).set('Content-Type', 'image/png').send(png).expect(200);
    const row = h.db.prepare('SELECT payload FROM events WHERE event_id = ?').get('img-replay') as { payload: string };
    const pixels = decodePixels((JSON.parse(row.payload) as ImageEventPayload).pixels);
    // The served weights (nothing learned here: this app has no POST /reward), on this thread.
    const model = await loadRamModel(join(h.root, 'models', 'ram-mnist'));
    try {
      const replay = (seed: number) => model.classify(pixels, { glimpses: 5, samples: 4, seed });
      const again = replay(eventSeed('img-replay', ROLLOUT_STREAM));
      assert.deepEqual(res.body.glimpses, again.glimpses);
      assert.deepEqual(Object.values(res.body.probabilities), again.probabilities);
      // The check can fail: another seed samples other locations.
      assert.notDeepEqual(replay(eventSeed('img-replay', ROLLOUT_STREAM + 1)).glimpses, res.body.glimpses);
    } finally {
      model.dispose();
    }
  });

  it('reads a JSON upload as the pipeline reads every JSON body: UTF-8 only (415 otherwise), a BOM skipped', async () => {
    const raw = await classify().set('Content-Type', 'image/png').send(png).expect(200);
    const json = JSON.stringify({ image: png.toString('base64') });
    const events = () => (h.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    const before = events();
    const latin1 = await classify().set('Content-Type', 'application/json; charset=latin1').send(json).expect(415);
    assert.equal(latin1.body.detail, 'Unsupported charset "LATIN1": a JSON body must be UTF-8');
    assert.equal(events(), before, 'nothing logged for a refused upload');
    await classify().set('Content-Type', 'application/json; charset=utf-8').send(json).expect(200);
    // U+FEFF is sent as the UTF-8 BOM, EF BB BF.
    const bom = await classify().set('Content-Type', 'application/json').send(`\uFEFF${json}`).expect(200);
    assert.deepEqual(bom.body.probabilities, raw.body.probabilities);
    const notJson = await classify().set('Content-Type', 'application/json').send('{"image": ').expect(400);
    assert.match(notJson.body.detail, /not valid JSON/);
  });

  it('refuses other media types with 415', async () => {
    const res = await classify().set('Content-Type', 'text/plain').send('seven').expect(415);
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.match(res.body.detail, /image\/png/);
    await classify().set('Content-Type', 'image/svg+xml').send('<svg/>').expect(415);
  });

  it('answers 422 for bytes that do not decode as an image', async () => {
    const res = await classify().set('Content-Type', 'image/png').send(Buffer.from('\x89PNG\r\n\x1a\n definitely not a png')).expect(422);
    assert.equal(res.body.status, 422);
    await classify().set('Content-Type', 'image/jpeg').send(png.subarray(0, 100)).expect(422);
  });

  it('answers 413 over FOCAL_MAX_IMAGE_BYTES in every form, naming the limit', async () => {
    const big = Buffer.alloc(IMAGE_BYTES + 1, 7);
    for (const res of [
      await classify().set('Content-Type', 'image/png').send(big),
      await classify().attach('image', big, { filename: 'big.png', contentType: 'image/png' }),
      await classify().send({ image: big.toString('base64') }),
    ]) {
      assert.equal(res.status, 413);
      assert.equal(res.body.limit, 'FOCAL_MAX_IMAGE_BYTES');
      assert.equal(res.body.max, IMAGE_BYTES);
    }
  });

  it('answers 413 for a small file claiming too many pixels, before decoding it', async () => {
    const bomb = await lyingPng(100_000, 100_000);
    assert.ok(bomb.length < 100);
    const res = await classify().set('Content-Type', 'image/png').send(bomb).expect(413);
    assert.equal(res.body.limit, 'FOCAL_MAX_IMAGE_PIXELS');
    assert.match(res.body.detail, /100000×100000/);
  });

  it('answers 404 for an unknown model', async () => {
    const res = await classify().query({ model: 'nope' }).set('Content-Type', 'image/png').send(png).expect(404);
    assert.match(res.body.detail, /available: mnist/);
  });

  it('renders the glimpses on the input as a PNG', async () => {
    for (const res of [
      await classify().query({ render: 'png' }).set('Content-Type', 'image/png').send(png).buffer(true).expect(200),
      await classify().set('Accept', 'image/png').set('Content-Type', 'image/png').send(png).buffer(true).expect(200),
    ]) {
      assert.equal(res.headers['content-type'], 'image/png');
      assert.ok(res.headers['x-focal-event-id']);
      const out = sharp(res.body as Buffer);
      const meta = await out.metadata();
      // 28 px plus a 16 px margin (half the 32 px patch) each side, at 10× scale.
      assert.deepEqual([meta.width, meta.height], [600, 600]);
      const { data, info } = await out.removeAlpha().raw().toBuffer({ resolveWithObject: true });
      let coloured = 0;
      for (let i = 0; i < data.length; i += info.channels) {
        if (Math.max(data[i]!, data[i + 1]!, data[i + 2]!) - Math.min(data[i]!, data[i + 1]!, data[i + 2]!) > 80) coloured++;
      }
      // The input is grey; the boxes are the only colour.
      assert.ok(coloured > 1000, `${coloured} coloured pixels`);
    }
  });

  it('counts classifications in /metrics', async () => {
    const text = (await request(h.focal.app).get('/metrics').expect(200)).text;
    assert.match(text, /focal_image_classifications_total\{model="mnist",label="\d"\} \d+/);
    assert.match(text, /focal_image_classification_duration_seconds_count\{model="mnist"\} \d+/);
  });

  it('describes the route in /openapi.json', async () => {
    const doc = (await request(h.focal.app).get('/openapi.json').expect(200)).body;
    const op = doc.paths['/classify-image'].post;
    assert.ok(op.requestBody.content['image/png']);
    assert.ok(op.requestBody.content['multipart/form-data']);
    assert.ok(op.requestBody.content['application/json']);
  });
});

describe('POST /classify-image without a shipped model', () => {
  it('starts, is ready, and answers 404 naming the missing folder', async () => {
    const h = await startImages(makeRoot(), { rewards: false });
    try {
      await request(h.focal.app).get('/readyz').expect(200);
      const res = await request(h.focal.app).post('/classify-image').set('Content-Type', 'image/png').send(Buffer.from('x')).expect(404);
      assert.match(res.body.detail, /ram-mnist/);
      assert.match(res.body.detail, /no image model is loaded/);
    } finally {
      await h.close(true);
    }
  });
});
