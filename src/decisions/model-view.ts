import { createHash } from 'node:crypto';
import type { OffPolicyEstimate, OptimizerStatus } from '../bandit/index.js';
import type { Config } from '../platform/config.js';
import type { ModelStats } from './decision-store.js';
import { learningMode, type ModelConfig } from './model-config.js';
import type { ModelEntry } from './model-registry.js';
import type { ReplicaLag } from './log-follower.js';
import type { OffPolicyWindow } from './off-policy-window.js';
import { logStatsOf, type LogCount, type LogStats } from './retention.js';

/** A model as GET /models/{name} shows it. */
export interface ModelView {
  name: string;
  version: number;
  config: ModelConfig;
  createdAt: string;
  updatedAt: string;
  stats: ModelStats & {
    meanReward: number | null; updates: number; rewardSeq: number; fingerprint: string; replica?: ReplicaLag; log: LogStats;
    /** Apprentice mode: decisions made in it, how many of them the model's own draw matched the baseline, and their share. */
    apprentice?: { events: number; imitated: number; imitationRate: number | null };
  };
  offPolicy: OffPolicyEstimate | null;
  /** Automatic optimization's choices and estimates (strategy auto only). */
  optimizer?: OptimizerStatus;
}

/**
 * No table is read for the statistics: they are the model's counters (model-counters.ts) and its log's counts
 * (`log`: retention.ts's, or the shared database's refreshed in the background on PostgreSQL); the fingerprint is
 * cached until the state moves and the off-policy estimates are computed in the background (off-policy-window.ts).
 */
export function modelView(e: ModelEntry, log: LogCount | undefined, config: Config, estimates: OffPolicyWindow, replica?: ReplicaLag): ModelView {
  const stats = e.counters.snapshot();
  const decided = stats.rewardedEvents;
  return {
    name: e.name,
    version: e.version,
    config: e.config,
    createdAt: new Date(e.createdAt).toISOString(),
    updatedAt: new Date(e.updatedAt).toISOString(),
    stats: {
      ...stats,
      meanReward: decided > 0 ? stats.rewardTotal / decided : null,
      updates: e.bandit.updates,
      rewardSeq: e.lastSeq,
      fingerprint: fingerprint(e),
      ...(replica ? { replica } : {}),
      log: logStatsOf(log, e.config, config.logRetentionMs),
      ...(learningMode(e.config) === 'apprentice' ? { apprentice: apprenticeStats(e) } : {}),
    },
    offPolicy: estimates.get(e),
    ...(e.bandit.optimizerStatus ? { optimizer: e.bandit.optimizerStatus() } : {}),
  };
}

function apprenticeStats(e: ModelEntry): { events: number; imitated: number; imitationRate: number | null } {
  const { events, imitated } = e.counters.apprentice;
  return { events, imitated, imitationRate: events > 0 ? imitated / events : null };
}

/** sha256 of the learned state, cached until the state moves (serialising a large table is not free). */
function fingerprint(e: ModelEntry): string {
  const key = `${e.version}:${e.lastSeq}:${e.bandit.updates}`;
  if (e.fingerprint?.key !== key) e.fingerprint = { key, value: createHash('sha256').update(e.bandit.snapshot()).digest('hex') };
  return e.fingerprint.value;
}
