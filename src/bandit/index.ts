/**
 * Public entry of the bandit engine. (Contract placeholder: the engine helper
 * replaces these bodies with the real implementation; signatures are fixed.)
 */
import type { BanditConfig, BanditModel } from './types.js';

export * from './types.js';

/** Thrown for a configuration the engine cannot build (unknown name, parameter out of range). */
export class BanditConfigError extends Error {
  /** JSON Pointer of the offending field inside the config, e.g. /strategy/epsilon. */
  constructor(readonly path: string, message: string) {
    super(message);
    this.name = 'BanditConfigError';
  }
}

/** The configuration a bare PUT /models/{name} gets: the benchmark's best sound default. */
export function defaultBanditConfig(): BanditConfig {
  throw new Error('not implemented yet');
}

/** Builds a model from config (throws BanditConfigError), restoring learned state from a snapshot if given. */
export function createBanditModel(_config: BanditConfig, _snapshot?: Uint8Array): BanditModel {
  throw new Error('not implemented yet');
}

export interface OffPolicyRecord {
  /** Probability the logging policy gave the logged action. */
  loggedProbability: number;
  /** Probability the evaluated policy gives the logged action. */
  targetProbability: number;
  reward: number;
  /** Optional: the evaluated policy's expected reward under the learner's model (for DR). */
  targetPredicted?: number;
  /** Optional: the learner's predicted reward of the logged action (for DR). */
  loggedPredicted?: number;
}

export interface OffPolicyEstimate {
  n: number;
  ips: number;
  snips: number;
  /** Doubly robust, when predictions were supplied. */
  dr?: number;
  /** Effective sample size of the importance weights. */
  effectiveSampleSize: number;
}

/** IPS / SNIPS / DR estimates of a target policy's value from logged events (Open Bandit Pipeline-style). */
export function offPolicyEstimate(_records: readonly OffPolicyRecord[]): OffPolicyEstimate {
  throw new Error('not implemented yet');
}
