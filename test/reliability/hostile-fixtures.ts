import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { Response } from 'supertest';

/** A 4xx answered as an RFC 9457 problem document whose status matches the response's. */
export function assertProblem(res: Response, what: string): void {
  assert.ok(res.status >= 400 && res.status < 500, `${what}: status ${res.status} ${res.text?.slice(0, 300)}`);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/, `${what}: content-type`);
  const body = JSON.parse(res.text) as Record<string, unknown>;
  assert.equal(body.status, res.status, `${what}: problem status`);
  for (const member of ['type', 'title', 'detail']) assert.equal(typeof body[member], 'string', `${what}: problem ${member}`);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 as PNG chunks use it. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A real 1×1 PNG whose header claims `width` × `height` (with a valid header
 * CRC, so a decoder believes it): a decompression bomb's calling card.
 */
export async function lyingPng(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } }).png().toBuffer());
  assert.equal(png.toString('latin1', 12, 16), 'IHDR');
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}
