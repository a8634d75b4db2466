import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { loadRamModel, type RamModel } from '../attention/index.js';
import { readMnist } from '../attention/mnist-dataset.js';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { preprocessImage, strokeWidth } from './preprocess.js';
import { ERODE_PEN, photoDigit } from '../../scripts/lib/photo-digits.js';

const MAX_PIXELS = 25_000_000;
const shipped = fileURLToPath(new URL('../../models/ram-mnist', import.meta.url));

/** Stroke width of a 28×28 result, measured at 4× (as the preprocessing measures it). */
async function width28(pixels: Float32Array): Promise<number> {
  const up = await sharp(Buffer.from(pixels.map((v) => Math.round(v * 255))), { raw: { width: 28, height: 28, channels: 1 } })
    .resize(112, 112, { kernel: 'lanczos3' }).extractChannel(0).raw().toBuffer();
  return strokeWidth(up, 112, 112);
}

describe('stroke-width normalisation (preprocessImage evenStrokes)', () => {
  const test = readMnist('test');
  let model: RamModel;
  before(async () => {
    await selectTensorBackend();
    model = await loadRamModel(shipped);
  });
  after(() => model.dispose());

  // Fixed pictures of the photograph-like set (eval:photos, seed 1) that the shipped model misreads
  // without the stroke width evened out: a marker 5 px wider at 4× (much thicker), and a pen
  // 2 px thinner (its strokes faint and thin once the digit is fitted to 20 px). Chosen for the shipped
  // weights: the 7-glimpse models of 2026-12-02 read some earlier pictures (158, 268, 134) right even raw.
  // Drawn with the renderer's earlier thin pen (`'erode'`, faint and thin strokes): the default pen now draws the
  // thin-stroke pictures as a fine line at full ink, which the model reads with or without the normalisation.
  // The ink's calibration (calibrateInk, rule 13) is off on both sides: these pictures test the stroke step alone (with
  // it, picture 257's marker 8, whose filled loops are a shade paler than its strokes, becomes one solid blob).
  for (const [index, kind] of [[699, 'thick-stroke 3'], [257, 'thick-stroke 8'], [403, 'thin-stroke 8'], [485, 'thin-stroke 0']] as const) {
    it(`reads a ${kind} photograph right, which it misreads without the normalisation (picture ${index})`, async () => {
      const { bytes, params } = await photoDigit(test, index, 1, undefined, ERODE_PEN);
      assert.equal(Math.sign(params.stroke), kind.startsWith('thick') ? 1 : -1, 'the picture has the stroke it is chosen for');
      const even = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, calibrateInk: false });
      const raw = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, evenStrokes: false, calibrateInk: false });
      assert.equal(model.classify(even.pixels).predicted, params.label);
      assert.notEqual(model.classify(raw.pixels).predicted, params.label);
      // And the width moved towards MNIST's (≈ 2.3 px at 28×28, measured at 4×: ≈ 9).
      const [w, w0] = [await width28(even.pixels), await width28(raw.pixels)];
      assert.ok(kind.startsWith('thick') ? w < w0 : w > w0, `stroke ${w0.toFixed(1)} → ${w.toFixed(1)} px at 4×`);
    });
  }

  it('thins strokes over thinStrokes.above to thinStrokes.to: the defaults are 16 and 12, and a stroke under the limit is left as drawn', async () => {
    const { bytes, params } = await photoDigit(test, 699, 1, undefined, ERODE_PEN);
    assert.ok(params.stroke > 0, 'a marker');
    const read = async (thinStrokes?: { above: number; to: number }) =>
      (await preprocessImage(bytes, { maxPixels: MAX_PIXELS, calibrateInk: false, ...(thinStrokes ? { thinStrokes } : {}) })).pixels;
    const [byDefault, stated, never, lower] = [await read(), await read({ above: 16, to: 12 }), await read({ above: 1000, to: 12 }), await read({ above: 12, to: 9 })];
    const raw = (await preprocessImage(bytes, { maxPixels: MAX_PIXELS, evenStrokes: false, calibrateInk: false })).pixels;
    assert.deepEqual(stated, byDefault);
    assert.deepEqual(never, raw, 'under the limit, the marker is as drawn');
    const [w, w0, wLower] = [await width28(byDefault), await width28(raw), await width28(lower)];
    assert.ok(wLower < w && w < w0, `stroke ${w0.toFixed(1)} px at 4× → ${w.toFixed(1)} (to 12) and ${wLower.toFixed(1)} (to 9)`);
  });

  it('leaves MNIST digits as they are, but for the few with the finest or broadest strokes, which end at MNIST\'s usual width', async () => {
    let same = 0;
    const n = 40;
    for (let i = 0; i < n; i++) {
      const png = await sharp(Buffer.from(test.images.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
      const even = await preprocessImage(png, { maxPixels: MAX_PIXELS, calibrateInk: false });
      const raw = await preprocessImage(png, { maxPixels: MAX_PIXELS, evenStrokes: false, calibrateInk: false });
      if (even.pixels.every((v, k) => v === raw.pixels[k])) {
        same++;
        continue;
      }
      // Only the outliers are changed (MNIST through this preprocessing, at 4×: 5th percentile 6.0 px,
      // 99th 17.3), and they end inside MNIST's 10th–90th percentile, 6.7–13.0 px (with a little slack).
      const [w, w0] = [await width28(even.pixels), await width28(raw.pixels)];
      assert.ok((w0 < 7 || w0 > 15) && w >= 6.5 && w <= 13.5, `digit ${i}: stroke ${w0.toFixed(1)} → ${w.toFixed(1)} px at 4×`);
    }
    assert.ok(same >= 0.9 * n, `${same} of ${n} digits untouched`);
  });
});

describe('the ink calibrated to MNIST\'s (preprocessImage calibrateInk)', () => {
  const train = readMnist('train');
  const sum = (a: ArrayLike<number>): number => {
    let total = 0;
    for (let i = 0; i < a.length; i++) total += a[i]!;
    return total;
  };

  it('brings a photographed digit\'s pale, thin strokes to about MNIST\'s ink', async () => {
    // The first 24 photographs of training digits (the renderer's seed 4: no held-out set) drawn with the pen as it is.
    let [calibrated, plain, mnist] = [0, 0, 0];
    let n = 0;
    for (let index = 0; n < 24; index++) {
      const { bytes, params } = await photoDigit(train, index, 4);
      if (params.stroke !== 0) continue;
      n++;
      calibrated += sum((await preprocessImage(bytes, { maxPixels: MAX_PIXELS })).pixels);
      plain += sum((await preprocessImage(bytes, { maxPixels: MAX_PIXELS, calibrateInk: false })).pixels);
      mnist += sum(train.images.subarray(index * 784, (index + 1) * 784)) / 255;
    }
    assert.ok(plain / mnist < 0.9, `without: ${(plain / mnist).toFixed(3)} of MNIST's ink`);
    assert.ok(calibrated / mnist > 0.9 && calibrated / mnist < 1.1, `with: ${(calibrated / mnist).toFixed(3)} of MNIST's ink`);
  });

  it('leaves a digit whose ink is at full strength as it is', async () => {
    // A 0 and 255 drawing: more than half its ink is at full strength already.
    const side = 28;
    const img = Buffer.alloc(side * side);
    for (let y = 4; y < 24; y++) for (let x = 11; x < 16; x++) img[y * side + x] = 255;
    for (let x = 8; x < 20; x++) for (let y = 4; y < 8; y++) img[y * side + x] = 255;
    const png = await sharp(img, { raw: { width: side, height: side, channels: 1 } }).png().toBuffer();
    const on = await preprocessImage(png, { maxPixels: MAX_PIXELS });
    const off = await preprocessImage(png, { maxPixels: MAX_PIXELS, calibrateInk: false });
    assert.deepEqual(on.pixels, off.pixels);
  });
});
