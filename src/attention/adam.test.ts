import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { Adam } from './adam.js';
import { loadCheckpoint, OPTIMIZER_BASE } from './checkpoint.js';
import { Parameters } from './parameters.js';
import { Rng } from './rng.js';
import { readTensors } from './tensor-file.js';

await selectTensorBackend();

test('one step from restored moments is the Adam update, parameter by parameter', async () => {
  const rng = new Rng(3);
  const params = new Parameters(rng);
  params.uniform('a.weight', [3, 2], 1);
  params.uniform('a.bias', [2], 1);
  const values = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => rng.uniform(lo, hi));
  const saved = new Map([
    ['a.weight/m', { shape: [3, 2], values: values(6, -0.1, 0.1) }],
    ['a.weight/v', { shape: [3, 2], values: values(6, 1e-4, 1e-2) }],
    ['a.bias/m', { shape: [2], values: values(2, -0.1, 0.1) }],
    ['a.bias/v', { shape: [2], values: values(2, 1e-4, 1e-2) }],
  ]);
  const step = 1000;
  const adam = new Adam(params);
  await adam.restore(step, saved);
  assert.equal(adam.step, step);
  await assert.rejects(adam.restore(step, saved), /fresh optimizer/);
  const before = new Map(params.entries().map(([n, v]) => [n, v.dataSync().slice()]));
  const grads = new Map(params.entries().map(([n, v]) => [n, tf.tensor(values(v.size, -1, 1), v.shape)]));
  const lr = 0.01;
  adam.apply(grads, lr);
  assert.equal(adam.step, step + 1);
  const t = step + 1;
  for (const [name, variable] of params.entries()) {
    const g = grads.get(name)!.dataSync();
    const m0 = saved.get(`${name}/m`)!.values;
    const v0 = saved.get(`${name}/v`)!.values;
    const after = variable.dataSync();
    for (let i = 0; i < g.length; i++) {
      const m = 0.9 * m0[i]! + 0.1 * g[i]!;
      const v = 0.999 * v0[i]! + 0.001 * g[i]! ** 2;
      const expected = before.get(name)![i]! - (lr * (m / (1 - 0.9 ** t))) / (Math.sqrt(v / (1 - 0.999 ** t)) + 1e-8);
      assert.ok(Math.abs(after[i]! - expected) < 1e-5, `${name}[${i}]: ${after[i]} vs ${expected}`);
    }
  }
  // The moments it saves are the updated ones, under the parameters' names.
  const moments = new Map((await adam.tensors()).map(([n, x]) => [n, x.dataSync()]));
  assert.deepEqual([...moments.keys()].sort(), [...saved.keys()].sort());
  const g0 = grads.get('a.bias')!.dataSync();
  assert.ok(Math.abs(moments.get('a.bias/m')![0]! - (0.9 * saved.get('a.bias/m')!.values[0]! + 0.1 * g0[0]!)) < 1e-6);
  tf.dispose([...grads.values()]);
  adam.dispose();
  params.dispose();
});

test('a committed checkpoint resumes with its moments as they were saved', async () => {
  // The named-moment format (glimpse.what.weight/m, …/v) is the one the hand-written Adam before tf.train.adam wrote,
  // so its checkpoints and today's resume alike; models/ram-mnist/checkpoint is the shipped weights' own.
  const dir = 'models/ram-mnist/checkpoint';
  const stored = await readTensors(dir, OPTIMIZER_BASE);
  const { model, optimizer, state } = await loadCheckpoint(dir);
  assert.equal(optimizer.step, state.optimizerStep);
  const restored = await optimizer.tensors();
  assert.equal(restored.length, stored.size);
  for (const [name, tensor] of restored) {
    const original = stored.get(name);
    assert.ok(original, `${name} comes from the checkpoint`);
    assert.deepEqual([...tensor.dataSync()], [...original.values], name);
  }
  model.dispose();
});
