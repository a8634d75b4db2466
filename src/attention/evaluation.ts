import { labelsOf, readMnist, renderExamples, taskSpec, type DigitSet, type TaskName, type TaskSpec } from './mnist-dataset.js';
import type { ResolvedRamConfig } from './ram-config.js';
import type { RamNetwork } from './ram-network.js';
import { Rng } from './rng.js';
import { evaluateError } from './trainer.js';

/** Fixed seed that renders the translated/cluttered test images: every evaluation sees the same set. */
export const TEST_RENDER_SEED = 20140624;

/** The task a model was trained for (config.task, written by train-ram), plain MNIST if absent. */
export function taskOfConfig(config: ResolvedRamConfig): TaskSpec {
  const t = config['task'] as { task?: TaskName; imageSize?: number } | undefined;
  return taskSpec(t?.task ?? 'mnist', { imageSize: t?.imageSize ?? config.imageSize });
}

/**
 * The fixed test set of a task, as `testError` (npm run eval:ram) sees it: the first
 * `count` digits of the MNIST test split rendered with TEST_RENDER_SEED (placement and
 * clutter; plain MNIST digits are drawn as they are). A prefix of a larger set is the
 * smaller set, so a test can take a small fixed sample of the same images.
 */
export function renderTestSet(spec: TaskSpec, count?: number, set: DigitSet = readMnist('test')): { pixels: Float32Array; labels: Int32Array; count: number } {
  const n = Math.min(count ?? set.count, set.count);
  const indices = Array.from({ length: n }, (_, i) => i);
  return { pixels: renderExamples(set, indices, { ...spec, shift: 0, augment: false }, new Rng(TEST_RENDER_SEED)), labels: labelsOf(set, indices), count: n };
}

export interface TestResult {
  task: TaskSpec;
  error: number;
  wrong: number;
  count: number;
  samples: number;
  seconds: number;
}

/**
 * The held-out split of the MNIST training digits that `npm run train:ram` validates on: it depends on the run's
 * seed and validation size only, so a resumed run, and `npm run eval:ram -- --split validation`, see the same digits.
 */
export function heldOutSplit(count: number, seed: number, validation: number): { validation: number[]; train: number[] } {
  const all = new Rng(seed * 104729 + 3).shuffle(Array.from({ length: count }, (_, i) => i));
  return { validation: all.slice(0, validation), train: all.slice(validation) };
}

/**
 * One standard error of an error rate (or accuracy) measured on `count` independent images,
 * √(p(1 − p)/n): what a difference between two models on the same set must exceed before it
 * means anything (the selection rules in models/README.md use it).
 */
export function standardError(rate: number, count: number): number {
  return count > 0 ? Math.sqrt((rate * (1 - rate)) / count) : 0;
}

/** The rendering seed of the validation canvases (placement and clutter), fixed per run seed: the same images every epoch. */
export function validationRenderSeed(seed: number): number {
  return seed * 31 + 5;
}

export interface ErrorOptions {
  /** Sampled rollouts averaged per image (1: the location means). */
  samples?: number;
  glimpses?: number;
  /** Seed of the sampled rollouts' policy noise. */
  seed?: number;
  onProgress?: (done: number, total: number) => void;
  /** A second network whose probabilities (at its location means) are averaged with the first's (EvaluationOptions.averageWith). */
  averageWith?: RamNetwork;
  /** Positions each image is read at, probabilities averaged (1, 5 or 9; src/attention/test-shifts.ts). */
  shifts?: number;
}

/** The error of `network` on `indices` of `set`, rendered as its task with `renderSeed`: testError and validationError. */
function errorOn(network: RamNetwork, set: DigitSet, indices: number[], renderSeed: number, options: ErrorOptions): TestResult {
  const spec = taskOfConfig(network.config);
  const samples = options.samples ?? 1;
  const shifts = options.shifts ?? 1;
  const start = performance.now();
  const error = evaluateError(network, set, indices, spec, {
    samples,
    shifts,
    glimpses: options.glimpses,
    batchSize: Math.max(1, Math.floor(500 / (samples * shifts))),
    dataRng: new Rng(renderSeed),
    policyRng: new Rng(options.seed ?? 1),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.averageWith ? { averageWith: options.averageWith } : {}),
  });
  const count = indices.length;
  return { task: spec, error, wrong: Math.round(error * count), count, samples, seconds: (performance.now() - start) / 1000 };
}

/**
 * Error on the validation digits the model was trained beside (its config's training.splitSeed or training.seed,
 * and training.validation), rendered as in training: a figure that choices (an epoch, an inference mode) may be
 * made on, unlike the test error.
 */
export function validationError(network: RamNetwork, options: ErrorOptions = {}): TestResult {
  const { digits, indices, seed } = validationDigits(network.config);
  return errorOn(network, digits, indices, validationRenderSeed(seed), options);
}

/**
 * The MNIST training digits a model was validated on (its config's training.splitSeed, or training.seed when the
 * run gave none, and training.validation): the set, the held-out indices in the trainer's order, and the split's
 * seed (which also seeds the validation canvases, validationRenderSeed).
 */
export function validationDigits(config: Readonly<Record<string, unknown>>): { digits: DigitSet; indices: number[]; seed: number } {
  const training = config['training'] as { seed?: number; splitSeed?: number; validation?: number } | undefined;
  const seed = training?.splitSeed ?? training?.seed;
  if (seed === undefined || !training?.validation) throw new Error('this model records no training split (config.training.seed and .validation)');
  const digits = readMnist('train');
  return { digits, indices: heldOutSplit(digits.count, seed, training.validation).validation, seed };
}

/** Error on the 10,000 MNIST test images (rendered as the model's task), deterministic unless samples > 1. */
export function testError(network: RamNetwork, options: ErrorOptions & { limit?: number } = {}): TestResult {
  const test = readMnist('test');
  const count = Math.min(options.limit ?? test.count, test.count);
  return errorOn(network, test, Array.from({ length: count }, (_, i) => i), TEST_RENDER_SEED, options);
}
