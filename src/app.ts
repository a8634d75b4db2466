import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { MethodNotAllowedError, NotFoundError } from './http/errors.js';
import { buildOpenApi } from './http/openapi.js';
import { problemHandler } from './http/problem.js';
import { LeanLane } from './http/lean-lane.js';
import { compileRoute, requestTimer, type PipelineDeps } from './http/pipeline.js';
import type { AnyRoute } from './http/route.js';
import { opsRoutes } from './http/ops-routes.js';
import { ServiceRegistry, type Capability, type CapabilityContext, type CapabilityFactory, type ServiceDeps } from './capability.js';
import { attachStorageHealth } from './store/storage-health.js';

export interface AppDeps extends ServiceDeps {
  /** The capabilities to mount, in order (Focal's own list is src/capabilities.ts; tests pass theirs). */
  capabilities: readonly CapabilityFactory[];
}

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

/**
 * Mounts a route: its runner (src/http/pipeline.ts) behind express's router and, for a `lean` route, also
 * behind the lean lane's exact-path dispatch. Both entries call the same runner.
 */
function mount(app: Express, lean: LeanLane, r: AnyRoute, deps: PipelineDeps): void {
  if (r.lean && (!r.body || r.params || r.query || r.middleware || r.bodyOptional)) {
    throw new Error(`${r.method.toUpperCase()} ${r.path}: a lean route takes a JSON body and nothing else`);
  }
  const run = compileRoute(r, deps);
  if (r.lean) lean.add(r.method, r.path, run);
  app[r.method](r.path, (req: Request, res: Response) => {
    run(req, res, req.params as Record<string, string>, req.query as Record<string, unknown>);
  });
}

/**
 * Wires routers, services and stores in one place. Tests call it with a
 * temporary database; main.ts calls it with the real one.
 */
export async function createApp(deps: AppDeps): Promise<FocalApp> {
  const { config, logger, metrics } = deps;
  const capabilities: Capability[] = [];
  const ctx: CapabilityContext = { ...deps, feedback: new Map(), services: new ServiceRegistry() };
  // Before the capabilities: their writers report a full disk to it (src/store/storage-health.ts).
  const storage = attachStorageHealth(deps.db, { logger, metrics });
  for (const factory of deps.capabilities) capabilities.push(await factory(ctx));
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
  const pipeline: PipelineDeps = {
    keys: { apiKey: config.apiKey, adminKey: config.adminKey }, bodyBytes: config.limits.bodyBytes, metrics, logger,
  };
  for (const r of [...served, ...ops]) mount(app, lean, r, pipeline);
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
    const time = requestTimer(metrics, logger, path);
    app.all(path, (req, res) => {
      time(req, res);
      throw new MethodNotAllowedError(req.method, req.path, [...methods]);
    });
  }
  const unmatched = requestTimer(metrics, logger, 'unmatched');
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
