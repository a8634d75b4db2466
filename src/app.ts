import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Config } from './platform/config.js';
import type { Logger } from './platform/logger.js';
import type { Metrics } from './platform/metrics.js';
import type { TfBackendName } from './platform/tensor-backend.js';
import type { Db } from './store/database.js';
import { authorize, type AuthLevel, type Keys } from './http/auth.js';
import { MethodNotAllowedError, NotFoundError, UnsupportedMediaTypeError } from './http/errors.js';
import { buildOpenApi } from './http/openapi.js';
import { problemHandler, renderError } from './http/problem.js';
import { LeanLane, readJsonBody } from './http/lean-lane.js';
import { keepBodyBytes, keepRequestJson } from './http/request-json.js';
import type { AnyRoute } from './http/route.js';
import { check, compile } from './http/validation.js';
import type { ValidateFunction } from 'ajv';
import { opsRoutes } from './http/ops-routes.js';
import { CAPABILITIES } from './capabilities.js';
import { attachStorageHealth } from './store/storage-health.js';

export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  metrics: Metrics;
  backend: TfBackendName;
  /** Which capabilities to mount; defaults to all of Focal's (src/capabilities.ts). */
  capabilities?: readonly CapabilityFactory[];
}

/** A vertical slice of the service: its routes plus its lifecycle. */
export interface Capability {
  name: string;
  routes: AnyRoute[];
  /** True once its models are loaded and it can serve. */
  isReady(): boolean;
  /** Flushes state (snapshots) before the database closes. */
  close(): Promise<void>;
}

/**
 * Feedback for a logged event, routed by the event's kind. POST /reward (owned
 * by the decisions capability) looks up the event and hands image events to
 * the handler the images capability registered for kind 'image'.
 */
export interface FeedbackItem {
  eventId: string;
  reward?: number;
  label?: string;
}

export interface FeedbackResult {
  /** HTTP status for this item: 200, or the 4xx of the contract. */
  status: number;
  body: Record<string, unknown>;
}

export type FeedbackHandler = (item: FeedbackItem) => FeedbackResult | Promise<FeedbackResult>;

/** What every capability factory receives: the app's dependencies plus shared registries. */
export interface CapabilityContext extends AppDeps {
  feedback: Map<string, FeedbackHandler>;
}

export type CapabilityFactory = (ctx: CapabilityContext) => Capability | Promise<Capability>;

export interface FocalApp {
  app: Express;
  /** Serves the hot JSON routes in front of express (src/http/lean-lane.ts). */
  lean: LeanLane;
  capabilities: Capability[];
  openapi: Record<string, unknown>;
  isReady(): boolean;
  /** Stops capabilities (flushing their state); the caller closes the database. */
  close(): Promise<void>;
}

export const SERVICE_VERSION = '0.1.0';

/** Records each request's duration under its route template once the response is sent. */
function timer(metrics: Metrics, logger: Logger, template: string) {
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

/** Serves a `lean` route on the lean lane: the same steps as its express handler, on node's request and response. */
function mountLean(lean: LeanLane, r: AnyRoute, m: {
  validateBody: ValidateFunction | undefined; limit: number; level: AuthLevel; keys: Keys; time: ReturnType<typeof timer>; logger: Logger;
}): void {
  const { validateBody, limit, level, keys, time, logger } = m;
  if (!validateBody || r.params || r.query || r.middleware || r.bodyOptional) {
    throw new Error(`${r.method.toUpperCase()} ${r.path}: a lean route takes a JSON body and nothing else`);
  }
  lean.add(r.method, r.path, (req, res) => {
    time(req, res);
    const fail = (err: unknown) => {
      if (res.headersSent) res.destroy();
      else renderError(err, req, res, logger);
    };
    try {
      authorize(req, level, keys);
    } catch (err) {
      fail(err);
      return;
    }
    readJsonBody(req, limit, (err, parsed, bytes) => {
      if (err) {
        fail(err);
        return;
      }
      if (bytes && r.keepBodyText) keepBodyBytes(req, bytes);
      const run = async () => {
        const body: unknown = check(validateBody, parsed, 'body');
        // The handler of a lean route uses only node's request and response API (RouteSpec.lean).
        await r.handler({ body, query: {}, params: {}, req: req as Request, res: res as Response });
      };
      run().catch(fail);
    });
  });
}

/**
 * One express handler per route: timing, auth, the JSON body parser, any
 * middleware, validation and the handler run as one chain rather than as
 * separate router layers (each router step costs time on every request).
 * A `lean` route is also served by the lean lane (src/http/lean-lane.ts)
 * with the same auth, limit, validation, handler, errors and metrics.
 */
function mount(app: Express, lean: LeanLane, r: AnyRoute, deps: AppDeps): void {
  const validateParams = r.params ? compile(r.params, 'params') : undefined;
  const validateQuery = r.query ? compile(r.query, 'query') : undefined;
  const validateBody = r.body ? compile(r.body, 'body') : undefined;
  const keys = { apiKey: deps.config.apiKey, adminKey: deps.config.adminKey };
  const level = r.auth ?? 'user';
  const limit = r.bodyLimit ?? deps.config.limits.bodyBytes;
  const steps: express.RequestHandler[] = [];
  if (r.body) {
    steps.push(express.json({
      limit, strict: false, type: ['application/json', 'application/*+json'],
      ...(r.keepBodyText ? { verify: keepRequestJson } : {}),
    }));
  }
  steps.push(...(r.middleware ?? []));
  const time = timer(deps.metrics, deps.logger, r.path);
  const handle = async (req: Request, res: Response) => {
    const params = validateParams ? check(validateParams, { ...req.params }, 'params') : req.params;
    const query = validateQuery ? check(validateQuery, { ...(req.query as Record<string, unknown>) }, 'query') : req.query;
    let body: unknown = req.body;
    if (validateBody) {
      const empty = req.headers['content-length'] === '0' || (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined);
      if (!req.is(['application/json', 'application/*+json']) && !empty) {
        throw new UnsupportedMediaTypeError(`Expected Content-Type: application/json, got ${req.headers['content-type'] ?? 'none'}`);
      }
      if (body === undefined && empty && r.bodyOptional) body = {};
      body = check(validateBody, body, 'body');
    }
    await r.handler({ body, query, params, req, res });
  };
  if (r.lean) mountLean(lean, r, { validateBody, limit, level, keys, time, logger: deps.logger });
  app[r.method](r.path, (req: Request, res: Response, next: NextFunction) => {
    time(req, res);
    authorize(req, level, keys);
    let i = 0;
    const step = (err?: unknown): void => {
      if (err) {
        next(err);
        return;
      }
      const s = steps[i++];
      if (!s) {
        handle(req, res).catch(next);
        return;
      }
      try {
        const out = s(req, res, step) as unknown;
        if (out instanceof Promise) out.catch(next);
      } catch (e) {
        next(e);
      }
    };
    step();
  });
}

/**
 * Wires routers, services and stores in one place. Tests call it with a
 * temporary database; main.ts calls it with the real one.
 */
export async function createApp(deps: AppDeps): Promise<FocalApp> {
  const { config, logger, metrics } = deps;
  const capabilities: Capability[] = [];
  const ctx: CapabilityContext = { ...deps, feedback: new Map() };
  // Before the capabilities: their writers report a full disk to it (src/store/storage-health.ts).
  const storage = attachStorageHealth(deps.db, { logger, metrics });
  for (const factory of deps.capabilities ?? CAPABILITIES) capabilities.push(await factory(ctx));
  const isReady = () => deps.db.open && !storage.full && capabilities.every((c) => c.isReady());

  const openapiHolder: { doc: Record<string, unknown> } = { doc: {} };
  const ops = opsRoutes({ metrics, isReady, backend: deps.backend, openapi: () => openapiHolder.doc });
  const served = capabilities.flatMap((c) => c.routes);
  const routes: AnyRoute[] = [...ops, ...served];
  openapiHolder.doc = buildOpenApi(routes, {
    title: 'Focal', version: SERVICE_VERSION,
    description: 'Contextual bandits and a recurrent visual attention agent behind one HTTP API.',
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  metrics.tfBackend.set({ backend: deps.backend }, 1);

  // The capabilities' routes before the operational ones: express tries routes in order, and /decide and /reward are the hot paths.
  const lean = new LeanLane();
  for (const r of [...served, ...ops]) mount(app, lean, r, deps);
  // The lean lane answers first: express's app(req, res) calls app.handle, so app.listen and supertest both go through it.
  const entry = app as unknown as { handle: (req: IncomingMessage, res: ServerResponse, next?: NextFunction) => void };
  const expressHandle = entry.handle.bind(app);
  entry.handle = (req, res, next) => {
    if (!lean.serve(req, res)) expressHandle(req, res, next);
  };

  // Known path, other method: 405 with Allow. Registered after every route so real handlers win.
  const methodsByPath = new Map<string, Set<string>>();
  for (const r of routes) {
    const set = methodsByPath.get(r.path) ?? new Set<string>();
    set.add(r.method.toUpperCase());
    if (r.method === 'get') set.add('HEAD');
    methodsByPath.set(r.path, set);
  }
  for (const [path, methods] of methodsByPath) {
    const time = timer(metrics, logger, path);
    app.all(path, (req, res) => {
      time(req, res);
      throw new MethodNotAllowedError(req.method, req.path, [...methods]);
    });
  }
  const unmatched = timer(metrics, logger, 'unmatched');
  app.use((req, res) => {
    unmatched(req, res);
    throw new NotFoundError(`No route for ${req.method} ${req.path}`);
  });
  app.use(problemHandler(logger));

  if (!config.apiKey && !config.adminKey) {
    logger.warn('No FOCAL_API_KEY or FOCAL_ADMIN_KEY is set: every endpoint is open to anyone who can reach the port');
  }

  return {
    app, lean, capabilities, openapi: openapiHolder.doc, isReady,
    close: async () => {
      for (const c of [...capabilities].reverse()) await c.close();
      storage.close();
    },
  };
}
