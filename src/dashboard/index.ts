import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Capability, CapabilityFactory } from '../capability.js';
import { NotFoundError, ServiceUnavailableError } from '../http/errors.js';
import { route } from '../http/route.js';

/**
 * The dashboard (GET /ui): a static page built from ui/ by `npm run build` (scripts/build-ui.mjs, esbuild) into
 * dist/ui/, served from this process (no third-party origin, works offline). The page and its assets are public:
 * they hold no data. The page asks for the API key when the service answers 401 and sends it as an
 * `Authorization: Bearer` header from script, never in a URL.
 */

/** <repo>/dist/ui, from src/dashboard/ (tsx) and from dist/dashboard/ (the build) alike. */
export const UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

/** The built files: names esbuild gives them (no paths, so nothing outside UI_DIR can be named). */
const ASSET = /^[A-Za-z0-9_-]+\.(js|css|svg|png|map)$/;

/** The page only talks to its own origin; styles may be set from script (uPlot sizes its canvases). */
const CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

function notBuilt(): ServiceUnavailableError {
  return new ServiceUnavailableError(`The dashboard is not built (no ${UI_DIR}index.html): run npm run build`);
}

function send(dir: string, res: import('express').Response, file: string, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    res.sendFile(file, { root: dir, dotfiles: 'deny', headers }, (err) => (err ? reject(err) : resolve()));
  });
}

export function dashboardCapability(dir = UI_DIR): CapabilityFactory {
  return (): Capability => ({
    name: 'dashboard',
    isReady: () => true,
    close: async () => {},
    routes: [
      route({
        method: 'get', path: '/ui', auth: 'public', tags: ['dashboard'],
        summary: 'The dashboard: a web page served by Focal itself',
        description: 'Models with their statistics and charts over time, offline evaluations, a decision browser and an image playground. '
          + 'The page is public and holds no data; it reads the API with the key the user enters (kept in the tab\'s session storage, '
          + 'sent as a header). Built by npm run build.',
        responses: {
          200: { description: 'The page', contentType: 'text/html' },
          503: { description: 'The dashboard was not built (npm run build)' },
        },
        handler: async ({ res }) => {
          if (!existsSync(`${dir}index.html`)) throw notBuilt();
          await send(dir, res, 'index.html', { 'Content-Security-Policy': CSP, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
        },
      }),
      route<unknown, Record<string, unknown>, { file: string }>({
        method: 'get', path: '/ui/assets/:file', auth: 'public', tags: ['dashboard'],
        summary: 'The dashboard\'s scripts and styles',
        params: { type: 'object', required: ['file'], additionalProperties: false, properties: { file: { type: 'string', pattern: ASSET.source } } },
        responses: {
          200: { description: 'The file', contentType: 'application/octet-stream' },
          400: { description: 'Not an asset name' },
          404: { description: 'No such asset' },
        },
        handler: async ({ params, res }) => {
          if (!existsSync(`${dir}${params.file}`)) throw new NotFoundError(`No dashboard asset named "${params.file}"`);
          await send(dir, res, params.file, { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
        },
      }),
    ],
  });
}

export const createDashboardCapability: CapabilityFactory = dashboardCapability();
