import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteRunner } from './pipeline.js';

/**
 * The lean lane: a dispatch in front of express for the hot routes (RouteSpec `lean`: POST /decide and
 * POST /reward). A request whose method and URL are exactly a lean route's (no query string) is handed
 * straight to that route's runner, skipping express's router and request decoration; everything else goes
 * to express, whose handler for the same route calls the same runner (src/http/pipeline.ts). So the lane
 * only chooses the entry: auth, body reading, validation, the handler, errors and metrics are one code path.
 *
 * Why: express costs per request about as much as everything Focal does for a decision. bench:bandit
 * measured a bare express endpoint that only parses the body at about a third of the rate of node's http
 * server doing the same, and /decide served here rather than through express at about twice the rate.
 */
export class LeanLane {
  private readonly routes = new Map<string, RouteRunner>();
  /** Requests this lane took (tests check which entry served a request). */
  served = 0;

  add(method: string, path: string, run: RouteRunner): void {
    this.routes.set(`${method.toUpperCase()} ${path}`, run);
  }

  /** Serves the request and returns true, or returns false (nothing read, nothing written) for express to serve it. */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.routes.size === 0) return false;
    const run = this.routes.get(`${req.method} ${req.url}`);
    if (!run) return false;
    this.served++;
    run(req, res, {}, {});
    return true;
  }
}
