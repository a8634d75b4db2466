import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Adam } from './adam.js';
import { loadRamModel, type AttentionModel } from './ram-model.js';
import { readTensors, writeTensors } from './tensor-file.js';

export const STATE_FILE = 'state.json';
export const OPTIMIZER_BASE = 'optimizer';

export interface EpochRecord {
  epoch: number;
  loss: number;
  crossEntropy: number;
  trainAccuracy: number;
  validationError: number;
  /** With a photo set (train:ram --photo-set): error on the photographs of the validation digits. */
  photoValidationError?: number;
  learningRate: number;
  seconds: number;
}

/** Everything besides the weights that a resumed run needs to continue exactly. */
export interface TrainingState<Options> {
  version: 1;
  options: Options;
  completedEpochs: number;
  bestValidationError: number;
  bestEpoch: number;
  elapsedSeconds: number;
  optimizerStep: number;
  dataRng: number;
  policyRng: number;
  history: EpochRecord[];
}

/**
 * Writes a model folder plus optimizer moments and training state. Written to a
 * sibling folder first and renamed, so a run killed mid-write keeps the previous
 * checkpoint intact.
 */
export async function saveCheckpoint<O>(dir: string, model: AttentionModel, optimizer: Adam, state: TrainingState<O>): Promise<void> {
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await model.save(tmp);
  await writeTensors(tmp, OPTIMIZER_BASE, await optimizer.tensors());
  await writeFile(join(tmp, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  const old = `${dir}.old`;
  await rm(old, { recursive: true, force: true });
  if (existsSync(dir)) await rename(dir, old);
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, STATE_FILE));
}

export async function loadCheckpoint<O>(dir: string): Promise<{ model: AttentionModel; optimizer: Adam; state: TrainingState<O> }> {
  const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as TrainingState<O>;
  const model = await loadRamModel(dir);
  const optimizer = new Adam(model.network.params);
  await optimizer.restore(state.optimizerStep, await readTensors(dir, OPTIMIZER_BASE));
  model.rng.setState(state.policyRng);
  model.optimizer = optimizer;
  return { model, optimizer, state };
}
