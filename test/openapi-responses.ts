import assert from 'node:assert/strict';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

interface OpenApiDoc {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
  components: { schemas: Record<string, unknown> };
}

/** What a response needs for checking: supertest's Response fits. */
export interface CheckedResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: unknown;
  text?: string;
}

/**
 * Checks HTTP responses against the OpenAPI document the service serves (GET /openapi.json): the status must
 * be documented for the operation (or fall under its `default`), the media type must be the documented one,
 * and a JSON body must validate against the documented schema. Records which operation/status pairs it saw,
 * so a test can require that every operation was exercised.
 */
export class OpenApiResponses {
  private readonly ajv = new Ajv2020({ allErrors: true, strict: false });
  private readonly compiled = new Map<string, ValidateFunction>();
  readonly seen = new Set<string>();

  constructor(private readonly doc: OpenApiDoc) {
    (addFormats as unknown as (a: Ajv2020) => void)(this.ajv);
    // Components are addressed as the document addresses them.
    this.ajv.addSchema({ $id: 'components', $defs: doc.components.schemas });
  }

  /** The OpenAPI path template a concrete path matches (e.g. /models/x → /models/{name}). */
  template(path: string): string | undefined {
    const bare = path.split('?')[0]!;
    return Object.keys(this.doc.paths).find((t) => new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(bare));
  }

  check(method: string, path: string, res: CheckedResponse): void {
    const where = `${method.toUpperCase()} ${path} → ${res.status}`;
    const template = this.template(path);
    assert.ok(template, `${where}: the path is not in the OpenAPI document`);
    const op = this.doc.paths[template]![method.toLowerCase()];
    assert.ok(op, `${where}: the method is not in the OpenAPI document`);
    const key = String(res.status) in op.responses ? String(res.status) : 'default';
    const spec = op.responses[key];
    assert.ok(spec, `${where}: status not documented (and no default response)`);
    this.seen.add(`${method.toLowerCase()} ${template} ${key}`);
    const contentType = (res.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (!spec.content) {
      assert.ok(res.status === 204 || (res.text ?? '') === '', `${where}: documented without a body, got ${contentType}`);
      return;
    }
    // A documented type may carry parameters (text/plain; version=0.0.4): the media type itself must match.
    const documented = Object.keys(spec.content).find((k) => k.split(';')[0]!.trim() === contentType);
    assert.ok(documented, `${where}: content type "${contentType}" not documented (${Object.keys(spec.content).join(', ')})`);
    const media = spec.content[documented]!;
    if (!media.schema) return;
    const id = `${method} ${template} ${key} ${contentType}`;
    let validate = this.compiled.get(id);
    if (!validate) {
      const schema = JSON.parse(JSON.stringify(media.schema).replaceAll('"#/components/schemas/', '"components#/$defs/')) as object;
      validate = this.ajv.compile(schema);
      this.compiled.set(id, validate);
    }
    assert.ok(validate(res.body), `${where}: the body does not match its schema: ${this.ajv.errorsText(validate.errors)}\n${JSON.stringify(res.body).slice(0, 2000)}`);
  }

  /** Every operation under `paths` that `seen` has no success (2xx) response for. */
  unexercised(paths: string[]): string[] {
    const missing: string[] = [];
    for (const p of paths) {
      for (const method of Object.keys(this.doc.paths[p] ?? {})) {
        if (![...this.seen].some((s) => s.startsWith(`${method} ${p} 2`))) missing.push(`${method.toUpperCase()} ${p}`);
      }
    }
    return missing;
  }
}
