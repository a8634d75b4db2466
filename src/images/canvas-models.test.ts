import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import request from 'supertest';
import { createRamModel, mnistRamConfig, renderTestSet, taskSpec } from '../attention/index.js';
import { decodePixels } from './image-store.js';
import { inputPlacement } from './preprocess.js';
import { correlation, inkStats } from '../../test/images/fixtures.js';
import { makeRoot, shipTestModel, startImages, type ImagesHarness } from '../../test/images/harness.js';

/** A small random-init translated model (60×60 canvas, 12 px patches): the plumbing is under test, not its accuracy. */
async function shipCanvasModel(root: string): Promise<void> {
  const config = mnistRamConfig({
    imageSize: 60, patchSize: 12, scales: 3, glimpseHidden: 32, locationHidden: 32, glimpseOutput: 64, hiddenSize: 64,
    task: { task: 'translated', imageSize: 60, clutterPieces: 0, pieceSize: 8 },
  });
  const model = createRamModel(config, 11);
  await model.save(join(root, 'models', 'ram-translated'));
  model.dispose();
}

const png = (pixels: Float32Array, side: number): Promise<Buffer> =>
  sharp(Buffer.from(pixels.map((v) => Math.round(v * 255))), { raw: { width: side, height: side, channels: 1 } }).png().toBuffer();

describe('image models with a larger canvas', () => {
  let h: ImagesHarness;
  const canvases = renderTestSet(taskSpec('translated'), 4);
  const canvas = (n: number) => canvases.pixels.subarray(n * 3600, (n + 1) * 3600);

  before(async () => {
    const root = makeRoot();
    await shipTestModel(root);
    await shipCanvasModel(root);
    h = await startImages(root, { rewards: false });
  });
  after(() => h.close(true));

  const storedPixels = (eventId: string): Float32Array => {
    const row = h.db.prepare('SELECT payload FROM events WHERE event_id = ?').get(eventId) as { payload: string };
    return decodePixels((JSON.parse(row.payload) as { pixels: string }).pixels);
  };

  it('GET /image-models lists each model with its canvas and how it reads uploads', async () => {
    const { models } = (await request(h.focal.app).get('/image-models').expect(200)).body as { models: { name: string; imageSize: number; input: string; patchSize: number }[] };
    const byName = Object.fromEntries(models.map((m) => [m.name, m]));
    assert.deepEqual(Object.keys(byName).sort(), ['mnist', 'translated']);
    assert.equal(byName.mnist!.imageSize, 28);
    assert.equal(byName.mnist!.input, 'digit');
    assert.equal(byName.translated!.imageSize, 60);
    assert.equal(byName.translated!.input, 'canvas');
    assert.equal(byName.translated!.patchSize, 12);
  });

  it('a 60×60 upload reaches the translated model un-shrunk, the digit where it was', async () => {
    for (const n of [0, 1, 2, 3]) {
      const input = canvas(n);
      const res = await request(h.focal.app).post('/classify-image').query({ model: 'translated' })
        .set('Content-Type', 'image/png').send(await png(input, 60)).expect(200);
      assert.equal(res.body.model, 'translated');
      for (const g of res.body.glimpses as { sizes: number[] }[]) assert.deepEqual(g.sizes, [12, 24, 48]);
      // The event keeps the input as the model saw it.
      const seen = storedPixels(res.body.eventId as string);
      assert.equal(seen.length, 3600);
      const a = inkStats(input, 60);
      const b = inkStats(seen, 60);
      assert.ok(Math.abs(a.cx - b.cx) < 0.5 && Math.abs(a.cy - b.cy) < 0.5, `centre of mass (${a.cx}, ${a.cy}) → (${b.cx}, ${b.cy})`);
      assert.ok(Math.abs(a.width - b.width) <= 2 && Math.abs(a.height - b.height) <= 2, `ink box ${a.width}×${a.height} → ${b.width}×${b.height}`);
      assert.ok(correlation(seen, input) > 0.98, `correlation ${correlation(seen, input)}`);
    }
  });

  it('the same upload to the 28×28 model is cropped, fitted and centred instead', async () => {
    const res = await request(h.focal.app).post('/classify-image').query({ model: 'mnist' })
      .set('Content-Type', 'image/png').send(await png(canvas(0), 60)).expect(200);
    const seen = storedPixels(res.body.eventId as string);
    assert.equal(seen.length, 784);
    const s = inkStats(seen, 28);
    assert.equal(Math.max(s.width, s.height), 20);
  });

  it('renders the glimpses on the 60×60 input', async () => {
    const res = await request(h.focal.app).post('/classify-image').query({ model: 'translated', render: 'png' })
      .set('Content-Type', 'image/png').send(await png(canvas(1), 60)).buffer(true).expect(200);
    const meta = await sharp(res.body as Buffer).metadata();
    // 60 px plus a 24 px margin (half the 48 px patch) each side, at 10× scale.
    assert.deepEqual([meta.width, meta.height], [1080, 1080]);
  });
});

describe('inputPlacement', () => {
  it('reads a canvas for translated and cluttered models and for any input wider than 28 px, a centred digit otherwise', () => {
    const task = (name: string, imageSize: number) => ({ task: name, imageSize, clutterPieces: 0, pieceSize: 8 });
    assert.equal(inputPlacement(mnistRamConfig()), 'digit');
    assert.equal(inputPlacement(mnistRamConfig({ task: task('mnist', 28) })), 'digit');
    assert.equal(inputPlacement(mnistRamConfig({ imageSize: 60, task: task('translated', 60) })), 'canvas');
    assert.equal(inputPlacement(mnistRamConfig({ imageSize: 60, task: task('cluttered', 60) })), 'canvas');
    assert.equal(inputPlacement(mnistRamConfig({ imageSize: 100, task: task('cluttered', 100) })), 'canvas');
    assert.equal(inputPlacement(mnistRamConfig({ imageSize: 60 })), 'canvas');
  });
});

