/**
 * One error hierarchy for the whole service: each error carries its HTTP status
 * and problem type, and the problem middleware renders it as RFC 9457.
 */

export interface FieldError {
  /** JSON Pointer into the request (e.g. /context/user/age, /query/glimpses). */
  path: string;
  message: string;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly title: string,
    detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = new.target.name;
  }

  /** The RFC 9457 problem document of this error: the one builder, used by every response that carries one. */
  toProblem(instance?: string): Record<string, unknown> {
    return { type: this.type, title: this.title, status: this.status, detail: this.message, ...(instance ? { instance } : {}), ...this.extra };
  }
}

export class ValidationError extends HttpError {
  constructor(detail: string, readonly errors: FieldError[] = []) {
    super(400, '/problems/validation', 'Invalid request', detail, errors.length ? { errors } : {});
  }
}

export class MalformedJsonError extends HttpError {
  constructor(detail: string) {
    super(400, '/problems/malformed-json', 'Malformed JSON body', detail);
  }
}

export class UnauthorizedError extends HttpError {
  constructor(detail = 'A valid API key is required: send Authorization: Bearer <key>') {
    super(401, '/problems/unauthorized', 'Unauthorized', detail);
  }
}

export class ForbiddenError extends HttpError {
  constructor(detail: string) {
    super(403, '/problems/forbidden', 'Forbidden', detail);
  }
}

export class NotFoundError extends HttpError {
  constructor(detail: string) {
    super(404, '/problems/not-found', 'Not found', detail);
  }
}

export class MethodNotAllowedError extends HttpError {
  constructor(method: string, path: string, readonly allow: string[]) {
    super(405, '/problems/method-not-allowed', 'Method not allowed', `${method} is not allowed on ${path}; allowed: ${allow.join(', ')}`, { allow });
  }
}

export class NotAcceptableError extends HttpError {
  constructor(detail: string) {
    super(406, '/problems/not-acceptable', 'Not acceptable', detail);
  }
}

export class ConflictError extends HttpError {
  constructor(detail: string, extra: Record<string, unknown> = {}) {
    super(409, '/problems/conflict', 'Conflict', detail, extra);
  }
}

export class GoneError extends HttpError {
  constructor(detail: string, extra: Record<string, unknown> = {}) {
    super(410, '/problems/gone', 'Gone', detail, extra);
  }
}

export class PayloadTooLargeError extends HttpError {
  /** `limit` names the configuration limit that was exceeded (e.g. FOCAL_MAX_BODY). */
  constructor(detail: string, limit: string, max: number) {
    super(413, '/problems/payload-too-large', 'Payload too large', detail, { limit, max });
  }
}

export class UnsupportedMediaTypeError extends HttpError {
  constructor(detail: string) {
    super(415, '/problems/unsupported-media-type', 'Unsupported media type', detail);
  }
}

export class UnprocessableError extends HttpError {
  constructor(detail: string) {
    super(422, '/problems/unprocessable', 'Unprocessable content', detail);
  }
}

export class ServiceUnavailableError extends HttpError {
  /** `retryAfter`: seconds, sent as the Retry-After header when given. */
  constructor(detail: string, readonly retryAfter?: number, extra: Record<string, unknown> = {}) {
    super(503, '/problems/unavailable', 'Service unavailable', detail, extra);
  }
}

/** The database cannot write for lack of space (a full disk, or FOCAL_DATABASE_SIZE_LIMIT): nothing was written. */
export class StorageFullError extends HttpError {
  /** `retryAfter`: seconds, sent as the Retry-After header. */
  constructor(readonly retryAfter: number) {
    super(503, '/problems/storage-full', 'Storage full',
      `The database cannot write for lack of disk space; nothing of this request was written. Retry after ${retryAfter} s.`);
  }
}

/** An error nobody anticipated: the answer names the id it was logged under, never the stack. */
export class InternalError extends HttpError {
  constructor(readonly errorId: string) {
    super(500, '/problems/internal', 'Internal server error', `An unexpected error occurred; it was logged under id ${errorId}`, { errorId });
  }
}
