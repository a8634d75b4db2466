/**
 * Test error of a saved RAM model: npm run eval:ram -- MODEL_DIR [--samples N] [--limit N] [--glimpses N] [--served] [--split test|validation] [--seed 1]
 * Uses the 10,000 MNIST test images, rendered as the model's task (translated /
 * cluttered versions come from a fixed seed, so the set is the same every run:
 * renderTestSet in src/attention/evaluation.ts). With --served each test image
 * is also sent as a PNG file through the service's preprocessing (what
 * POST /classify-image does), and that error is printed too. With --split validation
 * the error is instead that of the held-out training digits the model was validated on
 * (its config's training seed and size), where choices may be made without the test set.
 * --average-with DIR reads every image with a second model too (at its location means) and scores the mean of the
 * two models' probabilities: an ensemble of two, compared before serving one (models/README.md rule 24).
 * --shifts 5 (or 9) reads every image as it is and moved by one pixel (zero fill) and scores the mean of the copies'
 * probabilities, at the location means (src/attention/test-shifts.ts; models/README.md rule 28). Without --shifts a
 * model is read as the service reads it: with its config's shifts, unless --samples or --average-with is given.
 */
import { parseArgs } from 'node:util';
import { selectTensorBackend } from '../src/platform/tensor-backend.js';
import sharp from 'sharp';
import { progress } from './lib/progress.js';
import { renderTestSet, standardError, taskOfConfig, testError, validationError } from '../src/attention/evaluation.js';
import { argMax, meanOf, pairProblem, shiftedProbabilities, shiftsProblem, shiftsToRead } from './lib/ensemble.js';
import { inputPlacement } from '../src/images/preprocess.js';
import { preprocessImage } from '../src/images/preprocess.js';
import { loadRamModel } from '../src/attention/ram-model.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    samples: { type: 'string', default: '1' },
    limit: { type: 'string' },
    glimpses: { type: 'string' },
    served: { type: 'boolean', default: false },
    split: { type: 'string', default: 'test' },
    seed: { type: 'string', default: '1' },
    'average-with': { type: 'string' },
    shifts: { type: 'string' },
  },
});

async function main(): Promise<void> {
  const dir = positionals[0];
  if (!dir) {
    console.error('usage: npm run eval:ram -- MODEL_DIR [--samples N] [--limit N] [--glimpses N] [--served] [--split test|validation] [--seed 1 (of the sampled rollouts)] [--average-with DIR (a second model; the mean of both models\' probabilities)] [--shifts 1|5|9 (each image also read moved one pixel; probabilities averaged; default the model\'s config.shifts)]');
    process.exit(2);
  }
  if (values.split !== 'test' && values.split !== 'validation') {
    console.error(`--split is test or validation, not ${values.split}`);
    process.exit(2);
  }
  if (values.split === 'validation' && (values.served || values.limit)) {
    console.error('--split validation takes neither --served nor --limit');
    process.exit(2);
  }
  const split = values.split;
  const backend = await selectTensorBackend();
  const model = await loadRamModel(dir);
  const other = values['average-with'] ? await loadRamModel(values['average-with']) : undefined;
  const problem = other && pairProblem(dir, model.config, values['average-with']!, other.config, split === 'validation');
  if (problem) {
    console.error(problem);
    process.exit(2);
  }
  const samples = Number(values.samples);
  const shifts = shiftsToRead(values.shifts, samples, other !== undefined, model.config);
  const shiftProblem = shiftsProblem(shifts, samples, other !== undefined);
  if (shiftProblem) {
    console.error(shiftProblem);
    process.exit(2);
  }
  const limit = values.limit ? Number(values.limit) : undefined;
  const seed = Number(values.seed);
  const options = { samples, seed, glimpses: values.glimpses ? Number(values.glimpses) : undefined, ...(other ? { averageWith: other.network } : {}), shifts };
  const bar = progress(`${split} set`, limit ?? (split === 'test' ? 10_000 : 5_000), { unit: 'images' });
  const onProgress = (done: number, total: number): void => { bar.setTotal(total); bar.update(done); };
  const r = split === 'test' ? testError(model.network, { ...options, onProgress, limit }) : validationError(model.network, { ...options, onProgress });
  bar.stop();
  const mode = (samples > 1 ? `average of ${samples} sampled rollouts (seed ${seed})` : 'deterministic (location means)') +
    (other ? `, probabilities averaged with ${values['average-with']}'s (location means)` : '') +
    (shifts > 1 ? `, probabilities averaged over ${shifts} one-pixel shifts` : '');
  console.log(
    `${dir}: ${split} error ${(r.error * 100).toFixed(2)}% ± ${(standardError(r.error, r.count) * 100).toFixed(2)}% (${r.wrong}/${r.count} wrong) on ${r.task.task} ${r.task.imageSize}×${r.task.imageSize}, ` +
      `${values.glimpses ?? model.config.glimpses} glimpses, ${mode}; ${r.seconds.toFixed(1)} s on ${backend.backend}`,
  );
  if (values.served) {
    // The same images as PNG files through the service's preprocessing, as POST /classify-image reads them.
    const spec = taskOfConfig(model.config);
    const set = renderTestSet(spec, values.limit ? Number(values.limit) : undefined);
    const side = spec.imageSize;
    const started = performance.now();
    let wrong = 0;
    const served = progress('served test set', set.count, { unit: 'images' });
    for (let n = 0; n < set.count; n++) {
      served.update(n + 1);
      const bytes = Buffer.from(Uint8Array.from(set.pixels.subarray(n * side * side, (n + 1) * side * side), (v) => Math.round(v * 255)));
      const png = await sharp(bytes, { raw: { width: side, height: side, channels: 1 } }).png().toBuffer();
      const pre = await preprocessImage(png, { maxPixels: 25_000_000, size: model.config.imageSize, placement: inputPlacement(model.config) });
      // Sampled rollouts seeded per image, as the service seeds them per event (n + 1 with --seed 1).
      const c = shifts > 1 ? undefined : model.classify(pre.pixels, { glimpses: values.glimpses ? Number(values.glimpses) : undefined, samples, seed: (seed - 1) * 1_000_003 + n + 1 });
      const probabilities = c ? (other ? meanOf(c.probabilities, other.classify(pre.pixels).probabilities) : c.probabilities) : shiftedProbabilities(model, pre.pixels, shifts, values.glimpses ? Number(values.glimpses) : undefined);
      if (argMax(probabilities) !== set.labels[n]) wrong++;
    }
    served.stop();
    console.log(
      `${dir}: served test error ${((wrong / set.count) * 100).toFixed(2)}% ± ${(standardError(wrong / set.count, set.count) * 100).toFixed(2)}% (${wrong}/${set.count} wrong), each image a ${side}×${side} PNG through the ` +
        `service's preprocessing (${inputPlacement(model.config)} placement), ${mode}; ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  model.dispose();
  other?.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
