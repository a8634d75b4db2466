import createClient, { type Client, type ClientOptions, type Middleware } from 'openapi-fetch';
import type { components, operations, paths } from './schema.js';

export type { components, operations, paths };

/** An RFC 9457 problem document as Focal sends it (`application/problem+json`). */
export type Problem = components['schemas']['Problem'] & Record<string, unknown>;

/** Every path of Focal's API, typed from its OpenAPI document (openapi-fetch). */
export type FocalClient = Client<paths>;

export interface RetryOptions {
  /** Retries after a 503 (default 3; 0 disables). Only 503s are retried: Focal refuses them without doing anything. */
  retries?: number;
  /**
   * Longest wait before one retry, in ms (default 10 000). A Retry-After asking for longer is not cut short:
   * the 503 is surfaced as a FocalProblemError instead, so the server's request is honoured.
   */
  maxDelayMs?: number;
  /** Wait before the first retry when the 503 has no Retry-After, doubled each time (default 200 ms). */
  baseDelayMs?: number;
}

export interface RetryEvent {
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  request: Request;
  response: Response;
}

export interface FocalClientOptions {
  /** Where Focal listens, e.g. `http://localhost:8080`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>` (FOCAL_API_KEY, or FOCAL_ADMIN_KEY for PUT/DELETE /models). */
  apiKey?: string;
  retry?: RetryOptions;
  /** Called before each retry (logging, metrics). */
  onRetry?: (event: RetryEvent) => void;
  /** Replaces the global fetch (tests, proxies). */
  fetch?: (request: Request) => Promise<Response>;
  /** Headers added to every request. */
  headers?: Record<string, string>;
}

/**
 * A non-2xx answer from Focal. Carries the problem document's fields; `problem` holds the whole document,
 * extension members included (e.g. `limit` on a 503 from a full image queue).
 */
export class FocalProblemError extends Error {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance: string | undefined;
  /** Each invalid field of a 400: its JSON path and what is wrong with it. */
  readonly errors: { path: string; message: string }[] | undefined;
  /** On a 500: the id under which the server logged the error. */
  readonly errorId: string | undefined;
  /** Seconds the server asked to wait (Retry-After), when it did. */
  readonly retryAfter: number | undefined;

  constructor(readonly problem: Problem, readonly response: Response) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
    this.name = 'FocalProblemError';
    this.type = problem.type;
    this.title = problem.title;
    this.status = problem.status;
    this.detail = problem.detail;
    this.instance = problem.instance;
    this.errors = problem.errors;
    this.errorId = problem.errorId;
    const wait = retryAfterMs(response.headers.get('retry-after'));
    this.retryAfter = wait === undefined ? undefined : wait / 1000;
  }
}

/**
 * A client for every Focal endpoint. Calls resolve with `{ data, response }` on 2xx and reject with a
 * FocalProblemError otherwise; 503s are retried first (see RetryOptions).
 *
 *     const focal = createFocalClient({ baseUrl: 'http://localhost:8080' });
 *     const decision = await ok(focal.POST('/decide', { body: { context: { hour: 9 }, actions: ['a', 'b'] } }));
 */
export function createFocalClient(options: FocalClientOptions): FocalClient {
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const retries = options.retry?.retries ?? 3;
  const maxDelayMs = options.retry?.maxDelayMs ?? 10_000;
  const baseDelayMs = options.retry?.baseDelayMs ?? 200;

  const retryingFetch = async (request: Request): Promise<Response> => {
    for (let attempt = 1; ; attempt++) {
      // A Request's body can be read once: each attempt sends a copy, the original stays unread for the next.
      const response = await send(request.clone());
      if (response.status !== 503 || attempt > retries) return response;
      const asked = retryAfterMs(response.headers.get('retry-after'));
      const delayMs = asked ?? baseDelayMs * 2 ** (attempt - 1);
      if (delayMs > maxDelayMs) return response;
      options.onRetry?.({ attempt, delayMs, request, response });
      await response.body?.cancel();
      await sleep(delayMs, request.signal);
    }
  };

  const clientOptions: ClientOptions = {
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    fetch: retryingFetch,
    headers: { ...options.headers, ...(options.apiKey ? { Authorization: `Bearer ${options.apiKey}` } : {}) },
  };
  const client = createClient<paths>(clientOptions);
  client.use(problems);
  return client;
}

/** The body of a successful call: `await ok(focal.GET('/models'))`. Errors were already thrown as FocalProblemError. */
export async function ok<T>(call: Promise<{ data?: T; response: Response }>): Promise<T> {
  const { data, response } = await call;
  if (data === undefined) throw new Error(`${response.status} ${response.url}: the response has no body`);
  return data;
}

export type ClassifyQuery = NonNullable<operations['postClassifyImage']['parameters']['query']>;
export type Classification = operations['postClassifyImage']['responses'][200]['content']['application/json'];

/**
 * POST /classify-image with the image's raw bytes (the generated body type is a union of every accepted
 * media type, so raw bytes need this small helper): `await classifyImage(focal, png, { contentType: 'image/png' })`.
 */
export async function classifyImage(client: FocalClient, image: Uint8Array | Blob,
  options: { contentType?: string; query?: ClassifyQuery; signal?: AbortSignal } = {}): Promise<Classification> {
  const contentType = options.contentType ?? (image instanceof Blob ? image.type : '');
  if (!contentType) throw new TypeError('classifyImage: pass contentType (image/png, image/jpeg, …) for raw bytes');
  return ok(client.POST('/classify-image', {
    params: { query: options.query ?? {} },
    // The bytes go out as they are; openapi-fetch would JSON-encode them otherwise.
    body: image as never,
    bodySerializer: (body: unknown) => body,
    headers: { 'Content-Type': contentType, Accept: 'application/json' },
    ...(options.signal ? { signal: options.signal } : {}),
  })) as Promise<Classification>;
}

/** Turns every non-2xx answer into a FocalProblemError (a body that is not a problem document gets one built from the status). */
const problems: Middleware = {
  async onResponse({ response }) {
    if (response.ok) return undefined;
    const text = await response.clone().text();
    let problem: Problem | undefined;
    if (/^application\/(problem\+)?json/i.test(response.headers.get('content-type') ?? '')) {
      try {
        const body = JSON.parse(text) as Partial<Problem>;
        if (typeof body.title === 'string' && typeof body.status === 'number') {
          problem = { type: 'about:blank', detail: body.title, ...body } as Problem;
        }
      } catch {
        // not JSON after all: fall through to a problem built from the status
      }
    }
    problem ??= { type: 'about:blank', title: response.statusText || `HTTP ${response.status}`, status: response.status, detail: text.slice(0, 500) };
    throw new FocalProblemError(problem, response);
  },
};

/** Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => { signal.removeEventListener('abort', abort); resolve(); }, ms);
    const abort = () => { clearTimeout(timer); reject(signal.reason); };
    signal.addEventListener('abort', abort, { once: true });
  });
}
