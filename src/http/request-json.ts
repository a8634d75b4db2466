import type { IncomingMessage } from 'node:http';

const RAW = Symbol('focal.requestJson');

type WithRaw = IncomingMessage & { [RAW]?: Buffer };

/**
 * express.json's `verify` hook: keeps a reference to the decoded-content bytes of a UTF-8 body (no copy),
 * so a handler can log the body as received instead of serialising the parsed value again.
 */
export function keepRequestJson(req: IncomingMessage, _res: unknown, buf: Buffer, encoding: string): void {
  // A BOM is stripped before parsing, so the bytes would not be the JSON text that was parsed.
  if ((encoding === 'utf-8' || encoding === 'utf8') && !(buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf)) keepBodyBytes(req, buf);
}

/** Keeps `buf`, the UTF-8 bytes of exactly the JSON text the body was parsed from, for `requestJson`. */
export function keepBodyBytes(req: IncomingMessage, buf: Buffer): void {
  (req as WithRaw)[RAW] = buf;
}

/** The JSON text of the request body exactly as parsed, when it was kept (UTF-8 without a BOM). */
export function requestJson(req: IncomingMessage): string | undefined {
  return (req as WithRaw)[RAW]?.toString('utf8');
}
