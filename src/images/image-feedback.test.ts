import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { closeDatabase, openDatabase } from '../store/database.js';
import { mnistTestDigit, paperPicture } from '../../test/images/fixtures.js';
import { makeRoot, shipTestModel, startImages, type ImagesHarness } from '../../test/images/harness.js';

interface Classified { eventId: string; label: string; probabilities: Record<string, number> }

async function classify(h: ImagesHarness, image: Buffer): Promise<Classified> {
  const res = await request(h.focal.app).post('/classify-image').set('Content-Type', 'image/png').send(image).expect(200);
  return res.body as Classified;
}

function reward(h: ImagesHarness, body: Record<string, unknown>) {
  return request(h.focal.app).post('/reward').send(body);
}

function folderBytes(dir: string): string {
  return readdirSync(dir).sort().map((f) => readFileSync(join(dir, f)).toString('base64')).join('|');
}

describe('image feedback through POST /reward', () => {
  let h: ImagesHarness;
  let root: string;
  let image: Buffer;
  let shipped: string;
  const digit = mnistTestDigit(0);
  const truth = String(digit.label);

  before(async () => {
    root = makeRoot();
    await shipTestModel(root);
    shipped = folderBytes(join(root, 'models', 'ram-mnist'));
    h = await startImages(root);
    image = await paperPicture(digit.pixels, { format: 'png' });
  });
  after(() => h.close(true));

  let learned: Classified;

  it('logs a label, learns from it and raises the probability of the true class for that image', async () => {
    const first = await classify(h, image);
    const res = await reward(h, { eventId: first.eventId, label: truth }).expect(200);
    assert.equal(res.body.eventId, first.eventId);
    assert.equal(res.body.reward, first.label === truth ? 1 : 0);
    assert.equal(res.body.applied, true);
    assert.equal(res.body.learning, 'queued');
    const row = h.db.prepare('SELECT reward, label, model FROM rewards WHERE event_id = ?').get(first.eventId) as { reward: number; label: string; model: string };
    assert.deepEqual({ ...row }, { reward: res.body.reward, label: truth, model: 'mnist' });
    await h.idle();
    learned = await classify(h, image);
    assert.ok(learned.probabilities[truth]! > first.probabilities[truth]!,
      `p(${truth}) went from ${first.probabilities[truth]} to ${learned.probabilities[truth]}`);
  });

  it('refuses duplicate feedback (409), unknown labels (400 naming label), unknown events (404)', async () => {
    const event = await classify(h, image);
    await reward(h, { eventId: event.eventId, label: truth }).expect(200);
    const dup = await reward(h, { eventId: event.eventId, label: truth }).expect(409);
    assert.equal(dup.body.eventId, event.eventId);
    const other = await classify(h, image);
    const bad = await reward(h, { eventId: other.eventId, label: 'seven' }).expect(400);
    assert.equal(bad.body.errors[0].path, '/label');
    const range = await reward(h, { eventId: other.eventId, reward: 3 }).expect(400);
    assert.equal(range.body.errors[0].path, '/reward');
    await reward(h, { eventId: 'no-such-event', label: truth }).expect(404);
    // None of the refusals logged anything.
    assert.equal((h.db.prepare('SELECT COUNT(*) AS n FROM rewards WHERE event_id = ?').get(other.eventId) as { n: number }).n, 0);
  });

  it('takes a bare reward: 1 confirms the prediction (and teaches it), 0 only counts', async () => {
    const a = await classify(h, image);
    const yes = await reward(h, { eventId: a.eventId, reward: 1 }).expect(200);
    assert.equal(yes.body.label, a.label);
    assert.equal(yes.body.learning, 'queued');
    const b = await classify(h, image);
    const no = await reward(h, { eventId: b.eventId, reward: 0 }).expect(200);
    assert.equal(no.body.label, null);
    assert.equal(no.body.learning, 'none');
  });

  it('handles image events inside a batch', async () => {
    const a = await classify(h, image);
    const b = await classify(h, image);
    const res = await reward(h, { events: [{ eventId: a.eventId, label: truth }, { eventId: b.eventId, label: 'x' }] }).expect(200);
    assert.deepEqual(res.body.results.map((r: { status: number }) => r.status), [200, 400]);
    await h.idle();
  });

  it('reports feedback, accuracy and online updates in /metrics', async () => {
    const text = (await request(h.focal.app).get('/metrics').expect(200)).text;
    assert.match(text, /focal_image_feedback_total\{model="mnist",kind="label"\} [1-9]/);
    assert.match(text, /focal_image_feedback_accuracy\{model="mnist"\} [0-9.]+/);
    assert.match(text, /focal_image_online_updates_total\{model="mnist"\} [1-9]/);
  });

  it('keeps the update across a restart: a snapshot under the data directory, never over the shipped model', async () => {
    await h.idle();
    const before = await classify(h, image);
    await h.close();
    assert.equal(folderBytes(join(root, 'models', 'ram-mnist')), shipped, 'the shipped folder is untouched');
    assert.ok(readdirSync(join(root, 'data', 'models', 'mnist')).includes('v1'));
    h = await startImages(root);
    const afterRestart = await classify(h, image);
    for (const [k, p] of Object.entries(before.probabilities)) assert.ok(Math.abs(afterRestart.probabilities[k]! - p) < 1e-5, `p(${k}) ${p} → ${afterRestart.probabilities[k]}`);
    assert.ok(afterRestart.probabilities[truth]! > 0 && learned.probabilities[truth]! > 0);
  });

  it('leaks no tensors over classifications and online updates (counted in the worker that runs them)', async () => {
    // The first step after a start creates the optimizer's state (Adam's moments): allocated once, not leaked.
    const warm = await classify(h, image);
    await reward(h, { eventId: warm.eventId, label: truth }).expect(200);
    await h.idle();
    await classify(h, image);
    const before = h.pool.liveTensors();
    assert.ok(before[0]! > 0, 'the worker reports its tensors');
    for (let i = 0; i < 5; i++) {
      const event = await classify(h, image);
      await reward(h, { eventId: event.eventId, label: truth }).expect(200);
    }
    await h.idle();
    await classify(h, image);
    assert.deepEqual(h.pool.liveTensors(), before);
    const text = (await request(h.focal.app).get('/metrics').expect(200)).text;
    assert.match(text, new RegExp(`focal_image_worker_tensors\\{worker="0"\\} ${before[0]}\\b`));
  });
});

describe('image feedback after a crash', () => {
  it('re-learns feedback the last snapshot had not folded in', async () => {
    const root = makeRoot();
    await shipTestModel(root);
    const digit = mnistTestDigit(1);
    const truth = String(digit.label);
    const image = await paperPicture(digit.pixels, { format: 'png' });
    const a = await startImages(root);
    const original = await classify(a, image);
    for (let i = 0; i < 3; i++) {
      const event = await classify(a, image);
      await reward(a, { eventId: event.eventId, label: truth }).expect(200);
    }
    await a.idle();
    const updated = await classify(a, image);
    assert.ok(updated.probabilities[truth]! > original.probabilities[truth]!);
    // A crash before any snapshot: the database keeps what was acknowledged, the weights are lost.
    await a.close();
    const db = openDatabase({ path: join(root, 'data', 'focal.db') });
    db.prepare("DELETE FROM snapshots WHERE model LIKE 'image:%'").run();
    closeDatabase(db);
    rmSync(join(root, 'data', 'models'), { recursive: true, force: true });
    const b = await startImages(root);
    try {
      const restarted = await classify(b, image);
      assert.ok(restarted.probabilities[truth]! > original.probabilities[truth]!,
        `p(${truth}): shipped ${original.probabilities[truth]}, before the crash ${updated.probabilities[truth]}, after ${restarted.probabilities[truth]}`);
      const updates = (await request(b.focal.app).get('/image-models').expect(200)).body.models[0].onlineUpdates;
      assert.equal(updates, 3);
    } finally {
      await b.close(true);
    }
  });
});
