/**
 * Two models' probabilities read as one (an ensemble of two, compared before serving one: models/README.md
 * rule 24). Used by eval:ram and eval:photos --average-with.
 */
import { taskOfConfig, validationDigits } from '../../src/attention/evaluation.js';
import type { ResolvedRamConfig } from '../../src/attention/ram-config.js';
import { inputPlacement } from '../../src/images/preprocess.js';
import type { RamModel } from '../../src/attention/types.js';
import { meanReading, shiftedCopies, shiftOffsets } from '../../src/attention/test-shifts.js';

/** The element-wise mean of two probability vectors of the same length. */
export function meanOf(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new RangeError(`meanOf: ${a.length} probabilities against ${b.length}`);
  return a.map((p, k) => (p + b[k]!) / 2);
}

/** The models' own `predicted` rule (src/attention/arg-max.ts), for the pair's mean. */
export { argMax } from '../../src/attention/arg-max.js';

/**
 * Why model B (folder `dirB`) cannot be averaged with model A, or undefined when it can: both must read the same task,
 * canvas, placement and classes, and, when `validation` digits are read, have been validated on the same digits.
 */
export function pairProblem(dirA: string, a: ResolvedRamConfig, dirB: string, b: ResolvedRamConfig, validation: boolean): string | undefined {
  const reads = (c: ResolvedRamConfig): string => `${taskOfConfig(c).task} ${c.imageSize}×${c.imageSize} (${inputPlacement(c)} placement, classes ${c.classes.join(',')})`;
  if (reads(a) !== reads(b)) return `--average-with: ${dirB} reads ${reads(b)}, ${dirA} ${reads(a)}: they cannot be averaged`;
  if (validation && JSON.stringify(validationDigits(b).indices) !== JSON.stringify(validationDigits(a).indices)) {
    return `--average-with: ${dirB} was validated on other digits than ${dirA} (training.splitSeed or training.validation differ)`;
  }
  return undefined;
}

/**
 * The mean of `model`'s probabilities (at its location means) over `shifts` one-pixel shifts of `pixels`
 * (src/attention/test-shifts.ts; models/README.md rule 28): what eval:ram --served and eval:photos --shifts read.
 */
export function shiftedProbabilities(model: RamModel, pixels: Float32Array, shifts: number, glimpses?: number): number[] {
  return meanReading(shiftedCopies(pixels, model.config.imageSize, shifts).map((copy) => model.classify(copy, { glimpses }))).probabilities;
}

/**
 * The shifts eval:ram and eval:photos read with: --shifts as given (`flag`), else as the service reads the model, with its
 * config's shifts at the location means, and once with sampled rollouts (`samples` above 1) or a pair (`averaged`).
 */
export function shiftsToRead(flag: string | undefined, samples: number, averaged: boolean, config: ResolvedRamConfig): number {
  if (flag !== undefined) return Number(flag);
  return samples > 1 || averaged ? 1 : config.shifts ?? 1;
}

/** Why --shifts cannot be read as given, or undefined: a count SHIFT_OFFSETS knows, not with --samples > 1 or --average-with. */
export function shiftsProblem(shifts: number, samples: number, averaged: boolean): string | undefined {
  try {
    shiftOffsets(shifts);
  } catch (err) {
    return `--shifts: ${(err as Error).message}`;
  }
  if (shifts > 1 && samples > 1) return '--shifts reads each copy at the location means: it does not take --samples above 1';
  if (shifts > 1 && averaged) return '--shifts and --average-with are measured one at a time, not together';
  return undefined;
}
