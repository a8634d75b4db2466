import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { loadRamModel, mnistRamConfig } from '../attention/index.js';
import { meanReading, shiftOffsets, shiftPixels } from '../attention/test-shifts.js';
import { mnistTestDigit, paperPicture } from '../../test/images/fixtures.js';
import { makeRoot, shipTestModel, startImages, TEST_MODEL_CONFIG, type ImagesHarness } from '../../test/images/harness.js';
import { preprocessImage } from './preprocess.js';

interface Classified { eventId: string; label: string; probabilities: Record<string, number>; glimpses: { x: number; y: number }[] }

/** A small model read at five one-pixel shifts (config.shifts, models/README.md rule 28), as `mnist-conv` is served. */
const SHIFTED_CONFIG = mnistRamConfig({ ...TEST_MODEL_CONFIG, shifts: 5 });

describe('a model whose config reads each picture at one-pixel shifts, served', () => {
  let h: ImagesHarness;
  let root: string;
  let image: Buffer;
  const digit = mnistTestDigit(7);

  before(async () => {
    root = makeRoot();
    await shipTestModel(root, 'mnist', 5, SHIFTED_CONFIG);
    h = await startImages(root);
    image = await paperPicture(digit.pixels, { format: 'png' });
  });
  after(() => h.close(true));

  const classify = async (query: Record<string, unknown> = {}): Promise<Classified> =>
    (await request(h.focal.app).post('/classify-image').query(query).set('Content-Type', 'image/png').send(image).expect(200)).body as Classified;

  it('answers the mean of the model\'s readings of the five shifted inputs, with the glimpses taken on the input itself', async () => {
    const served = await classify();
    const model = await loadRamModel(join(root, 'models', 'ram-mnist'));
    try {
      assert.equal(model.config.shifts, 5);
      const { pixels } = await preprocessImage(image, { maxPixels: h.config.limits.imagePixels });
      const readings = model.classifyMany(shiftOffsets(5).map(([dx, dy]) => shiftPixels(pixels, 28, dx, dy)));
      const mean = meanReading(readings);
      for (const [k, p] of Object.entries(served.probabilities)) {
        assert.ok(Math.abs(p - mean.probabilities[Number(k)]!) < 1e-5, `p(${k}): served ${p}, the mean of the shifts ${mean.probabilities[Number(k)]}`);
      }
      assert.equal(served.label, String(mean.predicted));
      // The shifts matter: the picture read once gives other probabilities, so this is not the single reading.
      const once = model.classify(pixels);
      assert.ok(once.probabilities.some((p, k) => Math.abs(p - served.probabilities[String(k)]!) > 1e-4), 'the served probabilities differ from one reading');
      served.glimpses.forEach((g, t) => {
        assert.ok(Math.abs(g.x - once.glimpses[t]!.x) < 1e-5 && Math.abs(g.y - once.glimpses[t]!.y) < 1e-5, `glimpse ${t + 1}`);
      });
    } finally {
      model.dispose();
    }
  });

  it('logs the shifts with a deterministic reading, reads sampled rollouts once, and lists the shifts in GET /image-models', async () => {
    const options = (eventId: string) => (JSON.parse((h.db.prepare('SELECT payload FROM events WHERE event_id = ?').get(eventId) as { payload: string }).payload) as { options: Record<string, number> }).options;
    assert.deepEqual(options((await classify()).eventId), { glimpses: SHIFTED_CONFIG.glimpses, samples: 1, shifts: 5 });
    assert.deepEqual(options((await classify({ samples: 3 })).eventId), { glimpses: SHIFTED_CONFIG.glimpses, samples: 3 });
    const listed = (await request(h.focal.app).get('/image-models').expect(200)).body as { models: { name: string; shifts: number }[] };
    assert.equal(listed.models.find((m) => m.name === 'mnist')?.shifts, 5);
  });

  it('keeps the shifts in its snapshot after label feedback, and reads the same after a restart', async () => {
    const first = await classify();
    await request(h.focal.app).post('/reward').send({ eventId: first.eventId, label: String(digit.label) }).expect(200);
    await h.idle();
    const learned = await classify();
    await h.close();
    const snapshot = JSON.parse(readFileSync(join(root, 'data', 'models', 'mnist', 'v1', 'config.json'), 'utf8')) as { shifts?: unknown };
    assert.equal(snapshot.shifts, 5);
    h = await startImages(root);
    const restarted = await classify();
    for (const [k, p] of Object.entries(learned.probabilities)) {
      assert.ok(Math.abs(restarted.probabilities[k]! - p) < 1e-5, `p(${k}) ${p} → ${restarted.probabilities[k]}`);
    }
  });
});
