/**
 * The attention model's public contract (Mnih et al. 2014, RAM), as consumed by
 * the images capability (src/images/). Pure: tensors and plain data, no HTTP,
 * no sharp, no database.
 */

export interface RamConfig {
  /** Side of the square input in pixels (28 for MNIST). */
  imageSize: number;
  /** Class labels in output order, e.g. ["0", …, "9"]. */
  classes: string[];
  /** Glimpses taken per image. */
  glimpses: number;
  /** Side g of each retina patch after resizing. */
  patchSize: number;
  /** Number k of patches per glimpse, each twice as wide as the previous. */
  scales: number;
  /** Fixed standard deviation of the Gaussian location policy. */
  locationStd: number;
  /** Every other hyperparameter (hidden sizes, core type, loss weights, …). */
  [key: string]: unknown;
}

export interface GlimpseStep {
  step: number;
  /** Glimpse centre in [-1, 1] image coordinates; (-1, -1) is the top-left corner. */
  x: number;
  y: number;
  /** Patch sides in input pixels, e.g. [8, 16, 32]. */
  sizes: number[];
}

export interface Classification {
  /** Class probabilities aligned with config.classes; they sum to 1. */
  probabilities: number[];
  /** Index of the most probable class. */
  predicted: number;
  /** The glimpse path (of the first rollout when samples > 1). */
  glimpses: GlimpseStep[];
}

export interface ClassifyOptions {
  /** Glimpses to take; default config.glimpses. */
  glimpses?: number;
  /** Monte-Carlo rollouts averaged; 1 (default) uses the location means deterministically. */
  samples?: number;
  /** Seed for sampled rollouts. */
  seed?: number;
}

export interface LabelledImage {
  /** imageSize × imageSize grey values in [0, 1], row-major, white ink on black. */
  pixels: Float32Array;
  /** Index into config.classes. */
  label: number;
}

/** A loaded RAM model that can classify and learn online. */
export interface RamModel {
  readonly config: RamConfig;
  classify(pixels: Float32Array, options?: ClassifyOptions): Classification;
  /** One online step of the hybrid loss on `batch`; returns the loss. Disposes every tensor it makes. */
  learn(batch: LabelledImage[], learningRate: number): number;
  /** Writes config.json + weights into `dir` (created if missing). */
  save(dir: string): Promise<void>;
  dispose(): void;
}
