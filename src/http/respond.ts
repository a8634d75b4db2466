import type { ServerResponse } from 'node:http';

/**
 * Sends `body` as JSON: what express's res.json does for a plain object,
 * without the work it does on every call for features Focal does not use
 * (ETags, freshness checks, content-type lookups) — a visible share of a
 * /decide request in the CPU profile of bench:bandit.
 */
export function sendJson(res: ServerResponse, body: unknown, status = 200): void {
  const text = JSON.stringify(body);
  res.writeHead(status, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(text))]);
  res.end(text);
}
