import type { Capability, CapabilityContext, CapabilityFactory } from '../capability.js';
import { DECISIONS_SERVICES } from '../decisions/index.js';
import { PersonalizerEvaluations } from './evaluations.js';
import { PersonalizerService } from './personalizer-service.js';
import { personalizerRoutes } from './routes.js';

export { PersonalizerService } from './personalizer-service.js';

/**
 * Azure Personalizer's REST API as a thin layer over the decisions slice (mounted after it): one Focal model,
 * FOCAL_PERSONALIZER_MODEL (`personalizer`), ranks, learns and is configured through Personalizer's operations.
 * No second engine: every decision, reward and configuration goes through the decisions service, every
 * evaluation is one of its evaluation jobs.
 */
export const createPersonalizerCapability: CapabilityFactory = (ctx: CapabilityContext): Capability => {
  const { decisions, evaluations, retention } = ctx.services.need(DECISIONS_SERVICES, 'the Personalizer capability');
  const service = new PersonalizerService(ctx.config.personalizerModel, decisions, ctx.db, ctx.config.logRetentionMs, retention);
  return {
    name: 'personalizer',
    routes: personalizerRoutes(service, new PersonalizerEvaluations(service, decisions, evaluations, ctx.db)),
    isReady: () => decisions.isReady,
    close: async () => {},
  };
};
