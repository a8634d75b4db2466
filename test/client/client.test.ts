import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { classifyImage, createFocalClient, FocalProblemError, ok, retryAfterMs, type RetryEvent } from '../../clients/typescript/src/index.js';
import { buildTestApp, type TestApp } from '../helpers.js';
import { mnistTestDigit, paperPicture } from '../images/fixtures.js';

/** POST /decide answers one decision, or one per slot when the request had slots: the typed answer is narrowed on that. */
function single<T extends object>(d: T): Exclude<T, { slots: unknown }> {
  assert.ok(!('slots' in d), 'a decision without slots');
  return d as Exclude<T, { slots: unknown }>;
}
import { makeRoot, shipTestModel, startImages, type ImagesHarness } from '../images/harness.js';

/**
 * The typed client (clients/typescript) against a real Focal listening on a loopback port: decisions and
 * rewards, problem documents as FocalProblemError, and real 503s from a full image queue retried.
 */
describe('@focal/client against a running Focal', () => {
  let h: ImagesHarness;
  let server: Server;
  let baseUrl: string;
  let big: Buffer;

  before(async () => {
    const root = makeRoot();
    await shipTestModel(root);
    // One image worker and no waiting room: a burst of classifications gets real 503s (Retry-After: 1).
    h = await startImages(root, { imageWorkers: 1, imageQueue: 0, limits: { imagePixels: 25_000_000, imageBytes: 20_000_000 } });
    server = h.focal.app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Large enough that decoding and resizing keeps the worker busy while the burst arrives.
    big = await paperPicture(mnistTestDigit(3).pixels, { width: 2400, height: 2400, format: 'png' });
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await h.close(true);
  });

  it('a multi-slot decision and its per-slot rewards, typed', async () => {
    const focal = createFocalClient({ baseUrl });
    const answer = await ok(focal.POST('/decide', { body: { actions: ['a', 'b', 'c'], slots: [{ id: 'hero' }, { id: 'side', baseline: 'b' }] } }));
    assert.ok('slots' in answer);
    assert.deepEqual(answer.slots.map((s) => s.id), ['hero', 'side']);
    assert.notEqual(answer.slots[0]!.action, answer.slots[1]!.action);
    const rewarded = await ok(focal.POST('/reward', { body: { eventId: answer.eventId, rewards: { hero: 1, side: 0 } } }));
    assert.deepEqual((rewarded as { results: { status: number }[] }).results.map((r) => r.status), [200, 200]);
  });

  it('decides and rewards with typed requests and answers', async () => {
    const focal = createFocalClient({ baseUrl });
    const decision = single(await ok(focal.POST('/decide', { body: { context: { hour: 9, user: { premium: true } }, actions: ['news', 'sports', { id: 'music', features: { length: 30 } }] } })));
    assert.ok(['news', 'sports', 'music'].includes(decision.action));
    assert.equal(decision.model, 'default');
    assert.equal(decision.ranking.length, 3);
    assert.ok(Math.abs(decision.ranking.reduce((a, r) => a + r.probability, 0) - 1) < 1e-9);
    assert.equal(decision.ranking.find((r) => r.id === decision.action)!.probability, decision.probability);
    const reward = await ok(focal.POST('/reward', { body: { eventId: decision.eventId, reward: 1 } }));
    assert.equal((reward as { eventId?: string }).eventId, decision.eventId);
    const row = h.db.prepare('SELECT reward FROM rewards WHERE event_id = ?').get(decision.eventId) as { reward: number };
    assert.equal(row.reward, 1);
    const models = await ok(focal.GET('/models'));
    assert.ok(JSON.stringify(models).includes('"default"'));
  });

  it('surfaces a 4xx as a FocalProblemError carrying the problem document', async () => {
    const focal = createFocalClient({ baseUrl });
    const body = { context: { hour: 9 }, actions: ['a', 'a'] };
    const raw = await fetch(`${baseUrl}/decide`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const expected = await raw.json() as Record<string, unknown>;
    assert.equal(raw.status, 400);
    const err = await focal.POST('/decide', { body }).then(() => assert.fail('resolved'), (e: unknown) => e);
    assert.ok(err instanceof FocalProblemError, String(err));
    assert.equal(err.status, 400);
    assert.equal(err.type, expected.type);
    assert.equal(err.title, expected.title);
    assert.equal(err.detail, expected.detail);
    assert.deepEqual(err.problem, expected);
    assert.equal(err.response.status, 400);
    assert.match(err.message, /^400 /);

    const unknownModel = await focal.POST('/decide', { body: { model: 'nope', actions: ['a'] } }).catch((e: unknown) => e);
    assert.ok(unknownModel instanceof FocalProblemError && unknownModel.status === 404, String(unknownModel));
    assert.match(unknownModel.detail, /nope/);

    const decision = await ok(focal.POST('/decide', { body: { actions: ['a', 'b'] } }));
    await ok(focal.POST('/reward', { body: { eventId: decision.eventId, reward: 0 } }));
    const twice = await focal.POST('/reward', { body: { eventId: decision.eventId, reward: 1 } }).catch((e: unknown) => e);
    assert.ok(twice instanceof FocalProblemError && twice.status === 409, String(twice));
  });

  /** Fires `n` classifications at once; returns what each ended with. */
  function burst(n: number, options: Parameters<typeof createFocalClient>[0]) {
    const focal = createFocalClient(options);
    return Promise.all(Array.from({ length: n }, () => classifyImage(focal, big, { contentType: 'image/png' }).then((c) => c, (e: unknown) => e)));
  }

  it('retries 503s from a full image queue after Retry-After, and surfaces them when retries are off or the wait is too long', async () => {
    // Retries off: the refusals reach the caller, typed, with the server's Retry-After and extension members.
    const refused = (await burst(16, { baseUrl, retry: { retries: 0 } })).filter((r) => r instanceof FocalProblemError);
    assert.ok(refused.length >= 1, 'a burst past the queue is refused');
    for (const e of refused) {
      assert.equal(e.status, 503);
      assert.equal(e.retryAfter, 1);
      assert.equal(e.problem.limit, 'FOCAL_IMAGE_QUEUE');
    }

    // A Retry-After longer than maxDelayMs is not waited for (nor cut short): the 503 is surfaced.
    const impatient: RetryEvent[] = [];
    const tooLong = (await burst(16, { baseUrl, retry: { retries: 5, maxDelayMs: 500 }, onRetry: (e) => impatient.push(e) }))
      .filter((r) => r instanceof FocalProblemError);
    assert.ok(tooLong.length >= 1 && tooLong.every((e) => e.status === 503));
    assert.equal(impatient.length, 0);

    // Retries on: every classification of the same burst is served in the end, after waiting what the server asked.
    const retried: RetryEvent[] = [];
    const started = Date.now();
    const results = await burst(16, { baseUrl, retry: { retries: 20 }, onRetry: (e) => retried.push(e) });
    for (const r of results) assert.ok(!(r instanceof Error), String(r));
    assert.ok(results.every((r) => typeof (r as { label?: unknown }).label === 'string'));
    assert.ok(retried.length >= 1, 'some were retried');
    assert.ok(retried.every((e) => e.delayMs === 1000 && e.response.status === 503));
    assert.ok(Date.now() - started >= 1000, 'the retry waited the Retry-After');
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    assert.equal(retryAfterMs('3'), 3000);
    assert.equal(retryAfterMs(new Date(10_000 + 4_000).toUTCString(), 10_000), 4000);
    assert.equal(retryAfterMs(null), undefined);
    assert.equal(retryAfterMs('soon'), undefined);
  });
});

describe('@focal/client against a Focal with FOCAL_API_KEY set', () => {
  const key = 'client-test-key-0123456789';
  let t: TestApp;
  let server: Server;
  let baseUrl: string;

  before(async () => {
    t = await buildTestApp({ config: { apiKey: key } });
    server = t.focal.app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await t.close();
  });

  it('sends the key as a bearer token; without it the 401 is a FocalProblemError', async () => {
    const denied = await createFocalClient({ baseUrl }).POST('/decide', { body: { actions: ['a', 'b'] } }).catch((e: unknown) => e);
    assert.ok(denied instanceof FocalProblemError && denied.status === 401, String(denied));
    const wrong = await createFocalClient({ baseUrl, apiKey: 'not-the-key-0123456789' }).GET('/models').catch((e: unknown) => e);
    assert.ok(wrong instanceof FocalProblemError && [401, 403].includes(wrong.status), String(wrong));
    const decision = single(await ok(createFocalClient({ baseUrl, apiKey: key }).POST('/decide', { body: { actions: ['a', 'b'] } })));
    assert.ok(['a', 'b'].includes(decision.action));
  });
});
