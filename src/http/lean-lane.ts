import type { IncomingMessage, ServerResponse } from 'node:http';
import getRawBody from 'raw-body';
import { MalformedJsonError } from './errors.js';

/**
 * The lean lane serves the hot JSON routes (RouteSpec `lean`: POST /decide
 * and POST /reward) on node's own request and response, in front of express.
 *
 * Why: express costs as much per request as everything Focal does for a
 * decision. bench:bandit measured a bare express endpoint that only parses the
 * body at about half the rate of node's http server doing the same, and
 * /decide served here rather than through express at about twice the rate.
 *
 * What it takes: only the common case, decided from the request line and
 * headers before a byte of the body is read: the exact path (no query
 * string), `Content-Type: application/json` with no charset or UTF-8, no
 * Content-Encoding, and a body announced (Content-Length > 0 or chunked).
 * Anything else (a trailing slash, another case, gzip, another charset,
 * other media types, an empty body) goes to express, whose route for the same
 * spec gives the same answers, so every odd request keeps the behaviour it
 * had. Both paths share the route's auth, limits, validation, handler, error
 * rendering and metrics (src/app.ts); test/decisions/lean-lane.cases.ts sends
 * each case both ways and compares the answers.
 */
export type LeanServe = (req: IncomingMessage, res: ServerResponse) => void;

export class LeanLane {
  private readonly routes = new Map<string, LeanServe>();
  /** Requests this lane took (tests check that the lane, not express, served a request). */
  served = 0;

  add(method: string, path: string, serve: LeanServe): void {
    this.routes.set(`${method.toUpperCase()} ${path}`, serve);
  }

  /** Serves the request and returns true, or returns false (nothing read, nothing written) for express to serve it. */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.routes.size === 0) return false;
    const serve = this.routes.get(`${req.method} ${req.url}`);
    if (!serve || !plainJson(req)) return false;
    this.served++;
    serve(req, res);
    return true;
  }
}

/** Whether the headers announce a body the lean lane reads exactly as express.json would. */
function plainJson(req: IncomingMessage): boolean {
  const h = req.headers;
  if (h['content-encoding'] !== undefined && h['content-encoding'] !== 'identity') return false;
  const length = h['content-length'];
  if (length === undefined ? h['transfer-encoding'] === undefined : length === '0') return false;
  const type = h['content-type'];
  if (type === undefined) return false;
  if (type === 'application/json') return true;
  const [mime, ...params] = type.toLowerCase().split(';');
  if (mime!.trim() !== 'application/json') return false;
  return params.every((p) => /^\s*charset\s*=\s*"?utf-?8"?\s*$/.test(p));
}

/**
 * Reads and parses the body as express.json (strict: false) does: raw-body
 * with the same limit and length check (its errors carry body-parser's types),
 * a UTF-8 BOM skipped, an empty chunked body read as {}. Calls back with the
 * parsed value and the body's bytes when they are exactly the parsed JSON text.
 */
export function readJsonBody(req: IncomingMessage, limit: number, done: (err: unknown, body?: unknown, bytes?: Buffer) => void): void {
  getRawBody(req, { length: req.headers['content-length'] ?? null, limit }, (err, buf) => {
    if (err) {
      done(err);
      return;
    }
    const bom = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
    const text = buf.toString('utf8', bom ? 3 : 0);
    let body: unknown;
    try {
      body = text.length === 0 ? {} : JSON.parse(text);
    } catch (e) {
      done(new MalformedJsonError(`The body is not valid JSON: ${(e as Error).message}`));
      return;
    }
    done(undefined, body, bom ? undefined : buf);
  });
}
