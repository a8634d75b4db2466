import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { ValidationError, type FieldError } from './errors.js';

/** A JSON Schema (2020-12) object, as written `as const` beside each route. */
export type JsonSchema = Record<string, unknown>;

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

function makeAjv(coerceTypes: boolean): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true, coerceTypes, useDefaults: true, keywords: ['example'] });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  return ajv;
}

/** Bodies are validated as sent: "1" is not a number. */
const bodyAjv = makeAjv(false);
/** Query strings and path parameters are text: "6" may stand for 6. */
const textAjv = makeAjv(true);

export type Location = 'body' | 'query' | 'params';

export function compile(schema: JsonSchema, location: Location): ValidateFunction {
  return (location === 'body' ? bodyAjv : textAjv).compile(schema);
}

function describe(e: ErrorObject): FieldError {
  let path = e.instancePath;
  let message = e.message ?? 'is invalid';
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      path += `/${String(params.missingProperty)}`;
      message = 'is required';
      break;
    case 'additionalProperties':
      path += `/${String(params.additionalProperty)}`;
      message = 'is not an allowed property';
      break;
    case 'unevaluatedProperties':
      path += `/${String(params.unevaluatedProperty)}`;
      message = 'is not an allowed property';
      break;
    case 'enum':
      message = `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    case 'const':
      message = `must be ${JSON.stringify(params.allowedValue)}`;
      break;
  }
  return { path, message };
}

function pointerToDotted(pointer: string): string {
  return pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
}

/**
 * Validates `data` and returns it typed, or throws a ValidationError whose
 * errors carry JSON Pointers (prefixed with /query or /params outside the body).
 */
export function check<T>(validate: ValidateFunction, data: unknown, location: Location): T {
  if (validate(data)) return data as T;
  const prefix = location === 'body' ? '' : `/${location}`;
  const seen = new Set<string>();
  const errors: FieldError[] = [];
  for (const e of validate.errors ?? []) {
    // oneOf/anyOf/if produce a summary error beside the branch errors; the branches say more.
    if (['oneOf', 'anyOf', 'if'].includes(e.keyword) && (validate.errors?.length ?? 0) > 1) continue;
    const d = describe(e);
    const key = `${d.path} ${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    errors.push({ path: prefix + d.path, message: d.message });
  }
  const first = errors[0] ?? { path: prefix, message: 'is invalid' };
  const where = pointerToDotted(first.path) || (location === 'body' ? 'body' : location);
  throw new ValidationError(`${where} ${first.message}`, errors);
}
