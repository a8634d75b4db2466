import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { readMnist } from '../../src/attention/mnist-dataset.js';
import { correlation } from '../images/fixtures.js';

const run = promisify(execFile);
const render = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'scripts/render-photo-set.ts', ...args], { encoding: 'utf8' });

describe('npm run render:photos (scripts/render-photo-set.ts)', () => {
  const root = mkdtempSync(join(tmpdir(), 'focal-photo-set-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const train = readMnist('train');
  // Read fresh from disk: these files change between runs.
  const read = (dir: string) => readMnist('train', dir, false);

  it('writes picture i of training digit i, through the service\'s preprocessing, as idx files readMnist reads', async () => {
    const dir = join(root, 'a');
    await render(['--count', '12', '--seed', '5', '--out', dir]);
    const set = readMnist('train', dir);
    assert.equal(set.count, 12);
    assert.equal(set.side, 28);
    assert.deepEqual(Array.from(set.labels), Array.from(train.labels.subarray(0, 12)));
    for (let i = 0; i < 12; i++) {
      const picture = Float32Array.from(set.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
      const digit = Float32Array.from(train.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
      assert.ok(correlation(picture, digit) > 0.3, `picture ${i}: correlation ${correlation(picture, digit).toFixed(2)} with its digit`);
    }
  });

  it('continues where an earlier run stopped, giving the same pictures as one run', async () => {
    const [parts, whole] = [join(root, 'parts'), join(root, 'whole')];
    await render(['--count', '5', '--seed', '6', '--out', parts]);
    const { stdout } = await render(['--count', '9', '--seed', '6', '--out', parts]);
    assert.match(stdout, /continuing after 5 pictures/);
    await render(['--count', '9', '--seed', '6', '--out', whole]);
    const [a, b] = [read(parts), read(whole)];
    assert.equal(a.count, 9);
    assert.deepEqual(a.images, b.images, 'the pictures of a continued run equal those of one run');
    assert.deepEqual(a.labels, b.labels);
  });

  it('renders the same pictures on worker threads, continuing a one-thread run', async () => {
    const [threads, one] = [join(root, 'threads'), join(root, 'one')];
    await render(['--count', '4', '--seed', '7', '--out', threads]);
    // 60 more than a chunk of 50: both threads render, and their chunks come back in either order.
    const { stdout } = await render(['--count', '64', '--seed', '7', '--out', threads, '--workers', '2']);
    assert.match(stdout, /continuing after 4 pictures/);
    assert.match(stdout, /rendering pictures 5–64 on 2 worker threads/);
    assert.match(stdout, /64\/64 pictures/);
    await render(['--count', '64', '--seed', '7', '--out', one]);
    const [a, b] = [read(threads), read(one)];
    assert.equal(a.count, 64);
    assert.deepEqual(a.images, b.images, 'the pictures rendered on two threads equal those of one');
    assert.deepEqual(a.labels, b.labels);
    await assert.rejects(render(['--count', '2', '--seed', '7', '--out', join(root, 'threads-bad'), '--workers', '0']), /--workers must be an integer from 1 to 64, got 0/);
  });

  it('records its pen and continues a folder only with the pen it was started with', async () => {
    const dir = join(root, 'pen');
    await render(['--count', '3', '--seed', '8', '--out', dir, '--thin-pen', 'erode']);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'renderer.json'), 'utf8')), { seed: 8, thinPen: 'erode', strokeFilter: 'grey', calibrateInk: true });
    await assert.rejects(render(['--count', '5', '--seed', '8', '--out', dir]),
      /drawn with the thin pen 'erode', the stroke filter 'grey' and the ink calibration on, not 'line', 'grey' and on: give --thin-pen erode --stroke-filter grey --calibrate-ink on/);
    assert.equal(read(dir).count, 3, 'the refused run changed nothing');
    const { stdout } = await render(['--count', '5', '--seed', '8', '--out', dir, '--thin-pen', 'erode']);
    assert.match(stdout, /continuing after 3 pictures/);
    await assert.rejects(render(['--count', '2', '--seed', '8', '--out', join(root, 'pen-bad'), '--thin-pen', 'marker']), /--thin-pen is erode or line, not marker/);
    await assert.rejects(render(['--count', '2', '--seed', '8', '--out', join(root, 'pen-bad'), '--stroke-filter', 'max']), /--stroke-filter is bitwise or grey, not max/);
  });

  it('takes a folder whose renderer.json names no stroke filter or calibration as drawn with the bitwise filter, read without it', async () => {
    const dir = join(root, 'before-filter');
    await render(['--count', '2', '--seed', '9', '--out', dir, '--stroke-filter', 'bitwise', '--calibrate-ink', 'off']);
    // As render:photos wrote it before the filter and the calibration were recorded.
    writeFileSync(join(dir, 'renderer.json'), `${JSON.stringify({ seed: 9, thinPen: 'line' })}\n`);
    await assert.rejects(render(['--count', '4', '--seed', '9', '--out', dir]), /the stroke filter 'bitwise' and the ink calibration off, not 'line', 'grey' and on/);
    await assert.rejects(render(['--count', '4', '--seed', '9', '--out', dir, '--stroke-filter', 'bitwise']), /calibration off, not 'line', 'bitwise' and on/);
    const { stdout } = await render(['--count', '4', '--seed', '9', '--out', dir, '--stroke-filter', 'bitwise', '--calibrate-ink', 'off']);
    assert.match(stdout, /continuing after 2 pictures/);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'renderer.json'), 'utf8')), { seed: 9, thinPen: 'line', strokeFilter: 'bitwise', calibrateInk: false });
    await assert.rejects(render(['--count', '2', '--seed', '9', '--out', join(root, 'bad-calibration'), '--calibrate-ink', 'yes']), /--calibrate-ink is on or off, not yes/);
  });

  it('refuses the seeds of eval:photos\' held-out sets', async () => {
    await assert.rejects(render(['--count', '2', '--seed', '1', '--out', join(root, 'held-out')]), /--seed must be an integer other than 1 and 2/);
  });
});
