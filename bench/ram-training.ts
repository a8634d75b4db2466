/**
 * Training-speed benchmark of the attention model (npm run bench:ram-training; part of npm run bench).
 * Prints, for one task's training step on the wasm backend (one core), the time per step of:
 *   - tape:  tf.variableGrads over RamNetwork.unroll + hybridLoss (the generic path, any core)
 *   - fast:  the hand-written backward pass (backprop.ts), what npm run train:ram uses
 * each followed by the same optimizer step (tf.train.adam), and the parts of a fast step
 * (rendering/augmenting the batch, gradients, optimizer). Rounds alternate the order of the
 * two paths and the figures are medians over rounds with the ratio taken within each round,
 * because this machine's speed drifts by up to 2× within minutes.
 * Options: --task mnist|translated|cluttered (mnist), --augment (photo augmentation, as the
 * photo fine-tune), --core rnn|lstm (the shipped model's: rnn for mnist, lstm for the 60×60 tasks),
 * --glimpses N (the shipped model's: 7 for mnist, 6 for translated, 8 for cluttered),
 * --steps N per path per round (20), --rounds N (5), --batch N (128).
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { selectTensorBackend } from '../src/platform/tensor-backend.js';
import { Adam } from '../src/attention/adam.js';
import { labelsOf, readMnist, renderExamples, taskSpec, type TaskName } from '../src/attention/mnist-dataset.js';
import { mnistRamConfig, resolveRamConfig } from '../src/attention/ram-config.js';
import { RamNetwork } from '../src/attention/ram-network.js';
import { Rng } from '../src/attention/rng.js';
import { handHybridGradients } from '../src/attention/backprop.js';
import { tapeHybridGradients } from '../src/attention/training-step.js';

const { values: args } = parseArgs({
  options: {
    task: { type: 'string', default: 'mnist' },
    augment: { type: 'boolean', default: false },
    core: { type: 'string' },
    glimpses: { type: 'string' },
    steps: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
    batch: { type: 'string', default: '128' },
  },
});
const task = args.task as TaskName;
const STEPS = Number(args.steps);
const ROUNDS = Number(args.rounds);
const BATCH = Number(args.batch);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Timing {
  data: number;
  gradients: number;
  optimizer: number;
  total: number;
}

async function main(): Promise<void> {
  const backend = await selectTensorBackend('wasm');
  const spec = taskSpec(task, { shift: task === 'mnist' ? 2 : 0, augment: args.augment });
  // The shipped models' settings: 8 px patches on 28×28, 12 px on 60×60; 7 glimpses on mnist, 6 on translated, 8 on cluttered.
  const config = resolveRamConfig(
    mnistRamConfig({
      imageSize: spec.imageSize,
      patchSize: task === 'mnist' ? 8 : 12,
      scales: 3,
      glimpses: args.glimpses ? Number(args.glimpses) : task === 'cluttered' ? 8 : task === 'mnist' ? 7 : 6,
      locationStd: task === 'mnist' ? 0.1 : 0.15,
      core: (args.core ?? (task === 'mnist' ? 'rnn' : 'lstm')) as 'rnn' | 'lstm',
    }),
  );
  const set = readMnist('train');
  const paths = {
    tape: (net: RamNetwork, images: Float32Array, labels: Int32Array, rng: Rng) => tapeHybridGradients(net, images, labels, rng),
    fast: (net: RamNetwork, images: Float32Array, labels: Int32Array, rng: Rng) => handHybridGradients(net, images, labels, { rng }),
  };
  type Path = keyof typeof paths;
  const state = Object.fromEntries(
    (Object.keys(paths) as Path[]).map((p) => {
      const network = new RamNetwork(config, new Rng(1));
      return [p, { network, optimizer: new Adam(network.params), dataRng: new Rng(5), policyRng: new Rng(6) }];
    }),
  ) as Record<Path, { network: RamNetwork; optimizer: Adam; dataRng: Rng; policyRng: Rng }>;

  const run = (path: Path, steps: number): Timing => {
    const s = state[path];
    const t: Timing = { data: 0, gradients: 0, optimizer: 0, total: 0 };
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      const indices = Array.from({ length: BATCH }, () => s.dataRng.int(set.count));
      const images = renderExamples(set, indices, spec, s.dataRng);
      const labels = labelsOf(set, indices);
      const t1 = performance.now();
      const { grads } = paths[path](s.network, images, labels, s.policyRng);
      const t2 = performance.now();
      s.optimizer.apply(grads, 1e-4);
      for (const g of grads.values()) g.dispose();
      const t3 = performance.now();
      t.data += t1 - t0;
      t.gradients += t2 - t1;
      t.optimizer += t3 - t2;
    }
    t.total = t.data + t.gradients + t.optimizer;
    for (const k of Object.keys(t) as (keyof Timing)[]) t[k] /= steps;
    return t;
  };

  console.log(`# RAM training step — backend ${backend.backend}, node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores)`);
  console.log(
    `# task ${task} ${spec.imageSize}×${spec.imageSize}${args.augment ? ' + photo augmentation' : ''}; ${config.glimpses} glimpses of ${config.scales}×${config.patchSize}², ${config.core} core; ` +
      `batch ${BATCH}; ${ROUNDS} rounds × ${STEPS} steps per path\n`,
  );
  run('tape', 3);
  run('fast', 3);
  const rounds: Record<Path, Timing>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order: Path[] = r % 2 ? ['fast', 'tape'] : ['tape', 'fast'];
    const round = {} as Record<Path, Timing>;
    for (const p of order) round[p] = run(p, STEPS);
    rounds.push(round);
  }
  const ms = (p: Path, k: keyof Timing): string => median(rounds.map((r) => r[p][k])).toFixed(1);
  const stepsPerEpoch = Math.floor(55_000 / BATCH);
  console.log('| path | ms per step (median) | data | gradients | optimizer | s per epoch of 55,000 (training steps only) |');
  console.log('|---|---|---|---|---|---|');
  for (const p of Object.keys(paths) as Path[]) {
    console.log(`| ${p} | ${ms(p, 'total')} | ${ms(p, 'data')} | ${ms(p, 'gradients')} | ${ms(p, 'optimizer')} | ${((median(rounds.map((r) => r[p].total)) * stepsPerEpoch) / 1000).toFixed(1)} |`);
  }
  const ratios = rounds.map((r) => r.fast.total / r.tape.total);
  console.log(`\nfast / tape time per step, within each round: ${ratios.map((x) => x.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)})`);
  console.log(`tensors still allocated: ${tf.memory().numTensors}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
