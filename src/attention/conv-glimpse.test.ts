import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { handHybridGradients } from './backprop.js';
import { col2im3x3, ConvGlimpse, im2col3x3, im2col3x3Transposed } from './conv-glimpse.js';
import { hybridLoss } from './hybrid-loss.js';
import { Parameters } from './parameters.js';
import { mnistRamConfig, resolveRamConfig } from './ram-config.js';
import { createRamModel, loadRamModel } from './ram-model.js';
import { RamNetwork } from './ram-network.js';
import { Rng } from './rng.js';
import { assertSameGradients } from '../../test/gradient-agreement.js';
import { tapeHybridGradients } from './training-step.js';

await selectTensorBackend();

/** ram-network.test.ts's small network, with 6×6 patches (6 → 4 → 2 through the two convolutions). */
function smallConvNetwork(overrides: Record<string, unknown> = {}, seed = 7): RamNetwork {
  const config = resolveRamConfig(
    mnistRamConfig({
      imageSize: 12, patchSize: 6, scales: 2, glimpses: 3, glimpseHidden: 6, locationHidden: 5, glimpseOutput: 7, hiddenSize: 8, locationStd: 0.2,
      glimpseConv: { channels: [3, 4] },
      ...overrides,
    }),
  );
  return new RamNetwork(config, new Rng(seed));
}

function randomValues(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.uniform(lo, hi));
}

/** ReLU layers start with zero biases: random ones move units off the kink (see ram-network.test.ts). */
function randomiseBiases(params: Parameters | RamNetwork['params'], seed: number): void {
  const rng = new Rng(seed);
  for (const name of params.names().filter((n) => n.endsWith('.bias'))) {
    const v = params.get(name);
    tf.tidy(() => v.assign(tf.tensor(Float32Array.from({ length: v.size }, () => rng.uniform(-0.3, 0.3)), v.shape)));
  }
}

// Stride 2 at g = 8: the second convolution reads rows and columns 0–4 of the 6×6 map (its windows start at 0 and 2),
// so the last row and column go unread; at g = 7 the 5×5 map is read whole.
for (const [g, stride] of [[7, 1], [7, 2], [8, 2]] as const)
test(`the convolutional pathway equals a direct 3×3 valid convolution in plain loops (patch ${g}, second stride ${stride})`, () => {
  const [scales, c1, c2, batch] = [3, 3, 5, 4];
  const params = new Parameters(new Rng(3));
  const conv = new ConvGlimpse(params, { patchSize: g, scales, channels: [c1, c2], stride });
  randomiseBiases(params, 5);
  const w1 = params.get('glimpse.conv1.weight').dataSync();
  const b1 = params.get('glimpse.conv1.bias').dataSync();
  const w2 = params.get('glimpse.conv2.weight').dataSync();
  const b2 = params.get('glimpse.conv2.bias').dataSync();
  assert.deepEqual(params.get('glimpse.conv1.weight').shape, [9, c1]);
  assert.deepEqual(params.get('glimpse.conv2.weight').shape, [9 * c1, c2]);
  const retina = randomValues(batch * scales * g * g, 11);
  const got = tf.tidy(() => conv.apply(tf.tensor2d(retina, [batch, scales * g * g])).dataSync());
  // Direct: layer 1 reads x[b][s][i + dy][j + dx], layer 2 a1[i·stride + dy][j·stride + dx][c]; weight rows (dy, dx, channel in).
  const s1 = g - 2;
  const s2 = stride === 1 ? g - 4 : Math.floor((s1 - 3) / 2) + 1;
  assert.equal(conv.outputs, scales * s2 * s2 * c2);
  assert.equal(got.length, batch * conv.outputs);
  let worst = 0;
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < scales; s++) {
      const patch = (b * scales + s) * g * g;
      const a1 = new Float64Array(s1 * s1 * c1);
      for (let i = 0; i < s1; i++) {
        for (let j = 0; j < s1; j++) {
          for (let c = 0; c < c1; c++) {
            let v = b1[c]!;
            for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) v += retina[patch + (i + dy) * g + j + dx]! * w1[(dy * 3 + dx) * c1 + c]!;
            a1[(i * s1 + j) * c1 + c] = Math.max(0, v);
          }
        }
      }
      for (let i = 0; i < s2; i++) {
        for (let j = 0; j < s2; j++) {
          for (let o = 0; o < c2; o++) {
            let v = b2[o]!;
            for (let dy = 0; dy < 3; dy++) {
              for (let dx = 0; dx < 3; dx++) {
                for (let c = 0; c < c1; c++) v += a1[((i * stride + dy) * s1 + j * stride + dx) * c1 + c]! * w2[((dy * 3 + dx) * c1 + c) * c2 + o]!;
              }
            }
            const expected = Math.max(0, v);
            const actual = got[b * conv.outputs + s * s2 * s2 * c2 + (i * s2 + j) * c2 + o]!;
            worst = Math.max(worst, Math.abs(actual - expected) / Math.max(1, Math.abs(expected)));
          }
        }
      }
    }
  }
  assert.ok(worst < 1e-5, `largest relative difference ${worst}`);
  params.dispose();
});

for (const [side, stride] of [[6, 1], [6, 2], [7, 2]] as const)
test(`col2im is the adjoint of im2col: <im2col(x), y> = <x, col2im(y)> (side ${side}, stride ${stride})`, () => {
  const [patches, channels] = [5, 3];
  const out = Math.floor((side - 3) / stride) + 1;
  const x = randomValues(patches * side * side * channels, 1, -1, 1);
  const columns = im2col3x3(x, patches, side, channels, stride);
  assert.equal(columns.length, patches * out * out * 9 * channels);
  const y = randomValues(columns.length, 2, -1, 1);
  const back = tf.tidy(() => col2im3x3(tf.tensor2d(y, [patches * out * out, 9 * channels]), patches, side, channels, stride).dataSync());
  // im2col3x3Transposed writes the same matrix transposed (rows of ones aside, as the backward pass lays it out).
  const rows = patches * out * out;
  const transposed = new Float32Array(9 * channels * rows);
  im2col3x3Transposed(x, patches, side, channels, transposed, 0, rows, stride);
  for (let r = 0; r < rows; r++) for (let k = 0; k < 9 * channels; k++) assert.equal(transposed[k * rows + r], columns[r * 9 * channels + k]);
  assert.equal(back.length, x.length);
  let left = 0;
  let right = 0;
  columns.forEach((v, i) => (left += v * y[i]!));
  x.forEach((v, i) => (right += v * back[i]!));
  assert.ok(Math.abs(left - right) < 1e-4 * Math.max(1, Math.abs(left)), `${left} vs ${right}`);
  assert.throws(() => im2col3x3(x, patches + 1, side, channels), RangeError);
});

test('with glimpseConv, the hand-written backward pass gives the tape gradients and loss values, for both cores', () => {
  for (const [core, glimpses, stride] of [['rnn', 3, 1], ['rnn', 1, 1], ['lstm', 3, 1], ['lstm', 1, 1], ['lstm', 3, 2], ['rnn', 2, 2]] as const) {
    // Stride 2 with 7×7 patches: 7 → 5 → 2 through the two convolutions.
    const net = smallConvNetwork(stride === 2 ? { glimpses, core, patchSize: 7, glimpseConv: { channels: [3, 4], stride } } : { glimpses, core }, 17);
    randomiseBiases(net.params, 19);
    const B = 6;
    const side = net.config.imageSize;
    const images = randomValues(B * side * side, 23);
    const labels = Int32Array.from([3, 1, 4, 1, 5, 9]);
    const tensorsBefore = tf.memory().numTensors;
    const tape = tapeHybridGradients(net, images, labels, new Rng(29));
    const fast = handHybridGradients(net, images, labels, { rng: new Rng(29) });
    assertSameGradients(tape, fast, `${core} glimpses ${glimpses} stride ${stride}`);
    for (const name of ['glimpse.conv1.weight', 'glimpse.conv1.bias', 'glimpse.conv2.weight', 'glimpse.conv2.bias']) assert.ok(tape.grads.has(name), name);
    assert.ok(tf.tidy(() => tf.sum(tf.abs(fast.grads.get('glimpse.conv1.weight')!)).dataSync()[0]!) > 0, 'the first convolution gets a gradient');
    for (const g of [...tape.grads.values(), ...fast.grads.values()]) g.dispose();
    assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensors left behind');
    net.dispose();
  }
});

/**
 * Central differences of the classification loss (the only term that reaches the glimpse network) in single
 * entries of the two convolution weights, against the hand-written and the tape gradients; the sampled locations
 * are replayed so that they are constants for the numeric derivative too.
 */
for (const stride of [1, 2])
test(`with glimpseConv, both gradients match finite differences in conv1 and conv2 weights (second stride ${stride})`, () => {
  const weights = { classification: 1, baseline: 0, reinforce: 0 };
  const net = smallConvNetwork(stride === 2 ? { lossWeights: weights, patchSize: 8, glimpseConv: { channels: [3, 4], stride } } : { lossWeights: weights }, 11);
  randomiseBiases(net.params, 13);
  const B = 4;
  const side = net.config.imageSize;
  const images = randomValues(B * side * side, 9);
  const labels = Int32Array.from([3, 1, 4, 1]);
  const draws = tf.tidy(() => net.unroll(tf.tensor4d(images, [B, side, side, 1]), { mode: 'sample', rng: new Rng(5) }).draws);
  const lossOf = (): tf.Scalar => hybridLoss(net.unroll(tf.tensor4d(images, [B, side, side, 1]), { mode: 'sample', replay: draws }), labels, weights).total;
  const names = ['glimpse.conv1.weight', 'glimpse.conv2.weight'];
  const variables = names.map((n) => net.params.get(n));
  const tape = tf.variableGrads(lossOf, variables);
  tape.value.dispose();
  const hand = handHybridGradients(net, images, labels, { replay: draws });
  const eps = 3e-3;
  names.forEach((name, v) => {
    const variable = variables[v]!;
    const handValues = hand.grads.get(name)!.dataSync();
    const tapeValues = tape.grads[variable.name]!.dataSync();
    // The three largest entries (a meaningful relative check) and two fixed ones.
    const order = [...handValues.keys()].sort((a, b) => Math.abs(handValues[b]!) - Math.abs(handValues[a]!));
    const entries = [...new Set([order[0]!, order[1]!, order[2]!, 0, handValues.length - 1])];
    const original = variable.dataSync().slice();
    for (const e of entries) {
      const shifted = (sign: number): number => {
        const values = original.slice();
        values[e] = values[e]! + sign * eps;
        tf.tidy(() => variable.assign(tf.tensor(values, variable.shape)));
        return tf.tidy(() => lossOf().dataSync()[0]!);
      };
      const numeric = (shifted(1) - shifted(-1)) / (2 * eps);
      tf.tidy(() => variable.assign(tf.tensor(original, variable.shape)));
      for (const [path, analytic] of [['hand', handValues[e]!], ['tape', tapeValues[e]!]] as const) {
        const scale = Math.max(1e-3, Math.abs(analytic), Math.abs(numeric));
        assert.ok(Math.abs(analytic - numeric) / scale < 0.03, `${name}[${e}] ${path}: analytic ${analytic} vs numeric ${numeric}`);
      }
    }
    assert.ok(Math.abs(handValues[order[0]!]!) > 1e-3, `${name}: a gradient worth checking (${handValues[order[0]!]})`);
  });
  for (const g of [...Object.values(tape.grads), ...hand.grads.values()]) g.dispose();
  net.dispose();
});

test('without glimpseConv the network and its config are exactly as before', () => {
  const before = [
    ['glimpse.what.weight', [192, 128]],
    ['glimpse.what.bias', [128]],
    ['glimpse.where.weight', [2, 128]],
    ['glimpse.where.bias', [128]],
    ['glimpse.combine.weight', [256, 256]],
    ['glimpse.combine.bias', [256]],
    ['core.rnn.weight', [512, 256]],
    ['core.rnn.bias', [256]],
    ['location.mean.weight', [256, 2]],
    ['location.mean.bias', [2]],
    ['action.logits.weight', [256, 10]],
    ['action.logits.bias', [10]],
    ['baseline.value.weight', [256, 1]],
    ['baseline.value.bias', [1]],
  ];
  const plain = resolveRamConfig(mnistRamConfig());
  assert.equal('glimpseConv' in plain, false);
  const reference = new RamNetwork(plain, new Rng(1));
  const shapes = (net: RamNetwork): [string, number[]][] => net.params.entries().map(([n, v]) => [n, v.shape]);
  assert.deepEqual(shapes(reference), before);
  assert.equal(reference.params.count(), 225_549);
  assert.equal(reference.glimpse.conv, undefined);
  for (const absent of [undefined, null]) {
    const config = resolveRamConfig(mnistRamConfig({ glimpseConv: absent }));
    assert.deepEqual(JSON.parse(JSON.stringify(config)), JSON.parse(JSON.stringify(plain)), `glimpseConv ${absent}: the same saved config`);
    const net = new RamNetwork(config, new Rng(1));
    assert.deepEqual(shapes(net), before);
    // The same initial values from the same seed: the parameters are drawn in the same order.
    net.params.entries().forEach(([name, v]) => assert.deepEqual(v.dataSync(), reference.params.get(name).dataSync(), name));
    net.dispose();
  }
  reference.dispose();

  const conv = new RamNetwork(resolveRamConfig(mnistRamConfig({ glimpseConv: { channels: [16, 32] } })), new Rng(1));
  assert.deepEqual(shapes(conv).slice(0, 6), [
    ['glimpse.conv1.weight', [9, 16]],
    ['glimpse.conv1.bias', [16]],
    ['glimpse.conv2.weight', [144, 32]],
    ['glimpse.conv2.bias', [32]],
    ['glimpse.what.weight', [3 * 16 * 32, 128]],
    ['glimpse.what.bias', [128]],
  ]);
  assert.deepEqual(conv.config.glimpseConv, { channels: [16, 32] });
  assert.equal(conv.params.count(), 225_549 - 192 * 128 + 1536 * 128 + 9 * 16 + 16 + 144 * 32 + 32);
  conv.dispose();
});

test('a bad glimpseConv is a RangeError that says what is wrong', () => {
  const bad: [unknown, Record<string, unknown>, RegExp][] = [
    [[16, 32], {}, /RamConfig\.glimpseConv must be null or an object \{ channels: \[C1, C2\] \}, got \[16,32\]/],
    ['16,32', {}, /RamConfig\.glimpseConv must be null or an object/],
    [{}, {}, /RamConfig\.glimpseConv\.channels must be an array of two channel counts \[C1, C2\], got undefined/],
    [{ channels: [16] }, {}, /channels must be an array of two channel counts \[C1, C2\], got \[16\]/],
    [{ channels: [16, 32, 64] }, {}, /channels must be an array of two channel counts/],
    [{ channels: [16, 0] }, {}, /RamConfig\.glimpseConv\.channels\[1\] must be a positive integer, got 0/],
    [{ channels: [2.5, 32] }, {}, /RamConfig\.glimpseConv\.channels\[0\] must be a positive integer, got 2\.5/],
    [{ channels: ['16', 32] }, {}, /channels\[0\] must be a positive integer, got "16"/],
    [{ channels: [16, 32], kernel: 5 }, {}, /RamConfig\.glimpseConv has unknown keys kernel/],
    [{ channels: [16, 32] }, { patchSize: 4 }, /RamConfig\.glimpseConv needs patchSize ≥ 5 .*got 4/],
    [{ channels: [16, 32], stride: 3 }, {}, /RamConfig\.glimpseConv\.stride \(the second convolution's\) must be 1 or 2, got 3/],
    [{ channels: [16, 32], stride: '2' }, {}, /glimpseConv\.stride .* must be 1 or 2, got "2"/],
  ];
  for (const [glimpseConv, overrides, message] of bad) {
    assert.throws(() => resolveRamConfig(mnistRamConfig({ ...overrides, glimpseConv })), (err: unknown) => err instanceof RangeError && message.test(err.message), JSON.stringify(glimpseConv));
  }
  assert.deepEqual(resolveRamConfig(mnistRamConfig({ patchSize: 5, glimpseConv: { channels: [1, 1] } })).glimpseConv, { channels: [1, 1] });
  // Stride 1 is the default and is left out, so configs from before the key resolve and save exactly as they did.
  assert.deepEqual(resolveRamConfig(mnistRamConfig({ glimpseConv: { channels: [16, 32], stride: 1 } })).glimpseConv, { channels: [16, 32] });
  assert.deepEqual(resolveRamConfig(mnistRamConfig({ glimpseConv: { channels: [16, 32], stride: 2 } })).glimpseConv, { channels: [16, 32], stride: 2 });
});

test('a model with glimpseConv saves and loads with its pathway', async () => {
  for (const glimpseConv of [{ channels: [2, 3] }, { channels: [2, 3], stride: 2 }]) {
  const config = mnistRamConfig({ imageSize: 12, patchSize: 6, scales: 2, glimpses: 2, glimpseHidden: 6, locationHidden: 5, glimpseOutput: 7, hiddenSize: 8, glimpseConv });
  const model = createRamModel(config, 4);
  const dir = await mkdtemp(join(tmpdir(), 'conv-glimpse-'));
  try {
    const pixels = randomValues(144, 3);
    model.learn([{ pixels, label: 2 }, { pixels: randomValues(144, 4), label: 7 }], 0.01);
    await model.save(dir);
    const loaded = await loadRamModel(dir);
    assert.deepEqual(loaded.config.glimpseConv, glimpseConv);
    assert.deepEqual(loaded.network.params.names(), model.network.params.names());
    assert.deepEqual(loaded.classify(pixels), model.classify(pixels));
    loaded.dispose();
  } finally {
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  }
  }
});
