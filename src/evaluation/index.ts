import type { DecisionService } from '../decisions/decision-service.js';
import type { AnyRoute } from '../http/route.js';
import type { Config } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { Db } from '../store/database.js';
import { evaluationRoutes } from './evaluation-routes.js';
import { EvaluationService } from './evaluation-service.js';
import { logRoutes } from './log-routes.js';

export { EvaluationService } from './evaluation-service.js';

export interface EvaluationSlice {
  service: EvaluationService;
  routes: AnyRoute[];
  close(): Promise<void>;
}

/**
 * Offline evaluation of bandit models (mounted by the decisions capability, whose
 * models and log it reads): /models/{name}/evaluations, and the log's export and import, /models/{name}/log.
 */
export function evaluationSlice(deps: { db: Db; config: Config; decisions: DecisionService; logger: Logger; metrics: Metrics }): EvaluationSlice {
  const service = new EvaluationService(deps.db, deps.decisions, deps.logger.child({ capability: 'evaluation' }), deps.metrics);
  service.start();
  return { service, routes: [...evaluationRoutes(service, deps.decisions), ...logRoutes(deps.decisions, deps.config)], close: () => service.close() };
}
