import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { renderTestSet, taskSpec } from '../attention/index.js';
import { HttpError } from '../http/errors.js';
import { Xoshiro128 } from '../bandit/random/seeded-rng.js';
import { decodeWorking, preprocessImage, sniffImage, strokeWidth } from './preprocess.js';
import { correlation, inkStats, lyingPng, mnistTestDigit, paperPicture, transparentGlyph } from '../../test/images/fixtures.js';

const MAX_PIXELS = 25_000_000;

function assertCentredDigit(pixels: Float32Array): void {
  assert.equal(pixels.length, 784);
  for (const v of pixels) assert.ok(v >= 0 && v <= 1, `value ${v} outside [0, 1]`);
  const s = inkStats(pixels);
  assert.equal(Math.max(s.width, s.height), 20, 'the longest side of the ink is fitted to 20 px');
  assert.ok(Math.abs(s.cx - 14) <= 1 && Math.abs(s.cy - 14) <= 1, `centre of mass (${s.cx}, ${s.cy}) is within a pixel of the centre`);
  // White on black: the corners are background.
  for (const i of [0, 27, 27 * 28, 783]) assert.equal(pixels[i], 0);
}

describe('preprocessImage', () => {
  it('turns a black-on-white 300×200 JPEG of a digit into a white-on-black centred 28×28', async () => {
    const digit = mnistTestDigit(0);
    const jpeg = await paperPicture(digit.pixels, { width: 300, height: 200 });
    assert.equal((await sharp(jpeg).metadata()).format, 'jpeg');
    const out = await preprocessImage(jpeg, { maxPixels: MAX_PIXELS });
    assert.equal(out.inverted, true);
    assert.deepEqual([out.source.width, out.source.height], [300, 200]);
    assertCentredDigit(out.pixels);
    // It is the same digit MNIST's own preprocessing produced.
    assert.ok(correlation(out.pixels, digit.pixels) > 0.8, `correlation ${correlation(out.pixels, digit.pixels)}`);
  });

  it('evens out uneven lighting (a shadow across the page)', async () => {
    const digit = mnistTestDigit(0);
    const out = await preprocessImage(await paperPicture(digit.pixels, { shadow: true }), { maxPixels: MAX_PIXELS });
    assertCentredDigit(out.pixels);
    assert.ok(correlation(out.pixels, digit.pixels) > 0.8, `correlation ${correlation(out.pixels, digit.pixels)}`);
  });

  it('leaves an MNIST digit as it is (already white on black and centred)', async () => {
    const digit = mnistTestDigit(3);
    const raw = Buffer.from(digit.pixels.map((v) => Math.round(v * 255)));
    const png = await sharp(raw, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
    const out = await preprocessImage(png, { maxPixels: MAX_PIXELS });
    assert.equal(out.inverted, false);
    assert.ok(correlation(out.pixels, digit.pixels) > 0.9, `correlation ${correlation(out.pixels, digit.pixels)}`);
  });

  it('flattens dark ink on a transparent canvas onto white, so the ink survives', async () => {
    const out = await preprocessImage(await transparentGlyph('7'), { maxPixels: MAX_PIXELS });
    assert.equal(out.inverted, true);
    assertCentredDigit(out.pixels);
  });

  it('honours EXIF orientation', async () => {
    const digit = mnistTestDigit(1);
    const upright = await paperPicture(digit.pixels, { format: 'png' });
    // Stored rotated by 90° with orientation 6 ("rotate 90° clockwise to display").
    const stored = await sharp(upright).rotate(-90).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const a = await preprocessImage(upright, { maxPixels: MAX_PIXELS });
    const b = await preprocessImage(stored, { maxPixels: MAX_PIXELS });
    assert.ok(correlation(a.pixels, b.pixels) > 0.9, `correlation ${correlation(a.pixels, b.pixels)}`);
  });

  it('finds the digit among specks of noise and grain: they do not widen the crop', async () => {
    const digit = mnistTestDigit(0);
    const { data } = await sharp(await paperPicture(digit.pixels, { width: 300, height: 200, format: 'png' })).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    // Dark specks in three corners (a crumb, a pen tick) and grain all over.
    for (const [sx, sy] of [[8, 8], [285, 12], [20, 185]] as const) {
      for (let y = sy; y < sy + 4; y++) for (let x = sx; x < sx + 4; x++) for (let c = 0; c < 3; c++) data[(y * 300 + x) * 3 + c] = 40;
    }
    const rng = new Xoshiro128(1);
    for (let i = 0; i < data.length; i++) data[i] = Math.max(0, Math.min(255, data[i]! + (rng.nextUint32() % 41) - 20));
    const jpeg = await sharp(data, { raw: { width: 300, height: 200, channels: 3 } }).jpeg({ quality: 60 }).toBuffer();
    const out = await preprocessImage(jpeg, { maxPixels: MAX_PIXELS });
    assert.ok(out.ink && out.ink.width < 120 && out.ink.height < 120, `ink box ${JSON.stringify(out.ink)} is the digit's`);
    assertCentredDigit(out.pixels);
    assert.ok(correlation(out.pixels, digit.pixels) > 0.8, `correlation ${correlation(out.pixels, digit.pixels)}`);
  });

  it('thickens a fine-pen stroke to MNIST\'s width', async () => {
    const digit = mnistTestDigit(0);
    const ink = Buffer.from(digit.pixels.map((v) => Math.round(v * 255)));
    // The digit drawn 224 px tall with a pen a third of MNIST's width, dark on paper.
    const thin = await sharp(await sharp(ink, { raw: { width: 28, height: 28, channels: 1 } }).resize(224, 224, { kernel: 'cubic' }).extractChannel(0).raw().toBuffer(),
      { raw: { width: 224, height: 224, channels: 1 } }).dilate(4).negate().png().toBuffer();
  const page = await sharp({ create: { width: 344, height: 304, channels: 3, background: '#fff' } }).composite([{ input: thin, left: 60, top: 40 }]).png().toBuffer();
    const out = await preprocessImage(page, { maxPixels: MAX_PIXELS });
    assertCentredDigit(out.pixels);
    const up = async (pixels: Float32Array) => sharp(Buffer.from(pixels.map((v) => Math.round(v * 255))), { raw: { width: 28, height: 28, channels: 1 } })
      .resize(112, 112, { kernel: 'lanczos3' }).extractChannel(0).raw().toBuffer();
    const mnist = strokeWidth(await up(digit.pixels), 112, 112);
    const read = strokeWidth(await up(out.pixels), 112, 112);
    assert.ok(read > 0.7 * mnist, `stroke ${read.toFixed(1)} px against MNIST's ${mnist.toFixed(1)} px (at 4×)`);
    assert.ok(correlation(out.pixels, digit.pixels) > 0.75, `correlation ${correlation(out.pixels, digit.pixels)}`);
  });

  it('returns an empty field for a blank picture', async () => {
    const blank = await sharp({ create: { width: 50, height: 40, channels: 3, background: '#fff' } }).png().toBuffer();
    const out = await preprocessImage(blank, { maxPixels: MAX_PIXELS });
    assert.equal(out.ink, null);
    assert.ok(out.pixels.every((v) => v === 0));
  });

  it('refuses a header that claims too many pixels before decoding (413) and bytes that are no image (422)', async () => {
    await assert.rejects(preprocessImage(await lyingPng(100_000, 100_000), { maxPixels: MAX_PIXELS }),
      (err: unknown) => err instanceof HttpError && err.status === 413 && err.extra.limit === 'FOCAL_MAX_IMAGE_PIXELS');
    await assert.rejects(preprocessImage(Buffer.from('not an image at all'), { maxPixels: MAX_PIXELS }),
      (err: unknown) => err instanceof HttpError && err.status === 422);
    const png = await paperPicture(mnistTestDigit(2).pixels, { format: 'png' });
    await assert.rejects(preprocessImage(png.subarray(0, png.length >> 1), { maxPixels: MAX_PIXELS }),
      (err: unknown) => err instanceof HttpError && err.status === 422);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
    await assert.rejects(preprocessImage(svg, { maxPixels: MAX_PIXELS }), (err: unknown) => err instanceof HttpError && err.status === 422);
  });

  it('decodes small JPEG and PNG uploads in JavaScript to libvips\' pixels (within one grey level), alpha included', async () => {
    const digit = mnistTestDigit(3);
    const grey = Buffer.from(digit.pixels.map((v) => Math.round(v * 255)));
    const raw = { raw: { width: 28, height: 28, channels: 1 as const } };
    const colour = await sharp(await paperPicture(digit.pixels, { format: 'png' })).resize(60, 40).png().toBuffer();
    const rgba = Buffer.alloc(28 * 28 * 4);
    for (let i = 0; i < 784; i++) rgba.set([200, 40, 90, grey[i]!], i * 4);
    const cases: [string, Buffer, boolean][] = [
      ['grey JPEG 28×28', await sharp(grey, raw).jpeg({ quality: 90 }).toBuffer(), false],
      ['colour JPEG 60×40', await sharp(colour).jpeg().toBuffer(), false],
      ['grey PNG 28×28', await sharp(grey, raw).png().toBuffer(), false],
      ['RGBA PNG 28×28', await sharp(rgba, { raw: { width: 28, height: 28, channels: 4 } }).png().toBuffer(), true],
      ['palette PNG 60×40', await sharp(colour).png({ palette: true }).toBuffer(), false],
      ['16-bit PNG 28×28', await sharp(grey, raw).toColourspace('grey16').png().toBuffer(), false],
    ];
    for (const [name, bytes, hasAlpha] of cases) {
      const source = sniffImage(bytes, MAX_PIXELS)!;
      const js = await decodeWorking(bytes, MAX_PIXELS, source);
      const vips = await decodeWorking(bytes, MAX_PIXELS, source, false);
      assert.deepEqual([js.width, js.height], [vips.width, vips.height], name);
      assert.equal(js.alpha !== undefined, hasAlpha, `${name}: alpha`);
      assert.equal(vips.alpha !== undefined, hasAlpha, `${name}: libvips' alpha`);
      let worst = 0;
      for (let i = 0; i < js.grey.length; i++) worst = Math.max(worst, Math.abs(js.grey[i]! - vips.grey[i]!));
      assert.ok(worst <= 1.5 / 255, `${name}: grey differs by ${worst * 255} levels`);
      for (let i = 0; hasAlpha && i < js.grey.length; i++) assert.ok(Math.abs(js.alpha![i]! - vips.alpha![i]!) <= 1 / 255, `${name}: alpha`);
    }
    // The JavaScript decoders take only upright pictures of at most 64×64: an EXIF-rotated small JPEG is turned by
    // libvips, so both decoders agree on it too, and a truncated small JPEG is still refused with libvips' 422.
    const tagged = await sharp(grey, raw).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const turned = await decodeWorking(tagged, MAX_PIXELS, sniffImage(tagged, MAX_PIXELS)!);
    const upright = await sharp(grey, raw).rotate(90).raw().toBuffer({ resolveWithObject: true });
    let worst = 0;
    for (let i = 0; i < 784; i++) worst = Math.max(worst, Math.abs(turned.grey[i]! * 255 - upright.data[i * upright.info.channels]!));
    assert.ok(worst < 40, `the EXIF-tagged JPEG is turned upright (worst difference ${worst} levels)`);
    // A PNG or WebP carries its orientation in EXIF too, which the JavaScript header reader does not read: such a
    // picture is probed and turned by libvips, while one without EXIF is still read in JavaScript.
    const uprightPixels = (await preprocessImage(await sharp(grey, raw).rotate(90).png().toBuffer(), { maxPixels: MAX_PIXELS })).pixels;
    for (const [name, encode] of [['PNG', (x: Sharp) => x.png()], ['WebP', (x: Sharp) => x.webp({ lossless: true })]] as const) {
      assert.equal(sniffImage(await encode(sharp(grey, raw)).toBuffer(), MAX_PIXELS)?.orientation, 1, `${name} without EXIF`);
      const exif = await encode(sharp(grey, raw).withMetadata({ orientation: 6 })).toBuffer();
      assert.equal(sniffImage(exif, MAX_PIXELS), undefined, `${name} with EXIF`);
      const read = await preprocessImage(exif, { maxPixels: MAX_PIXELS });
      assert.equal(read.source.orientation, 6, name);
      assert.deepEqual(read.pixels, uprightPixels, `${name}: turned upright`);
    }
    const jpeg = await sharp(grey, raw).jpeg().toBuffer();
    await assert.rejects(preprocessImage(jpeg.subarray(0, jpeg.length >> 1), { maxPixels: MAX_PIXELS }),
      (err: unknown) => err instanceof HttpError && err.status === 422);
  });

  describe('canvas placement (models with a larger canvas)', () => {
    const translated = renderTestSet(taskSpec('translated'), 3);
    const canvas = (n: number) => translated.pixels.subarray(n * 3600, (n + 1) * 3600);
    const png = (pixels: Float32Array, side: number) =>
      sharp(Buffer.from(pixels.map((v) => Math.round(v * 255))), { raw: { width: side, height: side, channels: 1 } }).png().toBuffer();

    it('reads a 60×60 upload pixel for pixel: the digit stays where it is, at its size', async () => {
      for (const n of [0, 1, 2]) {
        const input = canvas(n);
        const out = await preprocessImage(await png(input, 60), { maxPixels: MAX_PIXELS, size: 60, placement: 'canvas' });
        assert.equal(out.placement, 'canvas');
        assert.equal(out.pixels.length, 3600);
        const a = inkStats(input, 60);
        const b = inkStats(out.pixels, 60);
        assert.ok(Math.abs(a.cx - b.cx) < 0.5 && Math.abs(a.cy - b.cy) < 0.5, `centre of mass (${a.cx}, ${a.cy}) → (${b.cx}, ${b.cy})`);
        // Only the faint anti-aliasing below the noise floor goes; no resampling, no crop, no fit.
        assert.ok(Math.abs(a.width - b.width) <= 2 && Math.abs(a.height - b.height) <= 2, `ink box ${a.width}×${a.height} → ${b.width}×${b.height}`);
        assert.ok(correlation(out.pixels, input) > 0.98, `correlation ${correlation(out.pixels, input)}`);
        for (let i = 0; i < 3600; i++) if (input[i] === 0) assert.equal(out.pixels[i], 0, `background pixel ${i} stays black`);
      }
    });

    it('scales a larger upload down to the canvas and pads a smaller one without scaling', async () => {
      const input = canvas(0);
      const big = await sharp(await png(input, 60)).resize(180, 180, { kernel: 'nearest' }).png().toBuffer();
      const down = await preprocessImage(big, { maxPixels: MAX_PIXELS, size: 60, placement: 'canvas' });
      const a = inkStats(input, 60);
      const b = inkStats(down.pixels, 60);
      assert.ok(Math.abs(a.cx - b.cx) < 1 && Math.abs(a.cy - b.cy) < 1, `centre of mass (${a.cx}, ${a.cy}) → (${b.cx}, ${b.cy})`);
      assert.ok(correlation(down.pixels, input) > 0.9, `correlation ${correlation(down.pixels, input)}`);

      const digit = mnistTestDigit(5);
      const small = await preprocessImage(await png(digit.pixels, 28), { maxPixels: MAX_PIXELS, size: 60, placement: 'canvas' });
      const s = inkStats(small.pixels, 60);
      const d = inkStats(digit.pixels, 28);
      // 28 px centred in 60: offset 16, same size.
      assert.ok(Math.abs(s.cx - (d.cx + 16)) < 0.5 && Math.abs(s.cy - (d.cy + 16)) < 0.5, `centre of mass (${s.cx}, ${s.cy})`);
      assert.ok(Math.abs(s.width - d.width) <= 2 && Math.abs(s.height - d.height) <= 2);
    });

    it('normalises a photo-like picture (dark ink on paper) without cropping it', async () => {
      const out = await preprocessImage(await paperPicture(mnistTestDigit(0).pixels, { width: 300, height: 300, format: 'png' }), { maxPixels: MAX_PIXELS, size: 60, placement: 'canvas' });
      assert.equal(out.inverted, true);
      const s = inkStats(out.pixels, 60);
      // paperPicture puts the 140 px digit at 55% / 45% of the 300 px page: at 60 px, 28 px wide, off-centre.
      assert.ok(Math.max(s.width, s.height) < 30, `ink ${s.width}×${s.height} is not fitted to the field`);
      assert.ok(s.cx > 30 && s.cy < 30, `centre of mass (${s.cx}, ${s.cy}) keeps the digit's place on the page`);
    });
  });
});
