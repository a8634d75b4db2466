import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { createRamModel } from '../attention/index.js';
import { createLogger } from '../platform/logger.js';
import { Metrics } from '../platform/metrics.js';
import { selectTensorBackend } from '../platform/tensor-backend.js';
import { closeDatabase, openDatabase, type Db } from '../store/database.js';
import { createImageMetrics, type ImageMetrics } from './image-metrics.js';
import { decodePixels, encodePixels, ImageStore, type ImageEventPayload, type LabelledFeedback } from './image-store.js';
import { loadImageModels } from './model-catalog.js';
import { DEFAULT_ONLINE_LEARNING, OnlineLearner } from './online-learner.js';
import { mnistTestDigit } from '../../test/images/fixtures.js';
import { shipTestModel, TEST_MODEL_CONFIG } from '../../test/images/harness.js';

const logger = createLogger('silent');

/** Logs a classification and its labelled feedback as the HTTP path would; returns what the learner gets. */
function feedback(store: ImageStore, model: string, index: number): LabelledFeedback {
  const { pixels, label } = mnistTestDigit(index);
  const eventId = `e-${index}-${Math.random()}`;
  const payload: ImageEventPayload = {
    imageSize: 28, pixels: encodePixels(pixels), label: '0', predicted: 0, confidence: 1, probabilities: {}, glimpses: [],
    options: { glimpses: 6, samples: 1 }, input: { form: 'raw', format: 'png', width: 28, height: 28, bytes: 0, inverted: false }, modelUpdates: 0,
  };
  store.insertEvent(eventId, model, JSON.stringify(payload));
  const outcome = store.recordFeedback(eventId, model, 0, String(label));
  assert.ok(outcome.ok);
  return { seq: outcome.seq, eventId, label: String(label), pixels };
}

describe('OnlineLearner', () => {
  let dir: string;
  let db: Db;
  let store: ImageStore;
  let metrics: ImageMetrics;
  let registry: Metrics;

  before(async () => {
    await selectTensorBackend();
    dir = mkdtempSync(join(tmpdir(), 'focal-learner-'));
    db = openDatabase({ path: join(dir, 'focal.db') });
    store = new ImageStore(db);
    registry = new Metrics({ defaultMetrics: false });
    metrics = createImageMetrics(registry);
  });
  after(() => {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });

  it('learns a burst of feedback in fewer steps, then snapshots, keeping only the newest snapshots', async () => {
    const model = createRamModel(TEST_MODEL_CONFIG, 3);
    const learner = new OnlineLearner({
      name: 'burst', model, base: 'b1', dataDir: dir, store, metrics, logger,
      options: { ...DEFAULT_ONLINE_LEARNING, keepSnapshots: 2 }, state: { version: 0, appliedSeq: 0, updates: 0 },
    });
    const items = [1, 2, 3, 4, 5].map((i) => feedback(store, 'burst', i));
    for (const item of items) learner.learn(item);
    await learner.idle();
    assert.equal(learner.updates, 5);
    const steps = (await registry.registry.getSingleMetric('focal_image_online_updates_total')!.get()).values.find((v) => v.labels.model === 'burst')!.value;
    assert.ok(steps < 5, `${steps} steps for 5 feedback`);

    for (let round = 0; round < 3; round++) {
      learner.learn(feedback(store, 'burst', 10 + round));
      await learner.snapshot();
    }
    await learner.snapshot(); // nothing new: no snapshot
    const snaps = store.snapshots('burst');
    assert.deepEqual(snaps.map((s) => s.version), [3, 2]);
    assert.equal(snaps[0]!.rewardSeq, Math.max(...items.map((i) => i.seq)) + 3);
    assert.equal(snaps[0]!.state.updates, 8);
    assert.ok(!existsSync(join(dir, 'models', 'burst', 'v1')), 'the oldest snapshot is deleted');
    assert.ok(existsSync(join(dir, 'models', 'burst', 'v3', 'config.json')));
    await learner.close();
    model.dispose();
  });

  it('ignores a snapshot of an older shipped model and starts from the new shipped weights', async () => {
    const root = mkdtempSync(join(tmpdir(), 'focal-catalog-'));
    const deps = {
      modelsDir: join(root, 'models'), dataDir: join(root, 'data'), store, metrics, logger, learning: DEFAULT_ONLINE_LEARNING,
      workers: 1, queueLimit: 8, tfBackend: 'wasm' as const, nice: 10,
    };
    try {
      await shipTestModel(root, 'digits', 1);
      const first = await loadImageModels(deps);
      const learner = first.models.get('digits')!.learner;
      learner.learn(feedback(store, 'digits', 20));
      await learner.close();
      await first.pool.close();
      assert.equal(store.snapshots('digits').length, 1);

      const reloaded = await loadImageModels(deps);
      assert.equal(reloaded.models.get('digits')!.learner.snapshotVersion, 1, 'same shipped model: the snapshot is used');
      await reloaded.pool.close();

      await shipTestModel(root, 'digits', 2);
      const fresh = createRamModel(TEST_MODEL_CONFIG, 2);
      const replaced = await loadImageModels(deps);
      try {
        const entry = replaced.models.get('digits')!;
        assert.equal(entry.learner.snapshotVersion, 0, 'new shipped model: the old snapshot is not used');
        // Its feedback is re-learned on the new weights, so compare against the new shipped model before and after one step.
        assert.equal(entry.learner.updates, 1);
        const png = await sharp(Buffer.from(mnistTestDigit(21).pixels.map((v) => v * 255)), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
        const served = await replaced.pool.classify({
          op: 'classify', model: 'digits', eventId: 'served', bytes: png, maxPixels: 1e6, glimpses: 6, samples: 1, seed: 1, render: false, form: 'raw', modelUpdates: 1, input: true,
        });
        const answer = JSON.parse(served.body) as { probabilities: Record<string, number>; input: { pixels: string } };
        const seen = decodePixels(answer.input.pixels);
        assert.notDeepEqual(Object.values(answer.probabilities), fresh.classify(seen).probabilities);
      } finally {
        fresh.dispose();
        await replaced.pool.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
