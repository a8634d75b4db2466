/**
 * One picture of `npm run render:photos`' training set, shared by the script's main thread and its worker threads
 * (scripts/lib/photo-set-worker.ts): picture i is training digit i drawn by photo-digits.ts with the set's seed and
 * pen, then read back by the service's own preprocessing into the 28×28 bytes the model gets. It depends only on
 * (digit, i, settings), so pictures rendered in any order, on any thread, make the same set.
 */
import type { DigitSet } from '../../src/attention/mnist-dataset.js';
import { preprocessImage } from '../../src/images/preprocess.js';
import { photoDigit, type Pen } from './photo-digits.js';

export const SIDE = 28;
/** The preprocessing's pixel limit for these pictures (they are far smaller). */
const MAX_PIXELS = 25_000_000;

export interface PhotoSetSettings {
  seed: number;
  pen: Pen;
  /** The preprocessing's calibrateInk. */
  calibrateInk: boolean;
}

/** Renders picture `i` into `images` at picture `at` (SIDE² bytes from at · SIDE²) and returns its label. */
export async function renderPicture(train: DigitSet, i: number, settings: PhotoSetSettings, images: Uint8Array, at: number): Promise<number> {
  const { bytes, params } = await photoDigit(train, i, settings.seed, undefined, settings.pen);
  if (params.label !== train.labels[i]) throw new Error(`picture ${i}: label ${params.label}, digit ${train.labels[i]}`);
  const { pixels } = await preprocessImage(bytes, { maxPixels: MAX_PIXELS, calibrateInk: settings.calibrateInk });
  if (pixels.length !== SIDE * SIDE) throw new Error(`picture ${i}: preprocessing gave ${pixels.length} values, not ${SIDE * SIDE}`);
  const offset = at * SIDE * SIDE;
  for (let p = 0; p < pixels.length; p++) images[offset + p] = Math.round(Math.min(1, Math.max(0, pixels[p]!)) * 255);
  return params.label;
}

/** What the main thread asks a worker for: pictures [from, to). */
export interface RenderChunk {
  from: number;
  to: number;
}

/** A worker's answer: the chunk's pictures (SIDE² bytes each) and labels, or why it failed. */
export type RenderedChunk = (RenderChunk & { images: Uint8Array; labels: Uint8Array }) | { error: string };
