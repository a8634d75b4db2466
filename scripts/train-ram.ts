/**
 * Trains a RAM model: npm run train:ram -- --task mnist|translated|cluttered [options]
 * Checkpoints every epoch under --checkpoints (latest/ and best/), --resume continues
 * from latest/, and the best-validation model is exported to --out.
 */
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { Presets, SingleBar } from 'cli-progress';
import { selectTensorBackend } from '../src/platform/tensor-backend.js';
import { Adam } from '../src/attention/adam.js';
import { augmentationNames, type AugmentationName } from '../src/attention/augment.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type TrainingState } from '../src/attention/checkpoint.js';
import { readMnist, taskNames, taskSpec, type DigitSet, type TaskName } from '../src/attention/mnist-dataset.js';
import { mnistRamConfig } from '../src/attention/ram-config.js';
import { createRamModel, type AttentionModel } from '../src/attention/ram-model.js';
import { Rng } from '../src/attention/rng.js';
import { evaluateError, trainEpoch } from '../src/attention/trainer.js';
import { heldOutSplit, validationRenderSeed } from '../src/attention/evaluation.js';

const { values: args, tokens } = parseArgs({
  tokens: true,
  options: {
    task: { type: 'string', default: 'mnist' },
    size: { type: 'string' },
    glimpses: { type: 'string' },
    patch: { type: 'string', default: '8' },
    scales: { type: 'string' },
    std: { type: 'string', default: '0.1' },
    hidden: { type: 'string', default: '256' },
    'glimpse-hidden': { type: 'string', default: '128' },
    'location-hidden': { type: 'string', default: '128' },
    'glimpse-output': { type: 'string', default: '256' },
    'glimpse-conv': { type: 'string' },
    'glimpse-conv-stride': { type: 'string' },
    'location-range': { type: 'string' },
    core: { type: 'string', default: 'rnn' },
    'reinforce-weight': { type: 'string', default: '1' },
    'baseline-weight': { type: 'string', default: '1' },
    epochs: { type: 'string', default: '100' },
    batch: { type: 'string', default: '128' },
    lr: { type: 'string', default: '0.001' },
    'lr-min': { type: 'string', default: '0.00001' },
    shift: { type: 'string', default: '0' },
    augment: { type: 'string', default: 'none' },
    'photo-set': { type: 'string' },
    validation: { type: 'string', default: '5000' },
    limit: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'split-seed': { type: 'string' },
    out: { type: 'string' },
    checkpoints: { type: 'string' },
    resume: { type: 'boolean', default: false },
    'resume-from': { type: 'string' },
    'export-from': { type: 'string' },
    'log-every': { type: 'string', default: '100' },
    help: { type: 'boolean', default: false },
  },
});
/** The options given on the command line (in either form, `--epochs 130` or `--epochs=130`), not defaulted. */
const given = new Set(tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : [])));

if (args.help) {
  console.log(`npm run train:ram -- [--task ${taskNames.join('|')}] [--size 60|100] [--glimpses N] [--patch 8] [--scales K]
  [--std 0.1] [--hidden 256] [--core rnn|lstm] [--glimpse-conv C1,C2 (two 3×3 convolutions before glimpse.what, e.g. 16,32)] [--glimpse-conv-stride 1|2 (the second one's)] [--location-range 1 (the policy's mean is R·tanh: below 1 its limit is inside the canvas)] [--epochs 100] [--batch 128] [--lr 0.001] [--lr-min 0.00001]
  [--shift 0] [--augment none|photo|elastic] [--photo-set DIR[,DIR…] (npm run render:photos)] [--validation 5000] [--limit N] [--seed 1] [--split-seed S (default: --seed)] [--out models/ram-<task>] [--checkpoints checkpoints/ram-<task>]
  [--resume | --resume-from CHECKPOINT_DIR] [--log-every 100 (steps between progress lines when stdout is not a terminal)]
       npm run train:ram -- --export-from CHECKPOINT_DIR [--out MODEL_DIR]   (a checkpoint as a plain model folder)
--seed draws the initial weights, the data order and the policy's noise; --split-seed the held-out validation digits (another --seed with the same --split-seed is a second run on the same split).
On --resume, --epochs/--lr/--lr-min/--out/--augment/--photo-set given explicitly override the saved ones; everything else (--glimpse-conv, --glimpse-conv-stride and the seeds too) comes from the checkpoint.`);
  process.exit(0);
}

const num = (v: string | undefined, name: string): number => {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${v}`);
  return n;
};

interface TrainOptions {
  task: TaskName;
  imageSize: number;
  shift: number;
  /** Augmentation of the training digits (photo: stroke width, rotation, scale, blur; elastic: elastic distortion, rotation, scale); absent in older checkpoints. */
  augment?: 'none' | AugmentationName;
  /**
   * Photographs of the training digits through the service's preprocessing (npm run render:photos), one or more
   * folders separated by commas: trained on beside the digits themselves, the pictures of validation digits left
   * out of training and measured as a second validation error; absent in older checkpoints.
   */
  photoSet?: string | null;
  epochs: number;
  batchSize: number;
  learningRate: number;
  minLearningRate: number;
  validation: number;
  limit: number | null;
  seed: number;
  /**
   * The seed of the held-out split (heldOutSplit) and of the validation canvases, when it differs from `seed`:
   * a second run with another `seed` validates on the same digits (and keeps the photographs of them out of
   * training). Absent: `seed`, as every run before it.
   */
  splitSeed?: number;
  out: string;
  checkpoints: string;
}

function fresh(): { model: AttentionModel; optimizer: Adam; state: TrainingState<TrainOptions> } {
  const task = args.task as TaskName;
  if (!taskNames.includes(task)) throw new Error(`--task must be one of ${taskNames.join(', ')}`);
  const spec = taskSpec(task, { imageSize: args.size ? num(args.size, 'size') : undefined, shift: num(args.shift, 'shift') });
  const options: TrainOptions = {
    task,
    imageSize: spec.imageSize,
    shift: spec.shift,
    augment: args.augment as 'none' | AugmentationName,
    photoSet: args['photo-set'] ?? null,
    epochs: num(args.epochs, 'epochs'),
    batchSize: num(args.batch, 'batch'),
    learningRate: num(args.lr, 'lr'),
    minLearningRate: num(args['lr-min'], 'lr-min'),
    validation: num(args.validation, 'validation'),
    limit: args.limit ? num(args.limit, 'limit') : null,
    seed: num(args.seed, 'seed'),
    ...(args['split-seed'] !== undefined ? { splitSeed: num(args['split-seed'], 'split-seed') } : {}),
    out: args.out ?? `models/ram-${task}`,
    checkpoints: args.checkpoints ?? `checkpoints/ram-${task}`,
  };
  const config = mnistRamConfig({
    imageSize: spec.imageSize,
    // The paper's settings per task unless given: 6 glimpses on MNIST/translated, 8 on cluttered.
    glimpses: args.glimpses ? num(args.glimpses, 'glimpses') : task === 'cluttered' ? 8 : 6,
    patchSize: num(args.patch, 'patch'),
    scales: args.scales ? num(args.scales, 'scales') : task === 'mnist' ? 3 : 4,
    locationStd: num(args.std, 'std'),
    // RamConfig.locationRange, checked by resolveRamConfig; absent without the flag (the shipped models' tanh).
    ...(args['location-range'] !== undefined ? { locationRange: num(args['location-range'], 'location-range') } : {}),
    hiddenSize: num(args.hidden, 'hidden'),
    glimpseHidden: num(args['glimpse-hidden'], 'glimpse-hidden'),
    locationHidden: num(args['location-hidden'], 'location-hidden'),
    glimpseOutput: num(args['glimpse-output'], 'glimpse-output'),
    core: args.core === 'lstm' ? 'lstm' : 'rnn',
    // The convolutional "what" pathway (RamConfig.glimpseConv), checked by resolveRamConfig; absent without the flag.
    ...(args['glimpse-conv'] !== undefined
      ? { glimpseConv: { channels: args['glimpse-conv'].split(',').map((v) => num(v.trim(), 'glimpse-conv')), ...(args['glimpse-conv-stride'] !== undefined ? { stride: num(args['glimpse-conv-stride'], 'glimpse-conv-stride') } : {}) } }
      : {}),
    lossWeights: { classification: 1, baseline: num(args['baseline-weight'], 'baseline-weight'), reinforce: num(args['reinforce-weight'], 'reinforce-weight') },
    task: { task: spec.task, imageSize: spec.imageSize, clutterPieces: spec.clutterPieces, pieceSize: spec.pieceSize },
    training: options,
  });
  const model = createRamModel(config, options.seed);
  const optimizer = new Adam(model.network.params);
  model.optimizer = optimizer;
  const state: TrainingState<TrainOptions> = {
    version: 1,
    options,
    completedEpochs: 0,
    bestValidationError: 1,
    bestEpoch: 0,
    elapsedSeconds: 0,
    optimizerStep: 0,
    dataRng: new Rng(options.seed * 7919 + 17).getState(),
    policyRng: model.rng.getState(),
    history: [],
  };
  return { model, optimizer, state };
}

const fmtTime = (s: number): string => (s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`);

async function main(): Promise<void> {
  if (args.augment !== 'none' && !(augmentationNames as string[]).includes(args.augment)) throw new Error(`--augment must be none, ${augmentationNames.join(' or ')}; got ${args.augment}`);
  if (args['glimpse-conv-stride'] !== undefined && args['glimpse-conv'] === undefined) throw new Error('--glimpse-conv-stride sets the second convolution of --glimpse-conv C1,C2: give both');
  const backend = await selectTensorBackend();
  if (args['export-from']) {
    // Export a checkpoint (e.g. the end of the schedule rather than the best-validation epoch) as the model folder.
    const { model, state } = await loadCheckpoint<TrainOptions>(args['export-from']);
    const out = args.out ?? state.options.out;
    // A checkpoint of the best-validation epoch (the trainer's best/) is recorded as such; any other as the epoch it ends.
    await exportModel(model, state, out, state.completedEpochs === state.bestEpoch ? 'best-validation' : 'last');
    console.log(`exported ${args['export-from']} (epoch ${state.completedEpochs}) to ${out}`);
    model.dispose();
    return;
  }
  const checkpointDir = args.checkpoints ?? `checkpoints/ram-${args.task}`;
  const latestDir = join(checkpointDir, 'latest');
  // --resume-from DIR continues from any checkpoint folder (e.g. the committed
  // models/ram-mnist/checkpoint) while writing new checkpoints under --checkpoints.
  const resumeDir = args['resume-from'] ?? latestDir;
  const resuming = (args.resume || args['resume-from'] !== undefined) && hasCheckpoint(resumeDir);
  if ((args.resume || args['resume-from']) && !resuming) console.log(`no checkpoint at ${resumeDir}; starting fresh`);
  const { model, optimizer, state } = resuming ? await loadCheckpoint<TrainOptions>(resumeDir) : fresh();
  const o = state.options;
  // The held-out split (and its validation canvases) depends on the split seed only, so a resumed run validates on
  // the same images.
  const splitSeed = o.splitSeed ?? o.seed;
  if (resuming) {
    // A continued run may extend or restart the schedule; nothing else may change.
    if (given.has('epochs')) o.epochs = num(args.epochs, 'epochs');
    if (given.has('lr')) o.learningRate = num(args.lr, 'lr');
    if (given.has('lr-min')) o.minLearningRate = num(args['lr-min'], 'lr-min');
    if (given.has('out')) o.out = args.out!;
    // Fine-tuning a finished model towards photographs: e.g. --augment photo --epochs 130 --lr 0.0001.
    if (given.has('augment')) o.augment = args.augment as 'none' | AugmentationName;
    // ...or on the served distribution itself: --photo-set data/photo-train-s3.
    if (given.has('photo-set')) o.photoSet = args['photo-set']!;
    o.checkpoints = checkpointDir;
    model.config['training'] = o;
    if (given.has('seed') || given.has('split-seed')) console.log(`--seed and --split-seed ignored: a resumed run keeps its checkpoint's (seed ${o.seed}, split seed ${splitSeed})`);
    if (given.has('location-range')) console.log(`--location-range ignored: a resumed run keeps its checkpoint's policy (range ±${model.config.locationRange ?? 1})`);
    if (given.has('glimpse-conv') || given.has('glimpse-conv-stride')) console.log(`--glimpse-conv ignored: a resumed run keeps its checkpoint's network (${model.config.glimpseConv ? `glimpseConv ${JSON.stringify(model.config.glimpseConv)}` : 'no glimpseConv'})`);
  }
  const spec = taskSpec(o.task, { imageSize: o.imageSize, shift: o.shift, augment: o.augment === 'none' || o.augment === undefined ? false : o.augment });
  const digits = readMnist('train');
  const split = heldOutSplit(digits.count, splitSeed, o.validation);
  const validation = split.validation;
  let trainIndices = o.limit ? split.train.slice(0, o.limit) : split.train;
  if (o.photoSet && o.task !== 'mnist') throw new Error(`--photo-set holds 28×28 digits for the mnist task, not ${o.task}`);
  const { set: train, photoTrain, photoValidation } = withPhotos(digits, trainIndices, validation, o.photoSet);
  trainIndices = trainIndices.concat(photoTrain);
  const dataRng = new Rng(0);
  dataRng.setState(state.dataRng);
  const c = model.config;
  console.log(
    `${resuming ? `resuming from ${resumeDir} after epoch ${state.completedEpochs}` : 'new model'}; backend ${backend.backend}; task ${o.task} ${spec.imageSize}×${spec.imageSize}; ` +
      `${c.glimpses} glimpses of ${c.scales}×${c.patchSize}² (std ${c.locationStd}${c.locationRange ? `, range ±${c.locationRange}` : ''})${c.glimpseConv ? `, conv ${c.glimpseConv.channels.join('→')} channels${c.glimpseConv.stride ? ` (second at stride ${c.glimpseConv.stride})` : ''}` : ''}, core ${c.core} ${c.hiddenSize}, ${model.network.params.count()} parameters; ` +
      `${trainIndices.length} train${photoTrain.length > 0 ? ` (${photoTrain.length} of them photographs from ${o.photoSet})` : ''} / ${validation.length} validation; batch ${o.batchSize}, Adam lr ${o.learningRate}→${o.minLearningRate} cosine over ${o.epochs} epochs, shift ±${o.shift}, augmentation ${o.augment ?? 'none'}`,
  );
  const logEvery = num(args['log-every'], 'log-every');
  const valRngSeed = validationRenderSeed(splitSeed);
  const photoError = () => evaluateError(model.network, train, photoValidation, { ...spec, shift: 0, augment: false }, { dataRng: new Rng(valRngSeed) });
  if (resuming && photoValidation.length > 0) {
    // The weights' figure on this run's pictures before it trains: what the run is measured against (a photo set
    // that grew since the last run gives a different figure than the history's last one).
    const before = photoError();
    console.log(`before this run: photo-val-error ${(before * 100).toFixed(2)}% on ${photoValidation.length} pictures of validation digits`);
  }
  while (state.completedEpochs < o.epochs) {
    const epoch = state.completedEpochs + 1;
    // On a terminal a progress bar redrawn in place; in a log file (nohup, CI) a plain line every --log-every steps.
    const bar = process.stdout.isTTY
      ? new SingleBar({ format: `epoch ${epoch}/${o.epochs} {bar} {value}/{total} steps | ce {ce} | acc {acc} | {duration_formatted} elapsed, ETA {eta_formatted}`, hideCursor: true, clearOnComplete: true }, Presets.shades_classic)
      : undefined;
    const report = trainEpoch({
      network: model.network,
      optimizer,
      set: train,
      indices: trainIndices,
      spec,
      batchSize: o.batchSize,
      schedule: { epochs: o.epochs, learningRate: o.learningRate, minLearningRate: o.minLearningRate },
      epoch: state.completedEpochs,
      dataRng,
      policyRng: model.rng,
      onProgress: (step, steps, ce, acc) => {
        const values = { ce: ce.toFixed(4), acc: `${(acc * 100).toFixed(2)}%` };
        if (bar) {
          if (step === 1) bar.start(steps, 0, values);
          bar.update(step, values);
        } else if (step % logEvery === 0) {
          console.log(`  epoch ${epoch} step ${step}/${steps} ce ${values.ce} acc ${values.acc}`);
        }
      },
    });
    bar?.stop();
    const valStart = performance.now();
    // Fixed rendering seed: the translated/cluttered validation images are the same every epoch.
    const validationError = evaluateError(model.network, train, validation, { ...spec, shift: 0, augment: false }, { dataRng: new Rng(valRngSeed) });
    const photoValidationError = photoValidation.length > 0 ? photoError() : undefined;
    const seconds = report.seconds + (performance.now() - valStart) / 1000;
    state.completedEpochs = epoch;
    state.elapsedSeconds += seconds;
    state.optimizerStep = optimizer.step;
    state.dataRng = dataRng.getState();
    state.policyRng = model.rng.getState();
    state.history.push({ epoch, loss: report.loss, crossEntropy: report.crossEntropy, trainAccuracy: report.accuracy, validationError, learningRate: report.learningRate, seconds, ...(photoValidationError !== undefined ? { photoValidationError } : {}) });
    const improved = validationError < state.bestValidationError;
    if (improved) {
      state.bestValidationError = validationError;
      state.bestEpoch = epoch;
    }
    await saveCheckpoint(latestDir, model, optimizer, state);
    if (improved) {
      await saveCheckpoint(join(checkpointDir, 'best'), model, optimizer, state);
      await exportModel(model, state, o.out, 'best-validation');
    }
    const recent = state.history.slice(-5);
    const perEpoch = recent.reduce((a, h) => a + h.seconds, 0) / recent.length;
    console.log(
      `epoch ${epoch}/${o.epochs} loss ${report.loss.toFixed(4)} ce ${report.crossEntropy.toFixed(4)} train-acc ${(report.accuracy * 100).toFixed(2)}% ` +
        `val-error ${(validationError * 100).toFixed(2)}%${photoValidationError !== undefined ? ` photo-val-error ${(photoValidationError * 100).toFixed(2)}%` : ''} (best ${(state.bestValidationError * 100).toFixed(2)}% @${state.bestEpoch}) ` +
        `lr ${report.learningRate.toExponential(2)} ${seconds.toFixed(1)}s total ${fmtTime(state.elapsedSeconds)} ETA ${fmtTime(perEpoch * (o.epochs - epoch))} tensors ${tf.memory().numTensors}`,
    );
  }
  console.log(`done: best validation error ${(state.bestValidationError * 100).toFixed(2)}% at epoch ${state.bestEpoch}; model in ${o.out}`);
  model.dispose();
}

/**
 * The training set with each photo set's pictures appended (picture i of a set is digit i, so it keeps that digit's
 * split): the indices of the pictures of training digits and of validation digits in the combined set.
 */
function withPhotos(digits: DigitSet, trainIndices: number[], validation: number[], photoSets: string | null | undefined): { set: DigitSet; photoTrain: number[]; photoValidation: number[] } {
  if (!photoSets) return { set: digits, photoTrain: [], photoValidation: [] };
  const sets = photoSets.split(',').map((dir) => {
    const photos = readMnist('train', dir);
    if (photos.side !== digits.side) throw new Error(`${dir}: ${photos.side}×${photos.side} pictures, the digits are ${digits.side}×${digits.side}`);
    for (let i = 0; i < photos.count; i++) {
      if (photos.labels[i] !== digits.labels[i]) throw new Error(`${dir}: picture ${i} is labelled ${photos.labels[i]}, training digit ${i} is a ${digits.labels[i]}`);
    }
    return photos;
  });
  const count = sets.reduce((n, p) => n + p.count, digits.count);
  const images = new Uint8Array(count * digits.side * digits.side);
  const labels = new Uint8Array(count);
  images.set(digits.images);
  labels.set(digits.labels);
  const photoTrain: number[] = [];
  const photoValidation: number[] = [];
  let at = digits.count;
  for (const photos of sets) {
    images.set(photos.images, at * digits.side * digits.side);
    labels.set(photos.labels, at);
    for (const i of trainIndices) if (i < photos.count) photoTrain.push(at + i);
    for (const i of validation) if (i < photos.count) photoValidation.push(at + i);
    at += photos.count;
  }
  return { set: { images, labels, count, side: digits.side }, photoTrain, photoValidation };
}

/** A model folder (no optimizer state) plus the training record of its weights. */
async function exportModel(model: AttentionModel, state: TrainingState<TrainOptions>, out: string, selection: 'best-validation' | 'last'): Promise<void> {
  const tmp = `${out}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await model.save(tmp);
  await writeFile(
    join(tmp, 'training.json'),
    JSON.stringify(
      {
        // Which epoch these weights are from, and why they were picked.
        epoch: state.completedEpochs,
        selection,
        validationError: state.history.at(-1)?.validationError ?? null,
        bestValidationEpoch: state.bestEpoch,
        bestValidationError: state.bestValidationError,
        elapsedSeconds: state.elapsedSeconds,
        history: state.history,
      },
      null,
      2,
    ) + '\n',
  );
  await mkdir(out, { recursive: true });
  // Copy file by file so that anything else in `out` (e.g. a committed checkpoint/) stays.
  for (const f of ['config.json', 'weights.json', 'weights.bin', 'training.json']) await cp(join(tmp, f), join(out, f));
  await rm(tmp, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
