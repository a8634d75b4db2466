/**
 * POST /decide is served by the lean lane (node's request/response, in front
 * of express) when the request is plain JSON, and by express otherwise. Both
 * must give the same answers: each case is sent once to /decide (lean) and
 * once to /decide?via=express (a query string sends it through express, which
 * ignores it), and the two responses are compared field by field.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { LeanLane } from '../../src/http/lean-lane.js';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';
import { payloadText } from '../../src/store/payload-codec.js';
import { startHarness, type Harness } from './harness.js';

const KEY = 'lean-lane-test-key-0123456789';

interface Case {
  name: string;
  body: string | Buffer;
  type?: string;
  headers?: Record<string, string>;
}

const actions = [{ id: 'a', features: { x: 1 } }, 'b'];
const big = JSON.stringify({ actions: ['a'], context: { pad: 'x'.repeat(3000) } });

const CASES: Case[] = [
  { name: 'valid', body: JSON.stringify({ context: { u: { age: 3 } }, actions }) },
  { name: 'valid with a charset', body: JSON.stringify({ actions }), type: 'application/json; charset=utf-8' },
  { name: 'valid with a BOM', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ actions }))]) },
  { name: 'malformed JSON', body: '{"actions": [' },
  { name: 'not an object', body: '[1,2]' },
  { name: 'a bare string', body: '"hello"' },
  { name: 'duplicate action ids', body: JSON.stringify({ actions: ['a', 'a'] }) },
  { name: 'an unknown property', body: JSON.stringify({ actions, extra: 1 }) },
  { name: 'no actions', body: JSON.stringify({ context: { x: 1 } }) },
  { name: 'an unknown model', body: JSON.stringify({ model: 'nope', actions }) },
  { name: 'a bad feature', body: JSON.stringify({ actions: [{ id: 'a', features: { ns: { '': 1 } } }] }) },
  { name: 'too many actions', body: JSON.stringify({ actions: Array.from({ length: 9 }, (_, i) => `a${i}`) }) },
  { name: 'over FOCAL_MAX_BODY', body: big },
  { name: 'no key', body: JSON.stringify({ actions }), headers: { authorization: '' } },
  { name: 'a wrong key', body: JSON.stringify({ actions }), headers: { authorization: 'Bearer wrong' } },
  // Not plain JSON: express serves both forms (and so they agree by construction); kept to show nothing else changed.
  { name: 'gzip', body: gzipSync(JSON.stringify({ actions })), headers: { 'content-encoding': 'gzip' } },
  { name: 'text/plain', body: JSON.stringify({ actions }), type: 'text/plain' },
  { name: 'latin1', body: JSON.stringify({ actions }), type: 'application/json; charset=latin1' },
];

/** The cases that are not plain JSON, which express serves in both forms. */
const EXPRESS_ONLY = new Set(['gzip', 'text/plain', 'latin1']);

async function send(h: Harness, path: string, c: Case) {
  let r = request(h.focal.app).post(path).set('Content-Type', c.type ?? 'application/json').set('Authorization', `Bearer ${KEY}`);
  for (const [k, v] of Object.entries(c.headers ?? {})) r = v === '' ? r.unset(k) : r.set(k, v);
  return r.send(c.body);
}

/**
 * The comparable part of a response: volatile fields left out (ids, the request's own URL, and the sampled
 * action, which is drawn with the event id as seed; the ranking, i.e. the PMF, must agree).
 */
function comparable(res: request.Response): Record<string, unknown> {
  const body = { ...(res.body as Record<string, unknown>) };
  delete body.eventId;
  delete body.action;
  delete body.probability;
  delete body.instance;
  delete body.errorId;
  return { status: res.status, type: res.headers['content-type'], auth: res.headers['www-authenticate'], body };
}

describe('lean lane', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ config: { apiKey: KEY, limits: { actionsPerRequest: 8, bodyBytes: 2048 } } });
  });
  after(async () => { await h.close(); });

  for (const c of CASES) {
    it(`answers ${c.name} as express does`, async () => {
      const before = h.focal.lean.served;
      const lean = await send(h, '/decide', c);
      const taken = h.focal.lean.served - before;
      const viaExpress = await send(h, '/decide?via=express', c);
      assert.equal(h.focal.lean.served - before, taken, 'a query string goes to express');
      assert.equal(taken, EXPRESS_ONLY.has(c.name) ? 0 : 1, 'plain JSON goes to the lean lane');
      assert.deepEqual(comparable(lean), comparable(viaExpress));
      assert.ok(lean.status < 500, `${lean.status} ${JSON.stringify(lean.body)}`);
    });
  }

  it('logs the same decision on both paths: the body as received when it is exactly the parsed text', async () => {
    const body = JSON.stringify({ context: { u: { age: 3 } }, actions });
    const lean = await send(h, '/decide', { name: 'log', body });
    const viaExpress = await send(h, '/decide?via=express', { name: 'log', body });
    const rows = [lean, viaExpress].map((r) => h.db.prepare('SELECT payload FROM events WHERE event_id = ?').get(r.body.eventId) as { payload: Buffer });
    for (const row of rows) assert.equal(JSON.parse(payloadText(row.payload)).request !== undefined, true, 'logged as received');
    const [a, b] = rows.map((r) => ({ ...decodeDecisionPayload(r.payload), chosen: undefined, probability: undefined }));
    assert.deepEqual(a, b);
  });

  it('counts lean requests in the HTTP metrics under the route template', async () => {
    assert.equal((await send(h, '/decide', { name: 'metric', body: JSON.stringify({ actions }) })).status, 200);
    const text = (await request(h.focal.app).get('/metrics')).text;
    assert.match(text, /focal_http_request_duration_seconds_count\{route="\/decide",method="POST",status="200"\} [1-9]/);
  });
});

describe('lean lane: POST /reward', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ config: { apiKey: KEY } }); });
  after(async () => { await h.close(); });

  /** A fresh decision per path, so the two forms of a case meet the same state. */
  const decision = async () => (await send(h, '/decide', { name: 'setup', body: JSON.stringify({ actions }) })).body.eventId as string;

  const cases: { name: string; body: (id: string) => string; repeat?: boolean }[] = [
    { name: 'a reward', body: (id) => JSON.stringify({ eventId: id, reward: 1 }) },
    { name: 'a duplicate reward', body: (id) => JSON.stringify({ eventId: id, reward: 1 }), repeat: true },
    { name: 'a batch', body: (id) => JSON.stringify({ events: [{ eventId: id, reward: 0.5 }, { eventId: 'nope', reward: 1 }] }) },
    { name: 'an unknown event', body: () => JSON.stringify({ eventId: 'nope', reward: 1 }) },
    { name: 'no reward', body: (id) => JSON.stringify({ eventId: id }) },
    { name: 'malformed JSON', body: () => '{"eventId": ' },
    { name: 'a string reward', body: (id) => JSON.stringify({ eventId: id, reward: '1' }) },
  ];
  for (const c of cases) {
    it(`answers ${c.name} as express does`, async () => {
      const answers = [];
      for (const path of ['/reward', '/reward?via=express']) {
        const body = c.body(await decision());
        if (c.repeat) await send(h, path, { name: c.name, body });
        const before = h.focal.lean.served;
        answers.push(await send(h, path, { name: c.name, body }));
        assert.equal(h.focal.lean.served - before, path === '/reward' ? 1 : 0);
      }
      const [lean, viaExpress] = answers.map((r) => {
        const b = r!.body as Record<string, unknown>;
        const strip = (x: Record<string, unknown>) => ({ ...x, eventId: undefined, instance: undefined, detail: typeof x.detail === 'string' ? x.detail.replace(/"[0-9a-f-]{36}"/g, '"<id>"') : x.detail });
        return { status: r!.status, type: r!.headers['content-type'], body: Array.isArray(b.results) ? { results: (b.results as Record<string, unknown>[]).map(strip) } : strip(b) };
      });
      assert.deepEqual(lean, viaExpress);
    });
  }
});

describe('LeanLane routing', () => {
  const lane = new LeanLane();
  let served = 0;
  lane.add('post', '/decide', () => { served++; });
  const res = {} as ServerResponse;
  const take = (method: string, url: string, headers: Record<string, string>) => {
    const before = served;
    const taken = lane.serve({ method, url, headers } as unknown as IncomingMessage, res);
    assert.equal(served - before, taken ? 1 : 0);
    return taken;
  };
  const json = { 'content-type': 'application/json', 'content-length': '10' };

  it('takes only plain JSON requests to the exact path, with a body', () => {
    assert.equal(take('POST', '/decide', json), true);
    assert.equal(take('POST', '/decide', { 'content-type': 'application/json; charset=UTF-8', 'content-length': '10' }), true);
    assert.equal(take('POST', '/decide', { 'content-type': 'Application/JSON;charset="utf-8"', 'transfer-encoding': 'chunked' }), true);
    assert.equal(take('POST', '/decide', { ...json, 'content-encoding': 'identity' }), true);
  });

  it('leaves everything else to express', () => {
    assert.equal(take('GET', '/decide', json), false);
    assert.equal(take('POST', '/decide/', json), false);
    assert.equal(take('POST', '/Decide', json), false);
    assert.equal(take('POST', '/decide?x=1', json), false);
    assert.equal(take('POST', '/decide', { ...json, 'content-encoding': 'gzip' }), false);
    assert.equal(take('POST', '/decide', { 'content-type': 'application/json', 'content-length': '0' }), false);
    assert.equal(take('POST', '/decide', { 'content-type': 'application/json' }), false);
    assert.equal(take('POST', '/decide', { 'content-type': 'application/json; charset=latin1', 'content-length': '10' }), false);
    assert.equal(take('POST', '/decide', { 'content-type': 'application/vnd.api+json', 'content-length': '10' }), false);
    assert.equal(take('POST', '/decide', { 'content-type': 'text/plain', 'content-length': '10' }), false);
    assert.equal(take('POST', '/decide', { 'content-length': '10' }), false);
  });
});
