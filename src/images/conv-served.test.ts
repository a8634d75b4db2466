import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { loadRamModel, mnistRamConfig } from '../attention/index.js';
import { mnistTestDigit, paperPicture } from '../../test/images/fixtures.js';
import { makeRoot, shipTestModel, startImages, type ImagesHarness } from '../../test/images/harness.js';
import { preprocessImage } from './preprocess.js';

interface Classified { eventId: string; label: string; probabilities: Record<string, number>; glimpses: unknown[] }

/** A small model with the convolutional glimpse pathway (train:ram --glimpse-conv), as a run of issue 15 would ship it. */
const CONV_CONFIG = mnistRamConfig({ glimpseHidden: 32, locationHidden: 32, glimpseOutput: 64, hiddenSize: 64, core: 'lstm', glimpseConv: { channels: [4, 8] } });

async function classify(h: ImagesHarness, image: Buffer): Promise<Classified> {
  return (await request(h.focal.app).post('/classify-image').set('Content-Type', 'image/png').send(image).expect(200)).body as Classified;
}

describe('a model with the convolutional glimpse pathway, served', () => {
  let h: ImagesHarness;
  let root: string;
  let image: Buffer;
  const digit = mnistTestDigit(3);
  const truth = String(digit.label);

  before(async () => {
    root = makeRoot();
    await shipTestModel(root, 'mnist', 11, CONV_CONFIG);
    h = await startImages(root);
    image = await paperPicture(digit.pixels, { format: 'png' });
  });
  after(() => h.close(true));

  it('classifies an upload as the model itself does on the preprocessed pixels', async () => {
    const served = await classify(h, image);
    const sum = Object.values(served.probabilities).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `probabilities sum to ${sum}`);
    assert.equal(served.glimpses.length, CONV_CONFIG.glimpses);
    const model = await loadRamModel(join(root, 'models', 'ram-mnist'));
    try {
      assert.deepEqual(model.config.glimpseConv, { channels: [4, 8] });
      const { pixels } = await preprocessImage(image, { maxPixels: h.config.limits.imagePixels });
      const own = model.classify(pixels);
      for (const [k, p] of Object.entries(served.probabilities)) {
        assert.ok(Math.abs(p - own.probabilities[Number(k)]!) < 1e-4, `p(${k}): served ${p}, the model ${own.probabilities[Number(k)]}`);
      }
    } finally {
      model.dispose();
    }
  });

  it('learns from label feedback and keeps the pathway in its snapshot across a restart', async () => {
    const first = await classify(h, image);
    await request(h.focal.app).post('/reward').send({ eventId: first.eventId, label: truth }).expect(200);
    await h.idle();
    const learned = await classify(h, image);
    assert.ok(learned.probabilities[truth]! > first.probabilities[truth]!,
      `p(${truth}) went from ${first.probabilities[truth]} to ${learned.probabilities[truth]}`);
    await h.close();
    const snapshot = JSON.parse(readFileSync(join(root, 'data', 'models', 'mnist', 'v1', 'config.json'), 'utf8')) as { glimpseConv?: unknown };
    assert.deepEqual(snapshot.glimpseConv, { channels: [4, 8] });
    h = await startImages(root);
    const restarted = await classify(h, image);
    for (const [k, p] of Object.entries(learned.probabilities)) {
      assert.ok(Math.abs(restarted.probabilities[k]! - p) < 1e-5, `p(${k}) ${p} → ${restarted.probabilities[k]}`);
    }
  });

  it('leaks no tensors over classifications and online updates', async () => {
    const warm = await classify(h, image);
    await request(h.focal.app).post('/reward').send({ eventId: warm.eventId, label: truth }).expect(200);
    await h.idle();
    await classify(h, image);
    const live = h.pool.liveTensors();
    for (let i = 0; i < 3; i++) {
      const event = await classify(h, image);
      await request(h.focal.app).post('/reward').send({ eventId: event.eventId, label: truth }).expect(200);
    }
    await h.idle();
    await classify(h, image);
    assert.deepEqual(h.pool.liveTensors(), live);
  });
});
