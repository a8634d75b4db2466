/**
 * Personalizer's features are lists of dictionaries (`contextFeatures: [{ "user": {…} }, { "device": {…} }]`,
 * `actions[].features: [{…}, {…}]`); Focal's are one object whose nested objects are namespaces. The lists are
 * merged key by key: a namespace given twice merges its features; a feature given twice with different values
 * is refused (Personalizer would learn both; Focal's features are a map). Values are checked by Focal's engine.
 */
import type { Features } from '../bandit/index.js';
import { PersonalizerError } from './errors.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>, at: string, code: string): Record<string, unknown> {
  for (const [key, value] of Object.entries(source)) {
    if (!Object.prototype.hasOwnProperty.call(target, key)) {
      // defineProperty: a "__proto__" feature name stays a plain key.
      Object.defineProperty(target, key, { value: isObject(value) ? mergeInto({}, value, `${at}/${key}`, code) : value, enumerable: true, writable: true, configurable: true });
      continue;
    }
    const existing = target[key];
    if (isObject(existing) && isObject(value)) mergeInto(existing, value, `${at}/${key}`, code);
    else if (JSON.stringify(existing) !== JSON.stringify(value)) throw new PersonalizerError(400, code, `${at}/${key} is given twice with different values`, `${at}/${key}`);
  }
  return target;
}

/** One Focal feature object from a Personalizer list of dictionaries; `at` is the list's JSON Pointer (for errors). */
export function mergeFeatures(list: readonly Record<string, unknown>[] | undefined, at: string, code: string): Features {
  const out: Record<string, unknown> = {};
  for (const [i, dict] of (list ?? []).entries()) mergeInto(out, dict, `${at}/${i}`, code);
  return out as Features;
}
