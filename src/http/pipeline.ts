import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { parse as parseContentType } from 'content-type';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import getRawBody from 'raw-body';
import type { ValidateFunction } from 'ajv';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { authorize, type Keys } from './auth.js';
import { HttpError, MalformedJsonError, UnsupportedMediaTypeError } from './errors.js';
import { renderError } from './problem.js';
import { keepBodyText } from './request-json.js';
import type { AnyRoute } from './route.js';
import { check, compile } from './validation.js';

/**
 * The one request pipeline. Every route, whichever way the request reached it
 * (the fast dispatch in front of express, src/http/lean-lane.ts, or express's
 * router), runs these steps, one function each:
 *
 *   time → authorize → middleware (express routes only) → read the JSON body
 *   → validate params, query, body → handler; any error → problem document.
 *
 * There is no second copy of any step, so the two entries agree by construction.
 */
export type RouteRunner = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>, query: Record<string, unknown>) => void;

export interface PipelineDeps {
  keys: Keys;
  /** FOCAL_MAX_BODY in bytes: a route's JSON limit unless it sets its own. */
  bodyBytes: number;
  metrics: Metrics;
  logger: Logger;
}

/** Records each request's duration under its route template once the response is sent. */
export function requestTimer(metrics: Metrics, logger: Logger, template: string) {
  // Per-request log lines only at debug level; decided once, off the hot path.
  const logRequests = logger.isLevelEnabled('debug');
  return (req: IncomingMessage & { originalUrl?: string }, res: ServerResponse) => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.httpDuration.observe({ route: template, method: req.method, status: String(res.statusCode) }, seconds);
      if (logRequests) logger.debug({ method: req.method, url: req.originalUrl ?? req.url, status: res.statusCode, ms: seconds * 1000 }, 'request');
    });
  };
}

/** Builds the runner of one route: its validators compiled once, its limit and auth level fixed. */
export function compileRoute(r: AnyRoute, deps: PipelineDeps): RouteRunner {
  const validateParams = r.params ? compile(r.params, 'params') : undefined;
  const validateQuery = r.query ? compile(r.query, 'query') : undefined;
  const validateBody = r.body ? compile(r.body, 'body') : undefined;
  const level = r.auth ?? 'user';
  const limit = r.bodyLimit ?? deps.bodyBytes;
  const middleware = r.middleware ?? [];
  const time = requestTimer(deps.metrics, deps.logger, r.path);
  const { keys, logger } = deps;
  const render = r.renderError ?? renderError;

  return (req, res, params, query) => {
    time(req, res);
    const fail = (err: unknown): void => {
      if (res.headersSent) res.destroy();
      else render(err, req, res, logger);
    };
    const invoke = (parsed: unknown): void => {
      try {
        const p = validateParams ? check<Record<string, string>>(validateParams, { ...params }, 'params') : params;
        const q = validateQuery ? check<Record<string, unknown>>(validateQuery, { ...query }, 'query') : query;
        let body = parsed;
        if (validateBody) {
          if (body === undefined && r.bodyOptional) body = {};
          body = check(validateBody as ValidateFunction, body, 'body');
        }
        const out = r.handler({ body, query: q, params: p, req: req as Request, res: res as Response });
        if (out instanceof Promise) out.catch(fail);
      } catch (err) {
        fail(err);
      }
    };
    const afterMiddleware = (err?: unknown): void => {
      if (err) {
        fail(err);
        return;
      }
      if (!validateBody) {
        invoke(undefined);
        return;
      }
      readJsonBody(req, limit, (readErr, parsed, text) => {
        if (readErr) {
          fail(readErr);
          return;
        }
        if (text !== undefined && r.keepBodyText) keepBodyText(req, text);
        invoke(parsed);
      });
    };

    try {
      authorize(req, level, keys, r.keyHeader);
    } catch (err) {
      fail(err);
      return;
    }
    if (middleware.length === 0) afterMiddleware();
    else runMiddleware(middleware, req as Request, res as Response, afterMiddleware);
  };
}

/** Runs express middleware in order (a route's raw-body readers); only routes reached through express have any. */
function runMiddleware(steps: RequestHandler[], req: Request, res: Response, done: (err?: unknown) => void): void {
  let i = 0;
  const next: NextFunction = (err?: unknown) => {
    if (err) {
      done(err);
      return;
    }
    const step = steps[i++];
    if (!step) {
      done();
      return;
    }
    try {
      const out = step(req, res, next) as unknown;
      if (out instanceof Promise) out.catch(done);
    } catch (e) {
      done(e);
    }
  };
  next();
}

const JSON_TYPE = 'application/json';

/**
 * Why a Content-Type is not a JSON body we read, or undefined when it is: `application/json` or
 * `application/*+json`, in UTF-8 (RFC 8259 §8.1: JSON exchanged between systems is UTF-8; `utf8` is
 * accepted as the common misspelling of `utf-8`).
 */
export function jsonContentTypeError(header: string | undefined): HttpError | undefined {
  if (header === JSON_TYPE) return undefined;
  if (header === undefined) return new UnsupportedMediaTypeError('Expected Content-Type: application/json, got none');
  let type: string;
  let charset: string | undefined;
  try {
    const parsed = parseContentType(header);
    type = parsed.type;
    charset = parsed.parameters.charset?.toLowerCase();
  } catch {
    return new UnsupportedMediaTypeError(`Expected Content-Type: application/json, got ${header}`);
  }
  if (type !== JSON_TYPE && !(type.startsWith('application/') && type.endsWith('+json'))) {
    return new UnsupportedMediaTypeError(`Expected Content-Type: application/json, got ${header}`);
  }
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    return new UnsupportedMediaTypeError(`Unsupported charset "${charset.toUpperCase()}": a JSON body must be UTF-8`);
  }
  return undefined;
}

/** The decoded body stream for a Content-Encoding, or an error for one we do not read. */
function decoded(req: IncomingMessage): Readable | HttpError {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  switch (encoding) {
    case 'identity': return req;
    case 'gzip': case 'x-gzip': return req.pipe(createGunzip());
    case 'deflate': return req.pipe(createInflate());
    case 'br': return req.pipe(createBrotliDecompress());
    default: return new UnsupportedMediaTypeError(`Unsupported Content-Encoding "${encoding}": send identity, gzip, deflate or br`);
  }
}

/**
 * Reads and parses a JSON request body. No body announced (Content-Length 0, or neither a length nor
 * chunked encoding) reads as `undefined` without touching the stream. Otherwise the media type and
 * charset are checked first (415), the body is decompressed if encoded, read up to `limit` decoded bytes
 * with raw-body (its errors carry the types renderError maps: 413 over the limit, 400 when the length lies),
 * a UTF-8 BOM is skipped, and an empty body parses as {}. Calls back with the value and the JSON text it
 * was parsed from (decoded once: the decisions log keeps that text rather than serialising the body again).
 */
export function readJsonBody(req: IncomingMessage, limit: number, done: (err: unknown, body?: unknown, text?: string) => void): void {
  const h = req.headers;
  const announced = h['content-length'] === undefined ? h['transfer-encoding'] !== undefined : h['content-length'] !== '0';
  if (!announced) {
    done(undefined, undefined);
    return;
  }
  const typeError = jsonContentTypeError(h['content-type']);
  if (typeError) {
    done(typeError);
    return;
  }
  const stream = decoded(req);
  if (stream instanceof HttpError) {
    done(stream);
    return;
  }
  const identity = stream === req;
  getRawBody(stream, { length: identity ? h['content-length'] ?? null : null, limit }, (err, buf) => {
    if (err) {
      // zlib's errors (a corrupt gzip body) have no raw-body type: the client sent bytes we cannot decode.
      const typed = (err as { type?: string }).type !== undefined;
      done(typed ? err : new HttpError(400, '/problems/bad-request', 'Bad request', `The body could not be decompressed: ${err.message}`));
      return;
    }
    let parsed: ParsedJson;
    try {
      parsed = parseJsonBytes(buf);
    } catch (e) {
      done(e);
      return;
    }
    done(undefined, parsed.body, parsed.text);
  });
}

/** A JSON body's value and the text it was parsed from (undefined for an empty body). */
export interface ParsedJson {
  body: unknown;
  text: string | undefined;
}

/**
 * The bytes of a JSON body, read as readJsonBody reads them (and every other JSON body reader should): UTF-8, a
 * leading BOM skipped, an empty body parsed as {}; MalformedJsonError (400) when it is not JSON.
 */
export function parseJsonBytes(buf: Buffer): ParsedJson {
  const bom = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
  const text = buf.toString('utf8', bom ? 3 : 0);
  if (text.length === 0) return { body: {}, text: undefined };
  try {
    return { body: JSON.parse(text), text };
  } catch (e) {
    throw new MalformedJsonError(`The body is not valid JSON: ${(e as Error).message}`);
  }
}
