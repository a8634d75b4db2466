import type { ActionInput, Features } from '../bandit/index.js';
import { PayloadTooLargeError, ValidationError } from '../http/errors.js';
import type { Limits } from '../platform/config.js';
import { normalizeAction } from './decision-store.js';
import { MAX_MAGNITUDE } from './model-config.js';

/** Namespaces nest; deeper than this is hostile rather than useful. */
export const MAX_NAMESPACE_DEPTH = 8;

/** Keys that would reach Object.prototype if anything ever merged features naively. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** A Set lookup hashes the key, which costs more than the rest of the walk; most keys are shorter than any reserved name. */
const FORBIDDEN_MIN_LENGTH = Math.min(...[...FORBIDDEN_KEYS].map((k) => k.length));

/** C0 and C1 control characters (\p{Cc}), tested with a loop: a regex per key costs more than the rest of the walk. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

function invalid(path: string, message: string): ValidationError {
  return new ValidationError(`${path.split('/').slice(1).join('.')} ${message}`, [{ path, message }]);
}

/** Counts features across context and actions against FOCAL_MAX_FEATURES while checking each one. */
export class FeatureBudget {
  count = 0;
  constructor(private readonly limits: Limits) {}

  string(path: string, s: string, what: string): void {
    if (s.length > this.limits.stringLength) {
      throw new PayloadTooLargeError(`${path.split('/').slice(1).join('.') || what} is ${s.length} characters long; the limit is ${this.limits.stringLength} (FOCAL_MAX_STRING_LENGTH)`,
        'FOCAL_MAX_STRING_LENGTH', this.limits.stringLength);
    }
  }

  /**
   * Validates a feature object recursively: finite bounded numbers, strings, booleans, namespaces.
   * `path` may be a function: it runs for every action of every request, so the JSON Pointer of the
   * object (like that of a key) is only built when there is an error to report.
   */
  features(path: string | (() => string), value: unknown, depth = 1): asserts value is Features {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(pointer(path), 'must be an object of features');
    if (depth > MAX_NAMESPACE_DEPTH) throw invalid(pointer(path), `nests namespaces deeper than ${MAX_NAMESPACE_DEPTH}`);
    const max = this.limits.stringLength;
    const obj = value as Record<string, unknown>;
    // for-in rather than Object.keys: V8 reads each value through the object's enum cache instead of a megamorphic
    // keyed load, half the walk's time (it runs over every feature of every request). Features are parsed JSON:
    // plain objects whose keys are all own (Object.prototype has no enumerable properties), in Object.keys' order.
    for (const key in obj) {
      if (key.length === 0 || key.length > max || hasControl(key) || (key.length >= FORBIDDEN_MIN_LENGTH && FORBIDDEN_KEYS.has(key))) this.badKey(pointer(path), key);
      const v = obj[key];
      switch (typeof v) {
        case 'number':
          if (!(Math.abs(v) <= MAX_MAGNITUDE)) throw invalid(at(pointer(path), key), `must be a finite number within ±${MAX_MAGNITUDE}`);
          break;
        case 'boolean':
          break;
        case 'string':
          if (v.length > max) this.string(at(pointer(path), key), v, 'feature value');
          break;
        case 'object':
          if (v === null || Array.isArray(v)) throw invalid(at(pointer(path), key), 'must be a number, string, boolean or namespace object');
          this.features(() => at(pointer(path), key), v, depth + 1);
          continue;
        default:
          throw invalid(at(pointer(path), key), 'must be a number, string, boolean or namespace object');
      }
      if (++this.count > this.limits.featuresPerRequest) this.tooMany();
    }
  }

  /** Why a feature name is refused (the checks that pass are done inline by `features`). */
  private badKey(path: string, key: string): never {
    if (key.length === 0) throw invalid(at(path, key), 'feature names must not be empty');
    this.string(at(path, key), key, 'feature name');
    if (FORBIDDEN_KEYS.has(key)) throw invalid(at(path, key), `"${key}" is a reserved name`);
    if (hasControl(key)) throw invalid(at(path, key), 'feature names must not contain control characters');
    throw new Error(`feature name "${key}" was refused for no reason`);
  }

  private tooMany(): never {
    throw new PayloadTooLargeError(`The request has more than ${this.limits.featuresPerRequest} features (FOCAL_MAX_FEATURES)`,
      'FOCAL_MAX_FEATURES', this.limits.featuresPerRequest);
  }
}

function pointer(path: string | (() => string)): string {
  return typeof path === 'string' ? path : path();
}

/** The JSON Pointer of `key` under `path`. */
function at(path: string, key: string): string {
  return `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/**
 * Normalises actions (plain ids become {id}) and checks them: count against
 * FOCAL_MAX_ACTIONS, unique ids, id lengths, features.
 */
export function checkActions(raw: readonly (string | ActionInput)[], budget: FeatureBudget, limits: Limits, path = '/actions'): ActionInput[] {
  if (raw.length > limits.actionsPerRequest) {
    throw new PayloadTooLargeError(`${raw.length} actions exceed the limit of ${limits.actionsPerRequest} (FOCAL_MAX_ACTIONS)`,
      'FOCAL_MAX_ACTIONS', limits.actionsPerRequest);
  }
  if (raw.length === 0) throw invalid(path, 'must list at least one action');
  const seen = new Set<string>();
  return raw.map((a, i) => {
    const action = normalizeAction(a);
    // Pointers are built only for an error: this runs for every action of every request.
    if (action.id.length > limits.stringLength) budget.string(`${path}/${i}/id`, action.id, 'action id');
    if (seen.has(action.id)) throw invalid(`${path}/${i}/id`, `duplicates action id "${action.id}"`);
    seen.add(action.id);
    if (action.features !== undefined) budget.features(() => `${path}/${i}/features`, action.features);
    return action;
  });
}
