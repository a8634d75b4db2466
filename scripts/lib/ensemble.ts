/**
 * Two models' probabilities read as one (an ensemble of two, compared before serving one: models/README.md
 * rule 24). Used by eval:ram and eval:photos --average-with.
 */
import { taskOfConfig, validationDigits } from '../../src/attention/evaluation.js';
import type { ResolvedRamConfig } from '../../src/attention/ram-config.js';
import { inputPlacement } from '../../src/images/preprocess.js';

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
