import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler } from 'express';
import type { Logger } from '../platform/logger.js';
import { sendJson } from './respond.js';
import { HttpError, InternalError, MethodNotAllowedError, PayloadTooLargeError, ServiceUnavailableError, StorageFullError, UnsupportedMediaTypeError, ValidationError } from './errors.js';
import { isStorageFull, STORAGE_RETRY_AFTER_SECONDS } from '../store/storage-health.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: {
      type: 'array',
      items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } },
    },
    errorId: { type: 'string', description: 'For 500s: the id under which the error was logged.' },
  },
} as const;

/** Writes `err` as an RFC 9457 problem document; works on any node response (express's, or the lean lane's). */
export function sendProblem(res: ServerResponse, err: HttpError, instance?: string): void {
  const headers: Record<string, string> = {};
  if (err instanceof MethodNotAllowedError) headers.Allow = err.allow.join(', ');
  if (err.status === 401) headers['WWW-Authenticate'] = 'Bearer';
  if ((err instanceof ServiceUnavailableError || err instanceof StorageFullError) && err.retryAfter !== undefined) headers['Retry-After'] = String(err.retryAfter);
  writeProblem(res, err.status, err.toProblem(instance), headers);
}

/** Writes a problem document already built (e.g. one item's result decided by a writer thread). */
export function writeProblem(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  sendJson(res, body, status, `${PROBLEM_CONTENT_TYPE}; charset=utf-8`, headers);
}

interface BodyReaderError extends Error {
  type?: string;
  status?: number;
  limit?: number;
}

/**
 * Maps raw-body's errors (the body readers: src/http/pipeline.ts, the log import) to our hierarchy; other
 * client errors from express's own stack (an undecodable path parameter) keep their 4xx.
 */
export function fromBodyReader(err: BodyReaderError): HttpError | undefined {
  switch (err.type) {
    case 'entity.too.large':
      return new PayloadTooLargeError(`The body exceeds the limit of ${err.limit} bytes (FOCAL_MAX_BODY)`, 'FOCAL_MAX_BODY', err.limit ?? 0);
    case 'encoding.unsupported':
      return new UnsupportedMediaTypeError(err.message);
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
    case 'stream.not.readable':
      return new ValidationError(`The request body could not be read: ${err.message}`);
    default:
      return typeof err.status === 'number' && err.status >= 400 && err.status < 500
        ? new HttpError(err.status, '/problems/bad-request', 'Bad request', err.message) : undefined;
  }
}

/**
 * Renders any error thrown while serving a request: HttpErrors (and the body readers') as themselves,
 * anything else as a 500 whose id is logged with the stack and returned without it.
 */
export function renderError(err: unknown, req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, logger: Logger): void {
  const instance = req.originalUrl ?? req.url;
  const known = err instanceof HttpError ? err
    : isStorageFull(err) ? new StorageFullError(STORAGE_RETRY_AFTER_SECONDS)
      : err instanceof Error ? fromBodyReader(err as BodyReaderError) : undefined;
  if (known) {
    sendProblem(res, known, instance);
    return;
  }
  const errorId = randomUUID();
  logger.error({ err, errorId, method: req.method, url: instance }, 'unhandled error');
  sendProblem(res, new InternalError(errorId), instance);
}

/** The one place errors become responses on the express side. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    renderError(err, req, res, logger);
  };
}
