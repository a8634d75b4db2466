import { serviceKey, type Capability, type CapabilityContext, type CapabilityFactory } from '../capability.js';
import * as engine from '../bandit/index.js';
import { storageHealth } from '../store/storage-health.js';
import { createDecisionMetrics } from './decision-metrics.js';
import { DecisionService, type BanditEngine } from './decision-service.js';
import { decideRoutes } from './decide-route.js';
import { modelRoutes } from './model-routes.js';
import { rewardRoutes } from './reward-route.js';
import { timeseriesRoutes } from './timeseries.js';
import { eventRoutes } from './event-routes.js';
import { LogRetention, registerLogMetrics, type RetentionOptions } from './retention.js';
import { evaluationSlice, type EvaluationService } from '../evaluation/index.js';

export { DecisionService } from './decision-service.js';

/** What the decisions slice provides to the capabilities mounted after it (the Personalizer adapter). */
export interface DecisionsServices {
  decisions: DecisionService;
  evaluations: EvaluationService;
  retention: LogRetention;
}

export const DECISIONS_SERVICES = serviceKey<DecisionsServices>('decisions');

/** A window closes at most this long after its deadline (plus the time to close the ones before it). */
export const DEFAULT_SWEEP_INTERVAL_MS = 100;

export interface DecisionsOptions {
  /** How often expired reward windows are looked for (each sweep closes all that are due); default 100 ms. */
  sweepIntervalMs?: number;
  /** Log retention's pace (retention.ts): how often a pass starts, batch size. */
  retention?: RetentionOptions;
  /** The bandit engine; tests may wrap it. */
  engine?: BanditEngine;
  /** Receives the service (tests and benchmarks reach into it). */
  onService?: (service: DecisionService) => void;
}

/**
 * The contextual-bandit slice: /models, /decide, /reward.
 *
 * - Durability: every decision and reward is committed (fsync) before its
 *   response; concurrent writes share one commit on a writer thread
 *   (write-executor.ts, committed through src/store/group-commit.ts).
 * - Learning: a reward is folded into the model after its commit, in
 *   reward-log order. `first` learns the first reward and closes the event;
 *   `sum` adds rewards up and learns the total when the window closes; an
 *   empty window learns the model's default reward (sweeper, or at reward time).
 * - Restart: every snapshot records the last reward-log seq it folds in; on
 *   start the latest snapshot of each model's current version is loaded and
 *   the learned rewards after it replayed, so a SIGKILL loses nothing
 *   acknowledged and the model comes back bit for bit.
 * - Reconfiguration: a new strategy or learner resets learned state; other
 *   changes keep it; any change bumps the version. DELETE removes a model
 *   (closing its open events); DELETE of `default` resets it instead.
 */
export function decisionsCapability(options: DecisionsOptions = {}): CapabilityFactory {
  return (ctx: CapabilityContext): Capability => {
    const { db, config, logger } = ctx;
    const metrics = createDecisionMetrics(ctx.metrics, () => service.pendingByModel(), () => service.optimizerByModel());
    const service = new DecisionService(db, config, logger.child({ capability: 'decisions' }), metrics, options.engine ?? engine);
    service.start();
    options.onService?.(service);
    const evaluation = evaluationSlice({ db, config, decisions: service, logger, metrics: ctx.metrics });
    registerLogMetrics(() => service.logCounts(), ctx.metrics);
    const retention = new LogRetention(service, config, logger.child({ capability: 'decisions' }), ctx.metrics, options.retention);
    // On PostgreSQL the periodic passes run on the replica holding the sweep lock (RetentionHost.leads).
    retention.start();
    ctx.services.provide(DECISIONS_SERVICES, { decisions: service, evaluations: evaluation.service, retention });

    const report = (what: string) => (err: unknown) => { if (!storageHealth(db)?.failed(err)) logger.error({ err }, `decisions: ${what} failed`); };
    const sweeper = setInterval(() => { service.sweep().catch(report('sweep')); }, options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
    const snapshotter = setInterval(() => { service.snapshot().catch(report('snapshot')); }, config.snapshotIntervalSeconds * 1000);
    sweeper.unref();
    snapshotter.unref();

    return {
      name: 'decisions',
      // Hot routes first: express tries them in this order.
      routes: [...decideRoutes(service), ...rewardRoutes(service, config.limits, ctx.feedback), ...modelRoutes(service), ...timeseriesRoutes(db, service), ...eventRoutes(service), ...evaluation.routes],
      isReady: () => service.isReady,
      close: async () => {
        retention.stop();
        clearInterval(sweeper);
        clearInterval(snapshotter);
        await evaluation.close();
        await service.close();
      },
    };
  };
}

export const createDecisionsCapability: CapabilityFactory = decisionsCapability();
