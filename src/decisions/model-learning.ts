import { SnapshotFormatError, type BanditModel } from '../bandit/index.js';
import type { Logger } from '../platform/logger.js';
import type { Db } from '../store/database.js';
import type { StoredPayload } from '../store/payload-codec.js';
import type { DecisionMetrics } from './decision-metrics.js';
import { decodeDecisionPayload, type DecisionStore } from './decision-store.js';
import type { ModelConfig } from './model-config.js';
import { ModelCounters } from './model-counters.js';
import { DEFAULT_MODEL, type ModelEntry, type ModelRegistry } from './model-registry.js';
import type { Learn, OpResult } from './op-result.js';

/**
 * How a model's learned state moves: only by folding rows of the reward log, in `rewards.seq` order, through
 * `fold`. Live learning (a committed op's effects) and start-up replay (snapshot + the rows after it) both
 * come here, which is what makes replay equal live.
 */
export class ModelLearning {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly store: DecisionStore,
    private readonly db: Db,
    private readonly metrics: DecisionMetrics,
    private readonly logger: Logger,
  ) {}

  /** Loads every model (latest snapshot + replay of the rewards after it) and creates `default` if missing. */
  restore(): void {
    for (const row of this.store.models()) {
      const config = JSON.parse(row.config) as ModelConfig;
      let snap = this.store.snapshot(row.name, row.version);
      if (!snap) this.logger.warn({ model: row.name, version: row.version }, 'no snapshot for the current version: replaying the whole reward log');
      let bandit: BanditModel;
      try {
        bandit = this.registry.build(config, snap ? new Uint8Array(snap.state) : undefined);
      } catch (err) {
        // A snapshot this version cannot read (a learner whose state format changed, e.g. bayes-linear's
        // per-action posteriors) is rebuilt from the events still in the log rather than stopping start-up.
        if (!(err instanceof SnapshotFormatError)) throw err;
        this.logger.warn({ model: row.name, version: row.version, err: err.message }, 'snapshot in an older format: rebuilding the model from the events kept in the log');
        snap = undefined;
        bandit = this.registry.build(config);
      }
      const entry: ModelEntry = {
        name: row.name, config, version: row.version, createdAt: row.created_at, updatedAt: row.updated_at,
        bandit, lastSeq: snap?.reward_seq ?? 0, snapshotSeq: snap?.reward_seq ?? 0,
        counters: ModelCounters.from(this.store.stats(row.name, row.created_at), this.store.apprenticeStats(row.name, row.created_at)),
      };
      let replayed = 0;
      let failed = 0;
      for (const r of this.store.replay(row.name, entry.lastSeq)) {
        if (!this.fold(entry, r.seq, r.eventId, r.payload, r.reward)) failed++;
        replayed++;
      }
      this.registry.set(entry);
      this.logger.info({ model: row.name, version: row.version, snapshotSeq: entry.snapshotSeq, replayed, failed, updates: bandit.updates }, 'bandit model loaded');
    }
    if (!this.registry.has(DEFAULT_MODEL)) {
      const config = this.registry.resolve({});
      const bandit = this.registry.build(config);
      const now = Date.now();
      const entry: ModelEntry = {
        name: DEFAULT_MODEL, config, version: 1, createdAt: now, updatedAt: now, bandit, lastSeq: 0, snapshotSeq: 0, counters: new ModelCounters(),
      };
      this.db.transaction(() => {
        entry.lastSeq = entry.snapshotSeq = this.store.maxRewardSeq();
        this.store.insertModel(DEFAULT_MODEL, JSON.stringify(config), 1, now);
        this.store.writeSnapshot(DEFAULT_MODEL, 1, entry.lastSeq, bandit.snapshot(), now);
      })();
      this.registry.set(entry);
    }
  }

  /** Folds a committed op's rewards into memory and metrics. Never throws: the op is durable, its caller gets its answer. */
  applyEffects(r: OpResult): void {
    if (r.counted) {
      this.registry.get(r.counted.model)?.counters.rewarded();
      this.metrics.rewards.inc({ model: r.counted.model });
      this.metrics.rewardSum.inc({ model: r.counted.model }, r.counted.reward);
    }
    for (const l of r.learns ?? []) {
      if (l.source === 'default') this.metrics.defaultRewards.inc({ model: l.model });
      // An activation learns a reward whose event closed (and was counted) before it.
      if (l.source !== 'activated') this.registry.get(l.model)?.counters.closed(l);
      if (!l.held) this.learn(l);
    }
  }

  /** Folds one logged reward into the live model, unless that model's state already starts after it. */
  private learn(l: Learn): void {
    const entry = this.registry.get(l.model);
    if (!entry || l.seq <= entry.lastSeq) return;
    const end = this.metrics.updateDuration.startTimer({ model: l.model });
    const ok = this.fold(entry, l.seq, l.eventId, l.payload, l.reward);
    end();
    if (ok) this.metrics.updates.inc({ model: l.model });
  }

  /**
   * Learns one row of the reward log; live and replay both come here, so they treat a failing row alike. A
   * learning step that throws (after the commit: the reward stands) is logged with its event id and counted,
   * and the model moves past it: `lastSeq` advances, later rows are learned, and replay of the same log meets
   * the same failure and does the same, so the model stays the one the log rebuilds (the engine is
   * deterministic given its state and the event). False when the step failed.
   */
  private fold(entry: ModelEntry, seq: number, eventId: string, payload: StoredPayload, reward: number): boolean {
    let ok = true;
    try {
      const p = decodeDecisionPayload(payload);
      entry.bandit.learn({ context: p.context, actions: p.actions, chosen: p.chosen, probability: p.probability, reward, eventId });
    } catch (err) {
      ok = false;
      this.metrics.learningErrors.inc({ model: entry.name });
      this.logger.error({ err, model: entry.name, eventId, seq }, 'learning from a logged reward failed; the reward stands and the model moves past it (replay does the same)');
    }
    entry.lastSeq = seq;
    return ok;
  }
}
