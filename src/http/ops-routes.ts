import type { Metrics } from '../platform/metrics.js';
import type { TfBackendName } from '../platform/tensor-backend.js';
import { ServiceUnavailableError } from './errors.js';
import { route, type AnyRoute } from './route.js';
import { sendJson } from './respond.js';

interface OpsDeps {
  metrics: Metrics;
  backend: TfBackendName;
  isReady: () => boolean;
  openapi: () => Record<string, unknown>;
}

const statusSchema = {
  type: 'object', required: ['status'],
  properties: { status: { type: 'string' }, backend: { type: 'string' } },
} as const;

/** Health, readiness, metrics and the API description: always public. */
export function opsRoutes(deps: OpsDeps): AnyRoute[] {
  // What /readyz answers, read at scrape time, so Prometheus can alert on readiness (deploy/prometheus/alerts.yml).
  deps.metrics.gauge('focal_ready', 'Whether GET /readyz answers 200 (1) or 503 (0): store open and models loaded.', [],
    function () { this.set(deps.isReady() ? 1 : 0); });
  return [
    route({
      method: 'get', path: '/healthz', summary: 'Liveness: the process answers', auth: 'public', tags: ['operations'],
      responses: { 200: { description: 'Alive', schema: statusSchema } },
      handler: ({ res }) => { sendJson(res, { status: 'ok' }); },
    }),
    route({
      method: 'get', path: '/readyz', summary: 'Readiness: store open and models loaded', auth: 'public', tags: ['operations'],
      responses: { 200: { description: 'Ready', schema: statusSchema }, 503: { description: 'Not ready yet, shutting down, or the store cannot write (disk full)' } },
      handler: ({ res }) => {
        if (!deps.isReady()) throw new ServiceUnavailableError('Not ready: the store is closed or cannot write (disk full), or models are still loading');
        sendJson(res, { status: 'ready', backend: deps.backend });
      },
    }),
    route({
      method: 'get', path: '/metrics', summary: 'Prometheus metrics', auth: 'public', tags: ['operations'],
      responses: { 200: { description: 'Prometheus text exposition format', contentType: 'text/plain; version=0.0.4' } },
      handler: async ({ res }) => {
        const text = await deps.metrics.text();
        res.type(deps.metrics.contentType()).send(text);
      },
    }),
    route({
      method: 'get', path: '/openapi.json', summary: 'This API as OpenAPI 3.1', auth: 'public', tags: ['operations'],
      responses: { 200: { description: 'OpenAPI document', schema: { type: 'object' } } },
      handler: ({ res }) => { sendJson(res, deps.openapi()); },
    }),
  ];
}
