import type { IncomingMessage } from 'node:http';

const TEXT = Symbol('focal.requestJson');

type WithText = IncomingMessage & { [TEXT]?: string };

/** Keeps `text`, exactly the JSON text the body was parsed from (decoded from UTF-8, without a BOM), for `requestJson`. */
export function keepBodyText(req: IncomingMessage, text: string): void {
  (req as WithText)[TEXT] = text;
}

/** The JSON text of the request body exactly as parsed, when it was kept. */
export function requestJson(req: IncomingMessage): string | undefined {
  return (req as WithText)[TEXT];
}
