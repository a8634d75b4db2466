import type { ActionInput, Features } from '../bandit/index.js';
import { PayloadTooLargeError, ValidationError } from '../http/errors.js';
import type { Limits } from '../platform/config.js';
import { normalizeAction } from './decision-store.js';
import { MAX_MAGNITUDE } from './model-config.js';

/** Namespaces nest; deeper than this is hostile rather than useful. */
export const MAX_NAMESPACE_DEPTH = 8;

/** Keys that would reach Object.prototype if anything ever merged features naively. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

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

  /** Validates a feature object recursively: finite bounded numbers, strings, booleans, namespaces. */
  features(path: string, value: unknown, depth = 1): asserts value is Features {
    // The JSON Pointer of a key is only built on error: this runs for every feature of every request.
    const at = (key: string) => `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(path, 'must be an object of features');
    if (depth > MAX_NAMESPACE_DEPTH) throw invalid(path, `nests namespaces deeper than ${MAX_NAMESPACE_DEPTH}`);
    const max = this.limits.stringLength;
    for (const key in value) {
      if (key.length === 0) throw invalid(at(key), 'feature names must not be empty');
      if (key.length > max) this.string(at(key), key, 'feature name');
      if (FORBIDDEN_KEYS.has(key)) throw invalid(at(key), `"${key}" is a reserved name`);
      if (hasControl(key)) throw invalid(at(key), 'feature names must not contain control characters');
      const v = (value as Record<string, unknown>)[key];
      switch (typeof v) {
        case 'number':
          if (!(Math.abs(v) <= MAX_MAGNITUDE)) throw invalid(at(key), `must be a finite number within ±${MAX_MAGNITUDE}`);
          this.add();
          break;
        case 'boolean':
          this.add();
          break;
        case 'string':
          if (v.length > max) this.string(at(key), v, 'feature value');
          this.add();
          break;
        case 'object':
          if (v === null || Array.isArray(v)) throw invalid(at(key), 'must be a number, string, boolean or namespace object');
          this.features(at(key), v, depth + 1);
          break;
        default:
          throw invalid(at(key), 'must be a number, string, boolean or namespace object');
      }
    }
  }

  private add(): void {
    if (++this.count > this.limits.featuresPerRequest) {
      throw new PayloadTooLargeError(`The request has more than ${this.limits.featuresPerRequest} features (FOCAL_MAX_FEATURES)`,
        'FOCAL_MAX_FEATURES', this.limits.featuresPerRequest);
    }
  }
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
    budget.string(`${path}/${i}/id`, action.id, 'action id');
    if (seen.has(action.id)) throw invalid(`${path}/${i}/id`, `duplicates action id "${action.id}"`);
    seen.add(action.id);
    if (action.features !== undefined) budget.features(`${path}/${i}/features`, action.features);
    return action;
  });
}
