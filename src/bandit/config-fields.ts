/** Small helpers for the factories' own validation of numeric parameters. */
import { BanditConfigError } from './errors.js';

export type RawConfig = Readonly<Record<string, unknown>>;

export interface NumberRule {
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  max?: number;
  integer?: boolean;
}

/** Reads an optional numeric field, applying its default and checking its range. */
export function numberField(raw: RawConfig, key: string, fallback: number, path: string, rule: NumberRule): number {
  const v = Object.prototype.hasOwnProperty.call(raw, key) ? raw[key] : undefined;
  if (v === undefined) return fallback;
  const at = `${path}/${key}`;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BanditConfigError(at, `${key} must be a finite number`);
  if (rule.integer && !Number.isInteger(v)) throw new BanditConfigError(at, `${key} must be an integer`);
  if (rule.min !== undefined && v < rule.min) throw new BanditConfigError(at, `${key} must be >= ${rule.min}`);
  if (rule.above !== undefined && v <= rule.above) throw new BanditConfigError(at, `${key} must be > ${rule.above}`);
  if (rule.max !== undefined && v > rule.max) throw new BanditConfigError(at, `${key} must be <= ${rule.max}`);
  return v;
}

export function booleanField(raw: RawConfig, key: string, fallback: boolean, path: string): boolean {
  const v = Object.prototype.hasOwnProperty.call(raw, key) ? raw[key] : undefined;
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new BanditConfigError(`${path}/${key}`, `${key} must be a boolean`);
  return v;
}

/** Interactions: a list of namespace-name lists, each of length ≥ 2. */
export function interactionsField(raw: RawConfig, path: string): string[][] | undefined {
  const v = Object.prototype.hasOwnProperty.call(raw, 'interactions') ? raw['interactions'] : undefined;
  if (v === undefined) return undefined;
  const at = `${path}/interactions`;
  if (!Array.isArray(v)) throw new BanditConfigError(at, 'interactions must be an array of namespace lists');
  return v.map((term: unknown, i) => {
    if (!Array.isArray(term) || term.length < 2 || term.length > 3 || !term.every((n) => typeof n === 'string' && n.length > 0)) {
      throw new BanditConfigError(`${at}/${i}`, 'each interaction is a list of 2 or 3 namespace names');
    }
    return [...(term as string[])];
  });
}

/** A list of namespace names (e.g. ignoreLinear). */
export function namesField(raw: RawConfig, key: string, path: string): string[] | undefined {
  const v = Object.prototype.hasOwnProperty.call(raw, key) ? raw[key] : undefined;
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((n) => typeof n === 'string' && n.length > 0)) {
    throw new BanditConfigError(`${path}/${key}`, `${key} must be a list of namespace names`);
  }
  return [...(v as string[])];
}
