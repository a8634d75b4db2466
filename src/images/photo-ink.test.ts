import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { validationDigits } from '../attention/evaluation.js';
import { loadRamModel, type RamModel } from '../attention/index.js';
import { readMnist } from '../attention/mnist-dataset.js';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { preprocessImage } from './preprocess.js';
import { BITWISE_LINE_PEN, ERODE_PEN, photoDigit, photoParams, renderPhoto } from '../../scripts/lib/photo-digits.js';

const MAX_PIXELS = 25_000_000;
const WORKING_SIDE = 512;
const shipped = fileURLToPath(new URL('../../models/ram-mnist', import.meta.url));

// The shipped model, and its held-out training digits (the pictures below are of those).
let model: RamModel;
let train: ReturnType<typeof validationDigits>['digits'];
let validation: number[];
before(async () => {
  await selectTensorBackend();
  model = await loadRamModel(shipped);
  ({ digits: train, indices: validation } = validationDigits(model.config));
});
after(() => model.dispose());

describe('the second look for a digit\'s ink (preprocessImage secondLook)', () => {
  // At the working size (zoom off: the zoom reads some of these from finer pixels). Pictures of the shipped model's own held-out digits (eval:photos --digits validation, seed 1), where
  // the preprocessing was changed: thin pens (stroke −2 at 4×) on textured paper, their strokes broken
  // into faint dashes that the first look leaves out. Drawn with the renderer's earlier thin pen (`'erode'`), which
  // breaks faint strokes as a fading pen or a light touch does; the default pen now draws them whole.

  for (const k of [754, 805, 921]) {
    it(`reads picture ${k} of the validation digits right, which it misreads from the first look alone`, async () => {
      const { bytes, params } = await photoDigit(train, validation[k]!, 1, undefined, ERODE_PEN);
      assert.ok(params.stroke < 0, 'a thin pen');
      const second = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, zoom: false });
      const first = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, secondLook: false, zoom: false });
      assert.equal(model.classify(second.pixels).predicted, params.label);
      assert.notEqual(model.classify(first.pixels).predicted, params.label);
    });
  }

  it('finds the whole of a broken stroke: the ink\'s box spans the digit drawn, not its strongest dashes', async () => {
    const { bytes, params } = await photoDigit(train, validation[921]!, 1, undefined, ERODE_PEN);
    // The digit's ink spans about 20/28 of its field (MNIST), in working pixels.
    const scale = Math.min(1, WORKING_SIDE / Math.max(params.width, params.height));
    const drawn = (params.digitSide * scale * 20) / 28;
    const second = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, zoom: false });
    const first = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, secondLook: false, zoom: false });
    const extent = (ink: typeof first.ink) => Math.max(ink!.width, ink!.height);
    assert.ok(extent(second.ink) >= 0.9 * drawn && extent(second.ink) <= 1.1 * drawn, `${extent(second.ink)} px against ${drawn.toFixed(0)} drawn`);
    assert.ok(extent(first.ink) < 0.7 * drawn, `the first look's ${extent(first.ink)} px`);
  });

  it('leaves clean scans as the first look reads them: dark digits of 100 px on a plain white page of 700 px', async () => {
    const test = readMnist('test');
    let worst = 0;
    for (let i = 0; i < 30; i++) {
      const digit = Buffer.from(test.images.subarray(i * 784, (i + 1) * 784));
      const png = await sharp(digit, { raw: { width: 28, height: 28, channels: 1 } }).negate().resize(100, 100, { kernel: 'cubic' })
        .extend({ top: 300, bottom: 300, left: 250, right: 350, background: '#ffffff' }).png().toBuffer();
      const second = await preprocessImage(png, { maxPixels: MAX_PIXELS, zoom: false });
      const first = await preprocessImage(png, { maxPixels: MAX_PIXELS, secondLook: false, zoom: false });
      assert.equal(model.classify(second.pixels).predicted, model.classify(first.pixels).predicted, `test digit ${i}`);
      for (let p = 0; p < 784; p++) worst = Math.max(worst, Math.abs(second.pixels[p]! - first.pixels[p]!));
    }
    assert.ok(worst < 0.15, `largest change of a pixel: ${worst.toFixed(3)}`);
  });
});

describe('zooming in on a digit that the working size shrank (preprocessImage zoom)', () => {

  /** Picture k of the validation digits (eval:photos seed 5) as a 2400 × 1800 phone photo with a 100 px digit. */
  async function phonePhoto(k: number): Promise<{ bytes: Buffer; label: number }> {
    const { bytes, params } = await photoDigit(train, validation[k]!, 5, { width: 2400, height: 1800, digitSide: 100 }, BITWISE_LINE_PEN);
    return { bytes, label: params.label };
  }

  // The first two of these photographs that the model reads right only with the zoom.
  for (const k of [0, 14]) {
    it(`reads the 100 px digit of a 2400 px photograph right (picture ${k}), which it misreads at the working size`, async () => {
      const { bytes, label } = await phonePhoto(k);
      const zoomed = await preprocessImage(bytes, { maxPixels: MAX_PIXELS });
      const working = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, zoom: false });
      assert.equal(model.classify(zoomed.pixels).predicted, label);
      assert.notEqual(model.classify(working.pixels).predicted, label);
      // Both find the digit in the same place of the working picture (the box reported in working pixels).
      const centre = (b: typeof zoomed.ink) => [b!.left + b!.width / 2, b!.top + b!.height / 2];
      const [a, b] = [centre(zoomed.ink), centre(working.ink)];
      assert.ok(Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!) < 3, `${zoomed.ink} against ${working.ink}`);
    });
  }

  it('finds the region in a phone photo stored sideways (EXIF orientation 6) as in the upright one', async () => {
    const { bytes, label } = await phonePhoto(0);
    // Stored turned a quarter to the left, with the tag that tells a viewer to turn it back (both as lossless
    // WebP, so that the two differ only in how they are stored).
    const sideways = await sharp(bytes).rotate(-90).withMetadata({ orientation: 6 }).webp({ lossless: true }).toBuffer();
    const uprightWebp = await sharp(bytes).webp({ lossless: true }).toBuffer();
    const upright = await preprocessImage(uprightWebp, { maxPixels: MAX_PIXELS });
    const turned = await preprocessImage(sideways, { maxPixels: MAX_PIXELS });
    assert.equal(turned.source.orientation, 6);
    assert.equal(model.classify(turned.pixels).predicted, label);
    assert.deepEqual(turned.ink, upright.ink);
    let worst = 0;
    for (let i = 0; i < upright.pixels.length; i++) worst = Math.max(worst, Math.abs(turned.pixels[i]! - upright.pixels[i]!));
    assert.ok(worst < 0.02, `largest pixel difference ${worst}`);
  });

  it('leaves a picture the working size did not shrink, or whose digit stays large, as it was', async () => {
    // The first picture of the set within the working size, and picture 0 as a 1400 × 1000 photograph
    // with a 700 px digit (≈ 180 px of ink at the working size, over ZOOM_BELOW's 128).
    let small = 0;
    while (Math.max(photoParams(train, validation[small]!, 1).width, photoParams(train, validation[small]!, 1).height) > WORKING_SIDE) small++;
    const p = photoParams(train, validation[0]!, 1);
    const pictures = [
      (await photoDigit(train, validation[small]!, 1)).bytes,
      await renderPhoto(train, { ...p, digitSide: 700, width: 1400, height: 1000, centreX: 700, centreY: 500, angle: 0 }),
    ];
    for (const bytes of pictures) {
      const zoomed = await preprocessImage(bytes, { maxPixels: MAX_PIXELS });
      const working = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, zoom: false });
      assert.ok(zoomed.ink, 'a digit is found');
      assert.deepEqual(zoomed.pixels, working.pixels);
    }
  });
});
