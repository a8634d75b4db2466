/** The factories' own validation of their parameters, with the types, bounds and defaults of config-schema.ts. */
import { MAX_NAME_LIST, MAX_NAMESPACE_LENGTH, type ParamSchema } from './config-schema.js';
import { BanditConfigError } from './errors.js';

export type RawConfig = Readonly<Record<string, unknown>>;

/** Reads an optional numeric parameter, applying its default and checking its range, both from its schema (config-schema.ts). */
export function numberField(raw: RawConfig, key: string, spec: ParamSchema, path: string, fallback = spec.default): number {
  const v = Object.prototype.hasOwnProperty.call(raw, key) ? raw[key] : undefined;
  if (v === undefined) {
    if (typeof fallback !== 'number') throw new Error(`${path}/${key} has no default`);
    return fallback;
  }
  const at = `${path}/${key}`;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BanditConfigError(at, `${key} must be a finite number`);
  if (spec.type === 'integer' && !Number.isInteger(v)) throw new BanditConfigError(at, `${key} must be an integer`);
  if (spec.minimum !== undefined && v < spec.minimum) throw new BanditConfigError(at, `${key} must be >= ${spec.minimum}`);
  if (spec.exclusiveMinimum !== undefined && v <= spec.exclusiveMinimum) throw new BanditConfigError(at, `${key} must be > ${spec.exclusiveMinimum}`);
  if (spec.maximum !== undefined && v > spec.maximum) throw new BanditConfigError(at, `${key} must be <= ${spec.maximum}`);
  return v;
}

export function booleanField(raw: RawConfig, key: string, spec: ParamSchema, path: string): boolean {
  const v = Object.prototype.hasOwnProperty.call(raw, key) ? raw[key] : undefined;
  if (v === undefined) return spec.default === true;
  if (typeof v !== 'boolean') throw new BanditConfigError(`${path}/${key}`, `${key} must be a boolean`);
  return v;
}

/** Interactions: a list of namespace-name lists, each of length ≥ 2. */
export function interactionsField(raw: RawConfig, path: string): string[][] | undefined {
  const v = Object.prototype.hasOwnProperty.call(raw, 'interactions') ? raw['interactions'] : undefined;
  if (v === undefined) return undefined;
  const at = `${path}/interactions`;
  if (!Array.isArray(v)) throw new BanditConfigError(at, 'interactions must be an array of namespace lists');
  if (v.length > MAX_NAME_LIST) throw new BanditConfigError(at, `interactions must have at most ${MAX_NAME_LIST} terms`);
  return v.map((term: unknown, i) => {
    if (!Array.isArray(term) || term.length < 2 || term.length > 3 || !term.every(isNamespaceName)) {
      throw new BanditConfigError(`${at}/${i}`, `each interaction is a list of 2 or 3 namespace names of 1 to ${MAX_NAMESPACE_LENGTH} characters`);
    }
    return [...(term as string[])];
  });
}

/** A list of namespace names (e.g. ignoreLinear). */
export function namesField(raw: RawConfig, key: string, path: string): string[] | undefined {
  const v = Object.prototype.hasOwnProperty.call(raw, key) ? raw[key] : undefined;
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > MAX_NAME_LIST || !v.every(isNamespaceName)) {
    throw new BanditConfigError(`${path}/${key}`, `${key} must be a list of at most ${MAX_NAME_LIST} namespace names of 1 to ${MAX_NAMESPACE_LENGTH} characters`);
  }
  return [...(v as string[])];
}

function isNamespaceName(n: unknown): boolean {
  return typeof n === 'string' && n.length > 0 && n.length <= MAX_NAMESPACE_LENGTH;
}
