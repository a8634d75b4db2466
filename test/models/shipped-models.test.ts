import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import request from 'supertest';
import { loadRamModel, renderTestSet, resolveRamConfig, taskOfConfig, type RamConfig } from '../../src/attention/index.js';
import { validationError } from '../../src/attention/evaluation.js';
import { MODEL_FOLDER_PREFIX } from '../../src/images/model-catalog.js';
import { makeRoot, startImages, type ImagesHarness } from '../images/harness.js';

/**
 * Every model shipped in models/ loads through the images capability and reads
 * its own kind of input — MNIST digits, or digits anywhere on a 60×60 canvas, with or without clutter —
 * sent as PNG files of the canvas, through the real preprocessing.
 */

const MODELS_DIR = 'models';
/** The first SAMPLE images of each model's fixed test set (npm run eval:ram renders the same ones). */
const SAMPLE = 100;
/**
 * How many of them a shipped model must get right: all but its validation error (recorded in its training.json when
 * it was exported, never from test figures) plus three binomial standard deviations, and at most 4 wrong when that is
 * lower. mnist (1.0%) must get 96, translated (2.4%) 92, cluttered (7.3%) 84; an untrained model gets about 10.
 */
function minCorrect(folder: string): number {
  const { validationError: p } = JSON.parse(readFileSync(join(MODELS_DIR, folder, 'training.json'), 'utf8')) as { validationError: number };
  assert.ok(p >= 0 && p < 0.5, `${folder}/training.json: validationError ${p}`);
  return SAMPLE - Math.max(4, Math.ceil(SAMPLE * p + 3 * Math.sqrt(SAMPLE * p * (1 - p))));
}

const shipped = readdirSync(MODELS_DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name.startsWith(MODEL_FOLDER_PREFIX))
  .map((d) => d.name);

describe('shipped image models', () => {
  let h: ImagesHarness;

  before(async () => {
    const root = makeRoot();
    // Copies: the models directory is read-only to the service, and the test's snapshots stay in its temporary root.
    for (const folder of shipped) cpSync(join(MODELS_DIR, folder), join(root, 'models', folder), { recursive: true, filter: (src) => !src.includes('checkpoint') });
    h = await startImages(root, { rewards: false });
  });
  after(() => h.close(true));

  it('ships at least the mnist model', () => {
    assert.ok(shipped.includes(`${MODEL_FOLDER_PREFIX}mnist`), `models/ holds ${shipped.join(', ')}`);
  });

  for (const folder of shipped) {
    const name = folder.slice(MODEL_FOLDER_PREFIX.length);
    it(`${name} classifies ${SAMPLE} images of its own test set, sent as PNG files`, async () => {
      const config = resolveRamConfig(JSON.parse(readFileSync(join(MODELS_DIR, folder, 'config.json'), 'utf8')) as RamConfig);
      const spec = taskOfConfig(config);
      const set = renderTestSet(spec, SAMPLE);
      const side = spec.imageSize;
      let correct = 0;
      for (let n = 0; n < set.count; n++) {
        const bytes = Buffer.from(set.pixels.subarray(n * side * side, (n + 1) * side * side).map((v) => Math.round(v * 255)));
        const png = await sharp(bytes, { raw: { width: side, height: side, channels: 1 } }).png().toBuffer();
        const res = await request(h.focal.app).post('/classify-image').query({ model: name }).set('Content-Type', 'image/png').send(png).expect(200);
        if (res.body.label === config.classes[set.labels[n]!]) correct++;
      }
      const needed = minCorrect(folder);
      assert.ok(correct >= needed, `${name}: ${correct}/${SAMPLE} correct (at least ${needed} needed) on its ${spec.task} ${side}×${side} test images`);
    });
  }
});

describe('the validation split of npm run eval:ram -- --split validation', () => {
  for (const folder of shipped) {
    it(`is the one ${folder} was trained beside: its validation error, recomputed, is the one its training.json recorded`, async () => {
      const { validationError: recorded } = JSON.parse(readFileSync(join(MODELS_DIR, folder, 'training.json'), 'utf8')) as { validationError: number };
      const model = await loadRamModel(join(MODELS_DIR, folder));
      try {
        const r = validationError(model.network);
        assert.equal(r.count, 5000);
        assert.equal(r.wrong, Math.round(recorded * r.count), `${folder}: ${r.wrong} of ${r.count} wrong, training.json says ${recorded}`);
      } finally {
        model.dispose();
      }
    });
  }
});
