import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { mnistTestDigit, paperPicture } from '../../test/images/fixtures.js';
import { makeRoot, shipTestModel, startImages, type ImagesHarness } from '../../test/images/harness.js';
import type { ClassifyReply, ClassifyTask } from './worker-protocol.js';

/**
 * The image worker pool behind POST /classify-image, over real HTTP on
 * loopback: image work stays off the event loop, a full queue is a 503, a
 * dead worker is replaced, learning reaches every worker, no tensors leak.
 */

interface Answer { status: number; headers: Headers; body: Record<string, unknown>; ms: number }

async function listen(h: ImagesHarness): Promise<{ server: Server; base: string }> {
  const server = h.focal.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

async function send(base: string, path: string, body: Buffer | Record<string, unknown>, type = 'image/png'): Promise<Answer> {
  const started = performance.now();
  const json = !Buffer.isBuffer(body);
  const res = await fetch(base + path, {
    method: 'POST', headers: { 'content-type': json ? 'application/json' : type },
    body: json ? JSON.stringify(body) : new Uint8Array(body),
  });
  const isJson = /json/.test(res.headers.get('content-type') ?? '');
  const parsed = isJson ? await res.json() as Record<string, unknown> : (await res.arrayBuffer(), {});
  return { status: res.status, headers: res.headers, body: parsed, ms: performance.now() - started };
}

/** A big PNG (the decoder inflates every one of its pixels) with a digit in it. */
async function bigPicture(side: number): Promise<Buffer> {
  const digit = await paperPicture(mnistTestDigit(3).pixels, { format: 'png', width: 400, height: 400 });
  return sharp({ create: { width: side, height: side, channels: 3, background: '#eeeae0' } })
    .composite([{ input: digit, left: Math.round(side / 3), top: Math.round(side / 3) }])
    .png({ compressionLevel: 1 })
    .toBuffer();
}

async function metric(base: string, name: string): Promise<string> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).join('\n');
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('image worker pool', { timeout: 240_000 }, () => {
  let big: Buffer;
  let small: Buffer;

  before(async () => {
    big = await bigPicture(3000);
    small = await paperPicture(mnistTestDigit(0).pixels, { format: 'png' });
  });

  describe('one worker, a queue of one', () => {
    let h: ImagesHarness;
    let base: string;
    let server: Server;

    before(async () => {
      const root = makeRoot();
      await shipTestModel(root);
      h = await startImages(root, { imageWorkers: 1, imageQueue: 1 });
      ({ server, base } = await listen(h));
      assert.equal((await fetch(`${base}/models/d`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 200);
    });
    after(async () => {
      await stop(server);
      await h.close(true);
    });

    it('answers 503 with Retry-After (a problem document naming FOCAL_IMAGE_QUEUE) once the queue is full, counted in /metrics', async () => {
      const eventsBefore = (h.db.prepare("SELECT COUNT(*) AS n FROM events WHERE kind = 'image'").get() as { n: number }).n;
      const answers = await Promise.all(Array.from({ length: 20 }, () => send(base, '/classify-image', big)));
      const refused = answers.filter((a) => a.status === 503);
      const served = answers.filter((a) => a.status === 200);
      assert.equal(refused.length + served.length, 20, answers.map((a) => a.status).join(','));
      // Those in flight on the worker (8) and the one waiting are served; the rest are refused at once.
      assert.ok(served.length >= 9 && refused.length >= 1, `${served.length} served, ${refused.length} refused`);
      for (const a of refused) {
        assert.equal(a.headers.get('content-type'), 'application/problem+json; charset=utf-8');
        assert.equal(a.headers.get('retry-after'), '1');
        assert.equal(a.body.status, 503);
        assert.equal(a.body.limit, 'FOCAL_IMAGE_QUEUE');
        assert.match(a.body.detail as string, /FOCAL_IMAGE_QUEUE=1/);
        // Refused without waiting for the work ahead of it.
        assert.ok(a.ms < Math.max(...served.map((s) => s.ms)), `a refusal took ${a.ms} ms`);
      }
      assert.match(await metric(base, 'focal_image_queue_rejections_total'), new RegExp(`^focal_image_queue_rejections_total ${refused.length}$`));
      const eventsAfter = (h.db.prepare("SELECT COUNT(*) AS n FROM events WHERE kind = 'image'").get() as { n: number }).n;
      assert.equal(eventsAfter - eventsBefore, served.length, 'only the served classifications are logged');
    });

    it('keeps answering /decide with bounded latency while large images are classified', async (t) => {
      // Many sampled rollouts of many glimpses, twice: on the event loop this would hold it for the whole inference.
      const heavy = Promise.all([0, 1].map(() => send(base, '/classify-image?samples=32&glimpses=32', big)));
      const started = performance.now();
      let done = false;
      void heavy.finally(() => { done = true; });
      const latencies: number[] = [];
      while (!done) {
        const a = await send(base, '/decide', { model: 'd', actions: ['a', 'b', 'c'], context: { i: latencies.length } });
        assert.equal(a.status, 200);
        latencies.push(a.ms);
      }
      const images = await heavy;
      assert.deepEqual(images.map((i) => i.status), [200, 200]);
      const imageMs = performance.now() - started;
      const sorted = [...latencies].sort((a, b) => a - b);
      const p90 = sorted[Math.floor(sorted.length * 0.9)]!;
      const slowest = sorted[sorted.length - 1]!;
      t.diagnostic(`${latencies.length} decisions during ${Math.round(imageMs)} ms of classification; p90 ${Math.round(p90)} ms, slowest ${Math.round(slowest)} ms`);
      assert.ok(latencies.length >= 10, `${latencies.length} decisions during ${Math.round(imageMs)} ms of classification`);
      // A single slow one may be a durable commit's fsync on a busy disk; most are quick, and none waits for the images.
      assert.ok(p90 < Math.max(150, imageMs / 4), `p90 of /decide ${Math.round(p90)} ms during ${Math.round(imageMs)} ms of classification`);
      assert.ok(slowest < imageMs / 2, `slowest /decide ${Math.round(slowest)} ms during ${Math.round(imageMs)} ms of classification`);
    });

    it('replaces a worker that dies: its request gets a 503 at once, the next one is served', async () => {
      const restartsBefore = await metric(base, 'focal_image_worker_restarts_total');
      assert.match(restartsBefore, / 0$/);
      const pending = send(base, '/classify-image', big);
      await until(() => h.pool.inFlight(0) > 0, 'the classification to reach the worker');
      const started = performance.now();
      await h.pool.threads()[0]!.terminate();
      const answer = await pending;
      assert.equal(answer.status, 503);
      assert.ok(performance.now() - started < 5_000, 'answered, not left hanging');
      assert.match(answer.body.detail as string, /image worker handling this request stopped/);
      assert.equal(answer.headers.get('retry-after'), '1');
      const next = await send(base, '/classify-image', small);
      assert.equal(next.status, 200, JSON.stringify(next.body));
      assert.match(await metric(base, 'focal_image_worker_restarts_total'), / 1$/);
      // The replacement is also the learner: feedback still teaches the model.
      const fed = await send(base, '/reward', { eventId: next.body.eventId as string, label: '0' });
      assert.equal(fed.status, 200);
      await h.idle();
      assert.equal(h.models.get('mnist')!.learner.updates, 1);
    });
  });

  describe('two workers', () => {
    let h: ImagesHarness;

    before(async () => {
      const root = makeRoot();
      await shipTestModel(root);
      h = await startImages(root, { imageWorkers: 2 });
    });
    after(() => h.close(true));

    // Each classification is logged by its worker: each needs an event id of its own.
    let tasks = 0;
    const task = (image: Buffer) => ({
      op: 'classify' as const, model: 'mnist', eventId: `pool-test-${++tasks}`, bytes: image, maxPixels: 1e7, glimpses: 6, samples: 1, seed: 1, render: false,
      form: 'raw' as const, modelUpdates: 0, input: false,
    });

    /** Classifies `image` over HTTP and sends its true label, three times: three online learning steps. */
    async function teach(image: Buffer, truth: string): Promise<void> {
      const { base, server } = await listen(h);
      try {
        for (let i = 0; i < 3; i++) {
          const c = await send(base, '/classify-image', image);
          assert.equal((await send(base, '/reward', { eventId: c.body.eventId as string, label: truth })).status, 200);
        }
      } finally {
        await stop(server);
      }
    }

    /** Two classifications at once: one lands on each worker. */
    async function onBoth(image: Buffer): Promise<{ probabilities: Record<string, number> }[]> {
      const replies = await Promise.all([h.pool.classify(task(image)), h.pool.classify(task(image))]);
      assert.deepEqual(replies.map((r) => r.worker).sort(), [0, 1]);
      return replies.map((r: ClassifyReply) => JSON.parse(r.body) as { probabilities: Record<string, number> });
    }

    it('sends what the learner worker learned to every other worker', async () => {
      const digit = mnistTestDigit(5);
      const truth = String(digit.label);
      const image = await paperPicture(digit.pixels, { format: 'png' });
      const before = await onBoth(image);
      assert.deepEqual(before[0]!.probabilities, before[1]!.probabilities);
      await teach(image, truth);
      await h.idle();
      const afterLearning = await onBoth(image);
      assert.deepEqual(afterLearning[0]!.probabilities, afterLearning[1]!.probabilities, 'both workers serve the same weights');
      assert.ok(afterLearning[0]!.probabilities[truth]! > before[0]!.probabilities[truth]!,
        `p(${truth}) went from ${before[0]!.probabilities[truth]} to ${afterLearning[0]!.probabilities[truth]}`);
    });

    it('brings a replacement worker up to the weights learned while it was starting', async () => {
      const digit = mnistTestDigit(8);
      const truth = String(digit.label);
      const image = await paperPicture(digit.pixels, { format: 'png' });
      const before = await onBoth(image);
      const thread = h.pool.threads()[1]!;
      await thread.terminate();
      assert.equal(h.pool.isReady(1), false);
      await teach(image, truth);
      await h.idle();
      await until(() => h.pool.isReady(1), 'the replacement worker');
      const afterLearning = await onBoth(image);
      assert.notDeepEqual(afterLearning[0]!.probabilities, before[0]!.probabilities, 'the learner learned');
      assert.deepEqual(afterLearning[1]!.probabilities, afterLearning[0]!.probabilities, 'the replacement serves the same weights');
    });

    it('takes bytes it may not transfer by copy, and a task it cannot send is refused without holding a worker', async () => {
      // sharp's output is an external buffer, which Node 21+ refuses to transfer (Node 20 copied it quietly).
      const made = await paperPicture(mnistTestDigit(4).pixels, { format: 'png' });
      const length = made.byteLength;
      const first = JSON.parse((await h.pool.classify(task(made))).body) as { label: string };
      assert.equal(made.byteLength, length, "the caller's bytes are untouched");
      assert.equal(JSON.parse((await h.pool.classify(task(made))).body).label, first.label, 'the same bytes classify again, alike');
      // Bytes that own their buffer move to the worker: the caller's view is left empty, and sending it again is refused.
      const owned = Buffer.from(new Uint8Array(made).buffer);
      assert.equal(owned.byteOffset, 0);
      assert.equal(JSON.parse((await h.pool.classify(task(owned))).body).label, first.label);
      assert.equal(owned.byteLength, 0, 'transferred, not copied');
      await assert.rejects(h.pool.classify(task(owned)), /already transferred/);
      // A task that cannot be cloned is refused at once, and both workers are free again afterwards.
      const unclonable = { ...task(made), extra: () => 0 } as unknown as ClassifyTask;
      for (let i = 0; i < 20; i++) await assert.rejects(h.pool.classify(unclonable), { name: 'DataCloneError' });
      assert.deepEqual([h.pool.inFlight(0), h.pool.inFlight(1)], [0, 0]);
      const replies = await Promise.all([h.pool.classify(task(made)), h.pool.classify(task(made))]);
      assert.deepEqual(replies.map((r) => r.worker).sort(), [0, 1]);
    });

    it('leaks no tensors in any worker over many classifications, renders and learning steps', async () => {
      const image = await paperPicture(mnistTestDigit(7).pixels, { format: 'jpeg' });
      await onBoth(image);
      const before = h.pool.liveTensors();
      assert.equal(before.length, 2);
      assert.ok(before.every((n) => n > 0));
      const { base, server } = await listen(h);
      try {
        for (let round = 0; round < 10; round++) {
          const answers = await Promise.all([
            send(base, '/classify-image', image), send(base, '/classify-image?samples=4', image),
            send(base, '/classify-image?render=png', image), send(base, '/classify-image', small),
          ]);
          assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200]);
          if (round % 3 === 0) assert.equal((await send(base, '/reward', { eventId: answers[0]!.body.eventId as string, label: '7' })).status, 200);
        }
        await h.idle();
        await onBoth(image);
        assert.deepEqual(h.pool.liveTensors(), before);
        const gauge = await metric(base, 'focal_image_worker_tensors');
        assert.match(gauge, new RegExp(`worker="0"\\} ${before[0]}`));
        assert.match(gauge, new RegExp(`worker="1"\\} ${before[1]}`));
      } finally {
        await stop(server);
      }
    });
  });
});
