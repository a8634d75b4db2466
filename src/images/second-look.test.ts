import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { validationDigits } from '../attention/evaluation.js';
import { loadRamModel, type RamModel } from '../attention/index.js';
import { readMnist } from '../attention/mnist-dataset.js';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { preprocessImage } from './preprocess.js';
import { photoDigit } from '../../scripts/lib/photo-digits.js';

const MAX_PIXELS = 25_000_000;
const WORKING_SIDE = 512;
const shipped = fileURLToPath(new URL('../../models/ram-mnist', import.meta.url));

describe('the second look for a digit\'s ink (preprocessImage secondLook)', () => {
  // Pictures of the shipped model's own held-out digits (eval:photos --digits validation, seed 1), where
  // the preprocessing was changed: thin pens (stroke −2 at 4×) on textured paper, their strokes broken
  // into faint dashes that the first look leaves out.
  let model: RamModel;
  let train: ReturnType<typeof validationDigits>['digits'];
  let validation: number[];
  before(async () => {
    await selectTensorBackend();
    model = await loadRamModel(shipped);
    ({ digits: train, indices: validation } = validationDigits(model.config));
  });
  after(() => model.dispose());

  for (const k of [754, 805, 921]) {
    it(`reads picture ${k} of the validation digits right, which it misreads from the first look alone`, async () => {
      const { bytes, params } = await photoDigit(train, validation[k]!, 1);
      assert.ok(params.stroke < 0, 'a thin pen');
      const second = await preprocessImage(bytes, { maxPixels: MAX_PIXELS });
      const first = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, secondLook: false });
      assert.equal(model.classify(second.pixels).predicted, params.label);
      assert.notEqual(model.classify(first.pixels).predicted, params.label);
    });
  }

  it('finds the whole of a broken stroke: the ink\'s box spans the digit drawn, not its strongest dashes', async () => {
    const { bytes, params } = await photoDigit(train, validation[921]!, 1);
    // The digit's ink spans about 20/28 of its field (MNIST), in working pixels.
    const scale = Math.min(1, WORKING_SIDE / Math.max(params.width, params.height));
    const drawn = (params.digitSide * scale * 20) / 28;
    const second = await preprocessImage(bytes, { maxPixels: MAX_PIXELS });
    const first = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, secondLook: false });
    const extent = (ink: typeof first.ink) => Math.max(ink!.width, ink!.height);
    assert.ok(extent(second.ink) >= 0.9 * drawn && extent(second.ink) <= 1.1 * drawn, `${extent(second.ink)} px against ${drawn.toFixed(0)} drawn`);
    assert.ok(extent(first.ink) < 0.7 * drawn, `the first look's ${extent(first.ink)} px`);
  });

  it('leaves clean scans as the first look reads them: dark digits of 100 px on a plain white page of 700 px', async () => {
    const sharp = (await import('sharp')).default;
    const test = readMnist('test');
    let worst = 0;
    for (let i = 0; i < 30; i++) {
      const digit = Buffer.from(test.images.subarray(i * 784, (i + 1) * 784));
      const png = await sharp(digit, { raw: { width: 28, height: 28, channels: 1 } }).negate().resize(100, 100, { kernel: 'cubic' })
        .extend({ top: 300, bottom: 300, left: 250, right: 350, background: '#ffffff' }).png().toBuffer();
      const second = await preprocessImage(png, { maxPixels: MAX_PIXELS });
      const first = await preprocessImage(png, { maxPixels: MAX_PIXELS, secondLook: false });
      assert.equal(model.classify(second.pixels).predicted, model.classify(first.pixels).predicted, `test digit ${i}`);
      for (let p = 0; p < 784; p++) worst = Math.max(worst, Math.abs(second.pixels[p]! - first.pixels[p]!));
    }
    assert.ok(worst < 0.15, `largest change of a pixel: ${worst.toFixed(3)}`);
  });
});
