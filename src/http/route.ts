import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from '../platform/logger.js';
import type { AuthLevel } from './auth.js';
import type { JsonSchema } from './validation.js';

export type Method = 'get' | 'post' | 'put' | 'delete' | 'patch';

export interface ResponseSpec {
  description: string;
  /** JSON body schema; omit for no body. */
  schema?: JsonSchema;
  /** Defaults to application/json, or application/problem+json for 4xx/5xx. */
  contentType?: string;
}

export interface HandlerContext<B, Q, P> {
  body: B;
  query: Q;
  params: P;
  req: Request;
  res: Response;
}

/**
 * One endpoint: its schemas validate the request, type the handler and feed
 * /openapi.json, so the three can never drift apart.
 */
export interface RouteSpec<B = unknown, Q = Record<string, unknown>, P = Record<string, string>> {
  method: Method;
  /** Express path template, e.g. /models/:name */
  path: string;
  summary: string;
  description?: string;
  tags?: string[];
  /** Who may call it; defaults to 'user'. */
  auth?: AuthLevel;
  params?: JsonSchema;
  query?: JsonSchema;
  /** A JSON request body, validated after parsing. */
  body?: JsonSchema;
  /** With `body`: an empty request counts as `{}` (e.g. a bare PUT). */
  bodyOptional?: boolean;
  /** With `body`: a larger JSON limit than FOCAL_MAX_BODY (e.g. base64 images), in bytes. */
  bodyLimit?: number;
  /** With `body`: keep the body's JSON text for `requestJson(req)` (held until the request ends, so only where used). */
  keepBodyText?: boolean;
  /**
   * With `body`: also served by the lean lane in front of express when the request is plain JSON
   * (src/http/lean-lane.ts). The handler must then use only node's IncomingMessage/ServerResponse API
   * (req.headers, requestJson(req), sendJson(res)), none of express's additions; no params, query or middleware.
   */
  lean?: boolean;
  /** Runs after auth and before validation (e.g. a raw-body reader). */
  middleware?: RequestHandler[];
  /**
   * An OpenAPI requestBody object for routes that take other media types
   * (images); such routes read the raw request themselves.
   */
  rawRequestBody?: Record<string, unknown>;
  responses: Record<string, ResponseSpec>;
  handler: (ctx: HandlerContext<B, Q, P>) => unknown;
  /**
   * A header that may carry the API key besides `Authorization: Bearer` (a compatibility surface's own,
   * e.g. Azure's `Ocp-Apim-Subscription-Key`); the same keys and levels apply.
   */
  keyHeader?: string;
  /**
   * Renders any error of this route (auth, body, validation, handler) instead of the RFC 9457 problem
   * document: for a foreign API whose clients expect its own error shape (src/personalizer/).
   */
  renderError?: ErrorRenderer;
  /** False: served, but left out of /openapi.json (a foreign API documented by its own specification). */
  openapi?: boolean;
}

export type ErrorRenderer = (err: unknown, req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, logger: Logger) => void;

/** Type-erased route as stored in a route list. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRoute = RouteSpec<any, any, any>;

/** Identity helper that keeps each handler's types tied to its schemas. */
export function route<B = unknown, Q = Record<string, unknown>, P = Record<string, string>>(spec: RouteSpec<B, Q, P>): AnyRoute {
  return spec as AnyRoute;
}
