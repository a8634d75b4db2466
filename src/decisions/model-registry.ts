import type * as engine from '../bandit/index.js';
import { BanditConfigError, BanditInputError, type BanditModel } from '../bandit/index.js';
import { NotFoundError, ValidationError } from '../http/errors.js';
import type { ModelConfig, ModelConfigInput } from './model-config.js';
import { resolveModelConfig } from './model-config.js';
import type { ModelCounters } from './model-counters.js';

/** The engine entry points the service uses; injectable so tests can count or fail them. */
export type BanditEngine = Pick<typeof engine, 'createBanditModel' | 'normalizeBanditConfig' | 'offPolicyEstimate'>;

export const DEFAULT_MODEL = 'default';

/** What a model may be called: it appears in paths (/models/{name}) and metric labels. */
export const MODEL_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

/** A model in memory: configuration, learned state and how far into the reward log that state reaches. */
export interface ModelEntry {
  name: string;
  config: ModelConfig;
  version: number;
  createdAt: number;
  updatedAt: number;
  bandit: BanditModel;
  /** Last rewards.seq folded into `bandit`: a snapshot stores it, replay starts after it. */
  lastSeq: number;
  /** `lastSeq` at the last snapshot: unchanged means nothing to snapshot. */
  snapshotSeq: number;
  /** Statistics kept up to date by committed results (GET /models reads these, not the tables). */
  counters: ModelCounters;
  fingerprint?: { key: string; value: string };
}

/**
 * The bandit models in memory by name, and how a configuration becomes one: resolved against the defaults and
 * built by the engine, whose own checks come back as 400s. Who changes the map: model-learning.ts (load at
 * start), model-admin.ts (put, delete).
 */
export class ModelRegistry {
  private readonly models = new Map<string, ModelEntry>();

  constructor(private readonly engine: BanditEngine) {}

  build(config: ModelConfig, snapshot?: Uint8Array): BanditModel {
    return asValidation(() => this.engine.createBanditModel({ strategy: config.strategy, learner: config.learner }, snapshot));
  }

  resolve(input: ModelConfigInput): ModelConfig {
    return asValidation(() => resolveModelConfig(input, (c) => this.engine.normalizeBanditConfig(c)));
  }

  /** The model, or a 404. */
  entry(name: string): ModelEntry {
    const e = this.models.get(name);
    if (!e) throw new NotFoundError(`No bandit model named "${name}"`);
    return e;
  }

  get(name: string): ModelEntry | undefined {
    return this.models.get(name);
  }

  has(name: string): boolean {
    return this.models.has(name);
  }

  set(entry: ModelEntry): void {
    this.models.set(entry.name, entry);
  }

  remove(name: string): void {
    this.models.delete(name);
  }

  names(): string[] {
    return [...this.models.keys()].sort();
  }

  all(): IterableIterator<ModelEntry> {
    return this.models.values();
  }
}

/** The engine's own checks (config, input) become 400s naming the field. */
export function asValidation<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BanditConfigError || err instanceof BanditInputError) {
      const where = err.path.split('/').slice(1).join('.');
      throw new ValidationError(where ? `${where} ${err.message}` : err.message, [{ path: err.path, message: err.message }]);
    }
    throw err;
  }
}
