import { parseArgs } from 'node:util';
import { loadRamModel } from '../src/attention/index.js';
import { readMnist } from '../src/attention/mnist-dataset.js';
import { preprocessImage } from '../src/images/preprocess.js';
import { selectTensorBackend } from '../src/platform/tensor-backend.js';
import { photoParams, renderPhoto } from './lib/photo-digits.js';
await selectTensorBackend();
const model = await loadRamModel('models/ram-mnist');
const test = readMnist('test');
const cond = parseArgs({ allowPositionals: true, options: {} }).positionals[0] ?? 'thick';
let n = 0, right = 0;
for (let i = 0; i < 1000; i++) {
  const p = photoParams(test, i, 1);
  if (cond === 'thick' ? p.stroke < 3 : cond === 'thin' ? p.stroke >= 0 : !(p.blur >= 0.3 && p.blur / Math.max(1, p.digitSide / 80) < 0.8)) continue;
  const pre = await preprocessImage(await renderPhoto(test, p), { maxPixels: 25e6 });
  n++;
  if (model.classify(pre.pixels).predicted === p.label) right++;
}
console.log(cond, n, (right / n * 100).toFixed(2));
