import type { AnyRoute } from './route.js';
import { problemSchema, PROBLEM_CONTENT_TYPE } from './problem.js';
import type { JsonSchema } from './validation.js';

function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function parametersOf(schema: JsonSchema | undefined, where: 'path' | 'query'): Record<string, unknown>[] {
  if (!schema) return [];
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => ({
    name, in: where, required: where === 'path' || required.has(name),
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
    schema: s,
  }));
}

/** Builds the OpenAPI 3.1 document from the same route specs that validate requests. */
export function buildOpenApi(routes: readonly AnyRoute[], info: { title: string; version: string; description?: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    if (r.openapi === false) continue;
    const p = openApiPath(r.path);
    const responses: Record<string, unknown> = {};
    for (const [status, spec] of Object.entries(r.responses)) {
      const isError = Number(status) >= 400;
      const contentType = spec.contentType ?? (isError ? PROBLEM_CONTENT_TYPE : 'application/json');
      const schema = spec.schema ?? (isError ? { $ref: '#/components/schemas/Problem' } : undefined);
      responses[status] = { description: spec.description, ...(schema || spec.contentType ? { content: { [contentType]: schema ? { schema } : {} } } : {}) };
    }
    // Whatever else can happen to any request (401/403 without the right key, 413/415 on a body, 500, 503 while
    // starting or stopping) is a problem document too.
    responses.default ??= { description: 'Any other error, as an RFC 9457 problem document', content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } } };
    const op: Record<string, unknown> = {
      operationId: `${r.method}${p.replace(/[{}]/g, '').split(/[/-]/).map((s) => s.charAt(0).toUpperCase() + s.slice(1)).join('')}`,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      ...(r.tags ? { tags: r.tags } : {}),
      parameters: [...parametersOf(r.params, 'path'), ...parametersOf(r.query, 'query')],
      responses,
      ...((r.auth ?? 'user') === 'public' ? { security: [] } : {}),
    };
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: r.body } } };
    else if (r.rawRequestBody) op.requestBody = r.rawRequestBody;
    (paths[p] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: info.title, version: info.version, ...(info.description ? { description: info.description } : {}) },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas: { Problem: problemSchema },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Only when FOCAL_API_KEY / FOCAL_ADMIN_KEY are set.' } },
    },
    security: [{ bearer: [] }],
  };
}
