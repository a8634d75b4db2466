import type { IncomingMessage } from 'node:http';

const RAW = Symbol('focal.requestJson');

type WithRaw = IncomingMessage & { [RAW]?: Buffer };

/** Keeps `buf`, the UTF-8 bytes of exactly the JSON text the body was parsed from, for `requestJson`. */
export function keepBodyBytes(req: IncomingMessage, buf: Buffer): void {
  (req as WithRaw)[RAW] = buf;
}

/** The JSON text of the request body exactly as parsed, when it was kept (UTF-8 without a BOM). */
export function requestJson(req: IncomingMessage): string | undefined {
  return (req as WithRaw)[RAW]?.toString('utf8');
}
