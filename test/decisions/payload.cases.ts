import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { readJsonBody } from '../../src/http/pipeline.js';
import { decodeDecisionPayload, encodeDecisionPayload, type DecisionPayload } from '../../src/decisions/decision-store.js';
import { payloadText } from '../../src/store/payload-codec.js';
import { it, startHarness, type Harness } from './harness.js';

const decision = { pmf: [0.75, 0.25], scores: [1, 0.5], chosen: 0, probability: 0.75, modelVersion: 3, strategy: 'squarecb' };

describe('logged decision payload', () => {
  it('decodes the request-text form to what the parsed request would have logged', () => {
    const requestText = '{ "context" : {"u": {"age": 31}, "é": "ü"},\n "actions": ["a", {"id": "b", "features": {"x": 1e-3}}], "model": "m" }';
    const full: DecisionPayload = { context: { u: { age: 31 }, é: 'ü' }, actions: [{ id: 'a' }, { id: 'b', features: { x: 0.001 } }], ...decision };
    const text = encodeDecisionPayload(full, requestText, true);
    assert.ok(text.includes(requestText), 'the request is logged as received');
    assert.deepEqual(decodeDecisionPayload(text), full);
    assert.deepEqual(decodeDecisionPayload(encodeDecisionPayload(full)), full);
  });

  it('writes a fixed actions list (no actions in the request) and an absent context', () => {
    const full: DecisionPayload = { context: {}, actions: [{ id: 'x' }, { id: 'y' }], ...decision };
    const text = encodeDecisionPayload(full, '{"model":"fixed"}', false);
    assert.deepEqual(decodeDecisionPayload(text), full);
  });
});

describe('POST /decide logs the body as received', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  // Stored compressed (src/store/payload-codec.ts): payloadText gives back the text that was logged.
  const logged = async (eventId: string) => payloadText((await h.sql<{ payload: Buffer | string }>('SELECT payload FROM events WHERE event_id = ?', eventId))[0]!.payload);

  it('keeps a UTF-8 body\'s text, and decodes to the normalised context and actions', async () => {
    const body = '{"context": {"user": {"country": "DE"}, "mood": "ÿ☃"},   "actions": ["a", {"id": "b", "features": {"n": 2}}]}';
    const res = await request(h.focal.app).post('/decide').set('content-type', 'application/json').send(body).expect(200);
    const text = await logged(res.body.eventId);
    assert.ok(text.startsWith(`{"request":${body},`), text.slice(0, 120));
    const p = decodeDecisionPayload(text);
    assert.deepEqual(p.context, { user: { country: 'DE' }, mood: 'ÿ☃' });
    assert.deepEqual(p.actions, [{ id: 'a' }, { id: 'b', features: { n: 2 } }]);
    assert.equal(p.probability, res.body.probability);
    assert.equal(p.actions[p.chosen]!.id, res.body.action);
  });

  it('keeps exactly the parsed text: decoded from UTF-8, without a BOM, decompressed when sent compressed', async () => {
    const text = '{"context": {"k": "ü"}}';
    const read = (buf: Buffer, headers: Record<string, string> = {}) => new Promise<string | undefined>((resolve, reject) => {
      const req = Object.assign(Readable.from([buf]), {
        headers: { 'content-type': 'application/json', 'content-length': String(buf.length), ...headers },
      }) as unknown as IncomingMessage;
      readJsonBody(req, 1 << 20, (err, body, kept) => {
        if (err) reject(err as Error);
        else {
          assert.deepEqual(body, { context: { k: 'ü' } });
          resolve(kept);
        }
      });
    });
    assert.equal(await read(Buffer.from(text)), text);
    assert.equal(await read(gzipSync(text), { 'content-encoding': 'gzip' }), text);
    assert.equal(await read(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])), text);
  });
});
