/**
 * Azure Personalizer's error shape, `{ "error": { "code", "message", "target"?, "details"? } }`, with its codes
 * (the `PersonalizerError.code` enum of the data-plane specs). Every error of a /personalizer route is rendered
 * here instead of as an RFC 9457 problem document: Microsoft's clients parse this shape (RestError.code).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, ServiceUnavailableError, StorageFullError, ValidationError } from '../http/errors.js';
import { fromBodyReader } from '../http/problem.js';
import { sendJson } from '../http/respond.js';
import type { ErrorRenderer } from '../http/route.js';
import type { Logger } from '../platform/logger.js';
import { isStorageFull, STORAGE_RETRY_AFTER_SECONDS } from '../store/storage-health.js';

/** An error in Personalizer's terms: its HTTP status, its code, and what was wrong. */
export class PersonalizerError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly target?: string) {
    super(message);
    this.name = 'PersonalizerError';
  }
}

export interface PersonalizerErrorBody {
  error: { code: string; message: string; target?: string; details?: { code: string; message: string; target?: string }[]; innerError?: { code: string } };
}

/** Codes for Focal's own error statuses when the route names none better. */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'BadRequest',
  404: 'ResourceNotFound',
  409: 'OperationNotAllowed',
  410: 'OperationNotAllowed',
  413: 'PayloadSizeExceeded',
  415: 'BadRequest',
  422: 'BadRequest',
};

/** Azure API Management's answer to a missing or wrong key: clients check the status, the code is APIM's. */
const ACCESS_DENIED = 'Access denied due to invalid subscription key. Send the Focal API key as Ocp-Apim-Subscription-Key (or Authorization: Bearer).';

function body(code: string, message: string, target?: string, details?: PersonalizerErrorBody['error']['details']): PersonalizerErrorBody {
  return { error: { code, message, ...(target !== undefined ? { target } : {}), ...(details?.length ? { details } : {}) } };
}

/** The status, headers and body of any error thrown while serving a Personalizer route. */
export function toPersonalizerError(err: unknown, badRequestCode: string): { status: number; body: PersonalizerErrorBody; headers: Record<string, string> } | undefined {
  if (err instanceof PersonalizerError) return { status: err.status, body: body(err.code, err.message, err.target), headers: {} };
  const known = err instanceof HttpError ? err
    : isStorageFull(err) ? new StorageFullError(STORAGE_RETRY_AFTER_SECONDS)
      : err instanceof Error ? fromBodyReader(err) : undefined;
  if (!known) return undefined;
  const headers: Record<string, string> = {};
  if ((known instanceof ServiceUnavailableError || known instanceof StorageFullError) && known.retryAfter !== undefined) headers['Retry-After'] = String(known.retryAfter);
  if (known.status === 401) return { status: 401, body: body('401', ACCESS_DENIED), headers };
  if (known.status === 403) return { status: 403, body: body('403', known.message), headers };
  if (known.status === 405) return { status: 405, body: body('BadRequest', known.message), headers };
  if (known.status >= 500) return { status: known.status, body: body(known.status === 503 ? 'ServiceUnavailable' : 'InternalServerError', known.message), headers };
  const code = known.status === 400 ? badRequestCode : CODE_BY_STATUS[known.status] ?? 'BadRequest';
  const fields = known instanceof ValidationError ? known.errors : [];
  const details = fields.map((f) => ({ code, message: f.message, target: f.path }));
  return { status: known.status, body: body(code, known.message, fields[0]?.path, details), headers };
}

/**
 * The renderer of a Personalizer route: `badRequestCode` is the code of its 400s (InvalidRankRequest,
 * InvalidRewardRequest, …), as Personalizer answers them. Unknown errors are 500 InternalServerError with the
 * id they were logged under. The code is also sent as `x-ms-error-code` (the 2022-09-01-preview contract).
 */
export function personalizerErrors(badRequestCode: string): ErrorRenderer {
  return (err: unknown, req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, logger: Logger) => {
    const known = toPersonalizerError(err, badRequestCode);
    if (known) {
      sendJson(res, known.body, known.status, undefined, { ...known.headers, 'x-ms-error-code': known.body.error.code });
      return;
    }
    const errorId = randomUUID();
    logger.error({ err, errorId, method: req.method, url: req.originalUrl ?? req.url }, 'unhandled error');
    sendJson(res, body('InternalServerError', `An unexpected error occurred; it was logged under id ${errorId}`), 500, undefined, { 'x-ms-error-code': 'InternalServerError' });
  };
}
