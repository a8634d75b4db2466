import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { readMnist } from '../../src/attention/mnist-dataset.js';
import { preprocessImage } from '../../src/images/preprocess.js';
import { correlation } from '../images/fixtures.js';
import { photoDigit, photoParams } from '../../scripts/lib/photo-digits.js';

describe('photograph-like test pictures (scripts/lib/photo-digits.ts)', () => {
  const test = readMnist('test');

  it('picture i depends only on (seed, i): the same bytes every time, other seeds differ', async () => {
    const a = await photoDigit(test, 3, 1);
    const b = await photoDigit(test, 3, 1);
    assert.deepEqual(a.params, b.params);
    assert.ok(a.bytes.equals(b.bytes));
    assert.notDeepEqual(photoParams(test, 3, 2), a.params);
    assert.notDeepEqual(photoParams(test, 4, 1), a.params);
    assert.equal(a.params.label, test.labels[3]);
  });

  it('draws dark ink on light paper at the stated size and format, and the service reads the digit back', async () => {
    for (const index of [0, 1, 2, 5, 8]) {
      const { bytes, params } = await photoDigit(test, index, 1);
      const meta = await sharp(bytes).metadata();
      assert.equal(meta.format, params.format);
      assert.deepEqual([meta.width, meta.height], [params.width, params.height]);
      const { data, info } = await sharp(bytes).greyscale().raw().toBuffer({ resolveWithObject: true });
      const at = (x: number, y: number) => data[Math.round(y) * info.width + Math.round(x)]!;
      const corners = [at(0, 0), at(info.width - 1, 0), at(0, info.height - 1), at(info.width - 1, info.height - 1)];
      assert.ok(Math.max(...corners) > 110, `paper is light (corners ${corners.join(', ')})`);
      let darkest = 255;
      for (let i = 0; i < data.length; i++) darkest = Math.min(darkest, data[i]!);
      assert.ok(darkest < Math.max(...corners) - 60, `ink (${darkest}) is darker than the paper`);
      const pre = await preprocessImage(bytes, { maxPixels: 25_000_000 });
      const digit = Float32Array.from(test.images.subarray(index * 784, (index + 1) * 784), (v) => v / 255);
      assert.ok(correlation(pre.pixels, digit) > 0.5, `picture ${index}: correlation ${correlation(pre.pixels, digit).toFixed(2)} with the MNIST digit`);
    }
  });
});
