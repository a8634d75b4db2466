/**
 * POST /decide and POST /reward reach their route's runner (src/http/pipeline.ts) either through the lean
 * lane's exact-path dispatch or through express's router. The runner is the same function, so the answers
 * agree by construction; these cases check the wiring: each is sent once to /decide (the lane) and once to
 * /decide?via=express (a query string sends it through express, which ignores it) and the responses are
 * compared field by field.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe } from 'node:test';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { LeanLane } from '../../src/http/lean-lane.js';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';
import { payloadText } from '../../src/store/payload-codec.js';
import { it, startHarness, type Harness } from './harness.js';

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
  { name: 'valid, charset=utf8 (no dash)', body: JSON.stringify({ actions }), type: 'application/json; charset=utf8' },
  { name: 'valid with a BOM', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ actions }))]) },
  { name: 'valid, gzip', body: gzipSync(JSON.stringify({ actions })), headers: { 'content-encoding': 'gzip' } },
  { name: 'malformed JSON', body: '{"actions": [' },
  { name: 'an unknown property', body: JSON.stringify({ actions, extra: 1 }) },
  { name: 'over FOCAL_MAX_BODY', body: big },
  { name: 'a wrong key', body: JSON.stringify({ actions }), headers: { authorization: 'Bearer wrong' } },
  { name: 'text/plain', body: JSON.stringify({ actions }), type: 'text/plain' },
  { name: 'latin1', body: JSON.stringify({ actions }), type: 'application/json; charset=latin1' },
];

/** The expected status of each case (the same through either entry). */
const STATUS: Record<string, number> = {
  'valid': 200, 'valid, charset=utf8 (no dash)': 200, 'valid with a BOM': 200, 'valid, gzip': 200, 'malformed JSON': 400,
  'an unknown property': 400, 'over FOCAL_MAX_BODY': 413, 'a wrong key': 401, 'text/plain': 415, 'latin1': 415,
};

async function send(h: Harness, path: string, c: Case) {
  let r = request(h.focal.app).post(path).set('Content-Type', c.type ?? 'application/json').set('Authorization', `Bearer ${KEY}`);
  for (const [k, v] of Object.entries(c.headers ?? {})) r = v === '' ? r.unset(k) : r.set(k, v);
  // superagent would serialise a Buffer as JSON ({"type":"Buffer",…}) under a JSON content type: send the bytes as they are.
  return typeof c.body === 'string' ? r.send(c.body) : r.serialize(() => c.body as unknown as string).send(c.body as unknown as object);
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
      assert.equal(taken, 1, 'the exact path goes to the lean lane');
      assert.deepEqual(comparable(lean), comparable(viaExpress));
      assert.equal(lean.status, STATUS[c.name], `${lean.status} ${JSON.stringify(lean.body)}`);
    });
  }

  it('logs the same decision on both paths: the body as received when it is exactly the parsed text', async () => {
    const body = JSON.stringify({ context: { u: { age: 3 } }, actions });
    const lean = await send(h, '/decide', { name: 'log', body });
    const viaExpress = await send(h, '/decide?via=express', { name: 'log', body });
    const rows = await Promise.all([lean, viaExpress].map(async (r) => (await h.sql<{ payload: Buffer | string }>('SELECT payload FROM events WHERE event_id = ?', r.body.eventId))[0]!));
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

  it('takes the exact method and path, whatever the headers (the runner judges them)', () => {
    assert.equal(take('POST', '/decide', json), true);
    assert.equal(take('POST', '/decide', { ...json, 'content-encoding': 'gzip' }), true);
    assert.equal(take('POST', '/decide', { 'content-type': 'text/plain', 'content-length': '10' }), true);
    assert.equal(take('POST', '/decide', {}), true);
  });

  it('leaves other methods and paths to express', () => {
    assert.equal(take('GET', '/decide', json), false);
    assert.equal(take('POST', '/decide/', json), false);
    assert.equal(take('POST', '/Decide', json), false);
    assert.equal(take('POST', '/decide?x=1', json), false);
    assert.equal(take('POST', '/reward', json), false);
  });
});
