import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Adam } from './adam.js';
import { argMax } from './arg-max.js';
import { patchSizes } from './glimpse-sensor.js';
import { resolveRamConfig, type ResolvedRamConfig } from './ram-config.js';
import { RamNetwork } from './ram-network.js';
import { Rng } from './rng.js';
import { readTensors, writeTensors, type StoredTensor } from './tensor-file.js';
import { trainStep } from './training-step.js';
import type { Classification, ClassifyOptions, LabelledImage, RamConfig, RamModel } from './types.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_BASE = 'weights';

/** The RamModel contract over a RamNetwork; the trainer reaches in for network, optimizer and rng. */
export class AttentionModel implements RamModel {
  readonly network: RamNetwork;
  readonly rng: Rng;
  /** Created on the first learn(); the trainer may replace or restore it. */
  optimizer: Adam | undefined;

  constructor(config: RamConfig, seed = 1) {
    this.rng = new Rng(seed);
    this.network = new RamNetwork(resolveRamConfig(config), this.rng);
  }

  get config(): ResolvedRamConfig {
    return this.network.config;
  }

  classify(pixels: Float32Array, options: ClassifyOptions = {}): Classification {
    const size = this.config.imageSize;
    if (pixels.length !== size * size) throw new RangeError(`classify: expected ${size * size} pixels, got ${pixels.length}`);
    const samples = options.samples ?? 1;
    if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`classify: samples must be a positive integer, got ${samples}`);
    const rng = options.seed === undefined ? this.rng : new Rng(options.seed);
    const sizes = patchSizes(this.network.sensor);
    return tf.tidy(() => {
      let x: tf.Tensor4D = tf.tensor4d(pixels, [1, size, size, 1]);
      if (samples > 1) x = tf.tile(x, [samples, 1, 1, 1]);
      const rollout = this.network.unroll(x, { glimpses: options.glimpses, mode: samples > 1 ? 'sample' : 'mean', rng });
      const probabilities = Array.from(tf.mean(tf.softmax(rollout.logits), 0).dataSync());
      const predicted = argMax(probabilities);
      const glimpses = rollout.locations.map((xy, i) => ({ step: i + 1, x: xy[0]!, y: xy[1]!, sizes: [...sizes] }));
      return { probabilities, predicted, glimpses };
    });
  }

  /**
   * Deterministic classification (the location means, as classify with one sample) of several images in one
   * pass of the network: a pass costs about the same for one image as for a few, its ops' fixed cost dominating.
   */
  classifyMany(images: readonly Float32Array[], options: { glimpses?: number } = {}): Classification[] {
    const size = this.config.imageSize;
    const n = images.length;
    if (n === 0) return [];
    const input = new Float32Array(n * size * size);
    images.forEach((pixels, i) => {
      if (pixels.length !== size * size) throw new RangeError(`classifyMany: expected ${size * size} pixels, got ${pixels.length}`);
      input.set(pixels, i * size * size);
    });
    const sizes = patchSizes(this.network.sensor);
    const k = this.config.classes.length;
    return tf.tidy(() => {
      const rollout = this.network.unroll(tf.tensor4d(input, [n, size, size, 1]), { glimpses: options.glimpses, mode: 'mean', rng: this.rng });
      const all = tf.softmax(rollout.logits).dataSync();
      return images.map((_, i) => {
        const probabilities = Array.from(all.subarray(i * k, (i + 1) * k));
        const predicted = argMax(probabilities);
        const glimpses = rollout.locations.map((xy, t) => ({ step: t + 1, x: xy[2 * i]!, y: xy[2 * i + 1]!, sizes: [...sizes] }));
        return { probabilities, predicted, glimpses };
      });
    });
  }

  learn(batch: LabelledImage[], learningRate: number): number {
    if (batch.length === 0) return 0;
    const size = this.config.imageSize;
    const images = new Float32Array(batch.length * size * size);
    const labels = new Int32Array(batch.length);
    batch.forEach((example, i) => {
      if (example.pixels.length !== size * size) throw new RangeError(`learn: expected ${size * size} pixels, got ${example.pixels.length}`);
      if (!Number.isInteger(example.label) || example.label < 0 || example.label >= this.config.classes.length) {
        throw new RangeError(`learn: label ${example.label} out of range`);
      }
      images.set(example.pixels, i * size * size);
      labels[i] = example.label;
    });
    this.optimizer ??= new Adam(this.network.params);
    return trainStep(this.network, this.optimizer, images, labels, learningRate, this.rng).loss;
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, CONFIG_FILE), JSON.stringify(this.config, null, 2) + '\n');
    await writeTensors(dir, WEIGHTS_BASE, this.network.params.entries());
  }

  /** Replaces every parameter's value; names and shapes must match exactly. */
  setWeights(stored: Map<string, StoredTensor>): void {
    const names = this.network.params.names();
    const missing = names.filter((n) => !stored.has(n));
    if (missing.length) throw new Error(`weights missing: ${missing.join(', ')}`);
    for (const name of names) {
      const variable = this.network.params.get(name);
      const t = stored.get(name)!;
      if (t.shape.length !== variable.shape.length || t.shape.some((d, i) => d !== variable.shape[i])) {
        throw new Error(`weights ${name}: shape [${t.shape.join(',')}] does not match [${variable.shape.join(',')}]`);
      }
      tf.tidy(() => variable.assign(tf.tensor(t.values, t.shape)));
    }
  }

  dispose(): void {
    this.optimizer?.dispose();
    this.network.dispose();
  }
}

/** A freshly initialised model (random weights, seeded). */
export function createRamModel(config: RamConfig, seed = 1): AttentionModel {
  return new AttentionModel(config, seed);
}

/** Loads a model folder written by save(): config.json + weights.{json,bin}. */
export async function loadRamModel(dir: string): Promise<AttentionModel> {
  const config = JSON.parse(await readFile(join(dir, CONFIG_FILE), 'utf8')) as RamConfig;
  const model = new AttentionModel(config);
  try {
    model.setWeights(await readTensors(dir, WEIGHTS_BASE));
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}
