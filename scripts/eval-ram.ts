/**
 * Test error of a saved RAM model: npm run eval:ram -- MODEL_DIR [--samples N] [--limit N] [--glimpses N]
 * Uses the 10,000 MNIST test images, rendered as the model's task (translated /
 * cluttered versions come from a fixed seed, so the set is the same every run).
 */
import { parseArgs } from 'node:util';
import { selectTensorBackend } from '../src/platform/tensor-backend.js';
import { testError } from '../src/attention/evaluation.js';
import { loadRamModel } from '../src/attention/ram-model.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    samples: { type: 'string', default: '1' },
    limit: { type: 'string' },
    glimpses: { type: 'string' },
  },
});

async function main(): Promise<void> {
  const dir = positionals[0];
  if (!dir) {
    console.error('usage: npm run eval:ram -- MODEL_DIR [--samples N] [--limit N] [--glimpses N]');
    process.exit(2);
  }
  const backend = await selectTensorBackend();
  const model = await loadRamModel(dir);
  const samples = Number(values.samples);
  const r = testError(model.network, {
    samples,
    limit: values.limit ? Number(values.limit) : undefined,
    glimpses: values.glimpses ? Number(values.glimpses) : undefined,
  });
  const mode = samples > 1 ? `average of ${samples} sampled rollouts` : 'deterministic (location means)';
  console.log(
    `${dir}: test error ${(r.error * 100).toFixed(2)}% (${r.wrong}/${r.count} wrong) on ${r.task.task} ${r.task.imageSize}×${r.task.imageSize}, ` +
      `${values.glimpses ?? model.config.glimpses} glimpses, ${mode}; ${r.seconds.toFixed(1)} s on ${backend.backend}`,
  );
  model.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
