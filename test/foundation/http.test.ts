import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { Capability, CapabilityFactory } from '../../src/capability.js';
import { ConflictError } from '../../src/http/errors.js';
import { route } from '../../src/http/route.js';
import { buildTestApp, type TestApp } from '../helpers.js';

interface EchoBody { name: string; age?: number; tags?: string[] }

let ready = true;
/** A tiny capability exercising the foundation: validation, thrown HttpErrors, unknown errors. */
const testCapability: CapabilityFactory = (): Capability => ({
  name: 'test',
  isReady: () => ready,
  close: async () => {},
  routes: [
    route<EchoBody, { times?: number }, { id: string }>({
      method: 'post', path: '/echo/:id', summary: 'Echo',
      params: { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z]+$' } }, required: ['id'] },
      query: { type: 'object', properties: { times: { type: 'integer', minimum: 1, maximum: 3 } }, additionalProperties: false },
      body: {
        type: 'object', additionalProperties: false, required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1 },
          age: { type: 'number', minimum: 0 },
          tags: { type: 'array', items: { type: 'string' } },
        },
      },
      responses: { 200: { description: 'Echoed' } },
      handler: ({ body, query, params, res }) => { res.json({ ...body, id: params.id, times: query.times ?? 1 }); },
    }),
    route({
      method: 'get', path: '/boom', summary: 'Fails unexpectedly', responses: { 500: { description: 'Always' } },
      handler: () => { throw new Error('secret internal detail at /srv/focal/x.ts:42'); },
    }),
    route({
      method: 'delete', path: '/conflict', summary: 'Fails with a 409', responses: { 409: { description: 'Always' } },
      handler: () => { throw new ConflictError('already there', { eventId: 'e1' }); },
    }),
  ],
});

function assertProblem(res: request.Response, status: number, type: string): Record<string, unknown> {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = JSON.parse(res.text) as Record<string, unknown>;
  assert.equal(body.status, status);
  assert.equal(body.type, type);
  assert.equal(typeof body.title, 'string');
  assert.equal(typeof body.detail, 'string');
  return body;
}

describe('HTTP foundation', () => {
  let t: TestApp;
  before(async () => { t = await buildTestApp({ capabilities: [testCapability], config: { limits: { bodyBytes: 2048 } } }); });
  after(async () => { await t.close(); });

  it('validates and types a good request', async () => {
    const res = await request(t.focal.app).post('/echo/abc?times=2').send({ name: 'x', age: 3 });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { name: 'x', age: 3, id: 'abc', times: 2 });
  });

  it('answers a schema violation with 400 and every error as a JSON Pointer', async () => {
    const res = await request(t.focal.app).post('/echo/abc').send({ age: -1, tags: ['a', 2], extra: true });
    const body = assertProblem(res, 400, '/problems/validation');
    const errors = body.errors as { path: string; message: string }[];
    const paths = errors.map((e) => e.path).sort();
    assert.deepEqual(paths, ['/age', '/extra', '/name', '/tags/1']);
    assert.ok(errors.find((e) => e.path === '/name')!.message.includes('required'));
    assert.match(String(body.detail), /^(age|extra|name|tags\.1) /);
  });

  it('does not coerce body types but does coerce query strings', async () => {
    const bad = await request(t.focal.app).post('/echo/abc').send({ name: 'x', age: '3' });
    const body = assertProblem(bad, 400, '/problems/validation');
    assert.deepEqual((body.errors as { path: string }[]).map((e) => e.path), ['/age']);
    const q = await request(t.focal.app).post('/echo/abc?times=9').send({ name: 'x' });
    const qb = assertProblem(q, 400, '/problems/validation');
    assert.equal((qb.errors as { path: string }[])[0]!.path, '/query/times');
    const p = await request(t.focal.app).post('/echo/ABC').send({ name: 'x' });
    assert.equal((assertProblem(p, 400, '/problems/validation').errors as { path: string }[])[0]!.path, '/params/id');
  });

  it('answers malformed JSON with 400', async () => {
    const res = await request(t.focal.app).post('/echo/abc').set('Content-Type', 'application/json').send('{"name": "x",');
    const body = assertProblem(res, 400, '/problems/malformed-json');
    assert.match(String(body.detail), /not valid JSON/);
  });

  it('answers an oversized body with 413 naming the limit', async () => {
    const res = await request(t.focal.app).post('/echo/abc').send({ name: 'x'.repeat(5000) });
    const body = assertProblem(res, 413, '/problems/payload-too-large');
    assert.equal(body.limit, 'FOCAL_MAX_BODY');
    assert.equal(body.max, 2048);
  });

  it('answers a non-JSON body with 415', async () => {
    const res = await request(t.focal.app).post('/echo/abc').set('Content-Type', 'text/plain').send('name=x');
    assertProblem(res, 415, '/problems/unsupported-media-type');
  });

  it('answers an unknown route with 404 and a wrong method with 405 and Allow', async () => {
    assertProblem(await request(t.focal.app).get('/nowhere'), 404, '/problems/not-found');
    const res = await request(t.focal.app).put('/echo/abc').send({ name: 'x' });
    const body = assertProblem(res, 405, '/problems/method-not-allowed');
    assert.equal(res.headers.allow, 'POST');
    assert.deepEqual(body.allow, ['POST']);
    assert.equal((await request(t.focal.app).post('/healthz')).headers.allow, 'GET, HEAD');
  });

  it('renders thrown HttpErrors with their status and extra members', async () => {
    const body = assertProblem(await request(t.focal.app).delete('/conflict'), 409, '/problems/conflict');
    assert.equal(body.eventId, 'e1');
  });

  it('answers an unknown error with 500, an error id, and no internals', async () => {
    const res = await request(t.focal.app).get('/boom');
    const body = assertProblem(res, 500, '/problems/internal');
    assert.match(String(body.errorId), /^[0-9a-f-]{36}$/);
    assert.ok(String(body.detail).includes(String(body.errorId)));
    assert.doesNotMatch(res.text, /secret internal detail|x\.ts|at /);
  });

  it('serves health, readiness and metrics', async () => {
    assert.deepEqual((await request(t.focal.app).get('/healthz')).body, { status: 'ok' });
    const r = await request(t.focal.app).get('/readyz');
    assert.equal(r.status, 200);
    assert.equal(r.body.backend, 'cpu');
    ready = false;
    assertProblem(await request(t.focal.app).get('/readyz'), 503, '/problems/unavailable');
    ready = true;

    await request(t.focal.app).post('/echo/abc').send({ name: 'x' });
    const m = await request(t.focal.app).get('/metrics');
    assert.equal(m.status, 200);
    assert.match(String(m.headers['content-type']), /^text\/plain/);
    assert.match(m.text, /focal_http_request_duration_seconds_count\{route="\/echo\/:id",method="POST",status="200"\} [1-9]/);
    assert.match(m.text, /focal_tensorflow_backend_info\{backend="cpu"\} 1/);
    assert.match(m.text, /^focal_tensorflow_tensors \d+$/m);
  });

  it('serves a valid OpenAPI 3.1 document generated from the route schemas', async () => {
    const res = await request(t.focal.app).get('/openapi.json');
    assert.equal(res.status, 200);
    const doc = res.body as { openapi: string; paths: Record<string, Record<string, { requestBody?: unknown; parameters: { name: string; in: string }[] }>> };
    assert.equal(doc.openapi, '3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc as never);
    assert.equal(result.valid, true, JSON.stringify(result.errors));
    const echo = doc.paths['/echo/{id}']!.post!;
    assert.ok(echo.requestBody);
    assert.deepEqual(echo.parameters.map((p) => `${p.in}:${p.name}`), ['path:id', 'query:times']);
    for (const p of ['/healthz', '/readyz', '/metrics', '/openapi.json']) assert.ok(doc.paths[p]?.get, p);
  });
});

describe('API keys', () => {
  const userKey = 'u'.repeat(20);
  const adminKey = 'a'.repeat(20);
  let t: TestApp;
  before(async () => { t = await buildTestApp({ capabilities: [testCapability], config: { apiKey: userKey, adminKey } }); });
  after(async () => { await t.close(); });

  it('leaves health, readiness, metrics and openapi public', async () => {
    for (const p of ['/healthz', '/readyz', '/metrics', '/openapi.json']) assert.equal((await request(t.focal.app).get(p)).status, 200, p);
  });

  it('needs a bearer key elsewhere, and rejects a wrong one', async () => {
    const none = await request(t.focal.app).post('/echo/abc').send({ name: 'x' });
    assertProblem(none, 401, '/problems/unauthorized');
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    assertProblem(await request(t.focal.app).post('/echo/abc').set('Authorization', `Bearer ${'x'.repeat(20)}`).send({ name: 'x' }), 401, '/problems/unauthorized');
    assert.equal((await request(t.focal.app).post('/echo/abc').set('Authorization', `Bearer ${userKey}`).send({ name: 'x' })).status, 200);
    assert.equal((await request(t.focal.app).post('/echo/abc').set('Authorization', `Bearer ${adminKey}`).send({ name: 'x' })).status, 200);
  });

  it('checks the key before reading the body', async () => {
    const res = await request(t.focal.app).post('/echo/abc').set('Content-Type', 'application/json').send('{broken');
    assert.equal(res.status, 401);
  });
});
