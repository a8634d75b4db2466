import assert from 'node:assert/strict';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import request from 'supertest';
import { makeRoot, shipTestModel, startImages, type ImagesHarness } from '../../test/images/harness.js';

const IMAGE_BYTES = 16 * 1024;

/** Streams chunks without a Content-Length until the server answers; returns the status and how much was sent. */
function streamUntilAnswered(port: number, contentType: string, chunk: Buffer, maxBytes: number): Promise<{ status: number; body: string; sent: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = httpRequest({ port, method: 'POST', path: '/classify-image', headers: { 'Content-Type': contentType, 'Transfer-Encoding': 'chunked' } }, (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sent }));
    });
    // The server cuts the connection once it has answered; that is the point.
    req.on('error', (err) => { if (!answered) reject(err); });
    const pump = () => {
      while (!answered && sent < maxBytes) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered) req.end();
    };
    pump();
  });
}

describe('hostile image uploads', () => {
  let h: ImagesHarness;
  let server: Server;
  let port: number;

  before(async () => {
    const root = makeRoot();
    await shipTestModel(root);
    h = await startImages(root, { limits: { imageBytes: IMAGE_BYTES, imagePixels: 1_000_000 }, rewards: false });
    server = h.focal.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await h.close(true);
  });

  it('stops reading a chunked upload at FOCAL_MAX_IMAGE_BYTES instead of buffering it all', async () => {
    for (const type of ['image/png', 'application/json', 'multipart/form-data; boundary=xyz']) {
      const out = await streamUntilAnswered(port, type, Buffer.alloc(4096, 65), 64 * 1024 * 1024);
      assert.equal(out.status, 413, out.body);
      assert.equal(JSON.parse(out.body).limit, 'FOCAL_MAX_IMAGE_BYTES');
      assert.ok(out.sent < 32 * 1024 * 1024, `answered after ${out.sent} bytes`);
    }
  });

  it('answers every random or truncated body with a 4xx problem and logs nothing', async () => {
    const count = () => (h.db.prepare("SELECT COUNT(*) AS n FROM events WHERE kind = 'image'").get() as { n: number }).n;
    const before = count();
    const pngHeader = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const jpegHeader = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/tiff', 'image/avif'),
      fc.constantFrom(Buffer.alloc(0), pngHeader, jpegHeader),
      fc.uint8Array({ minLength: 0, maxLength: 2048 }),
      async (type, header, tail) => {
        const res = await request(h.focal.app).post('/classify-image').set('Content-Type', type).send(Buffer.concat([header, tail]));
        assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
        assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      }), { numRuns: 60 });
    await fc.assert(fc.asyncProperty(fc.anything(), async (value) => {
      const res = await request(h.focal.app).post('/classify-image').set('Content-Type', 'application/json').send(JSON.stringify({ image: value }));
      assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    }), { numRuns: 60 });
    assert.equal(count(), before);
  });
});
