import type { ActionInput, Features } from '../bandit/index.js';
import { ConflictError, ValidationError } from '../http/errors.js';
import type { Limits } from '../platform/config.js';
import { newEventId } from '../platform/ids.js';
import type { DecisionMetrics } from './decision-metrics.js';
import { encodeDecisionPayload, type DecisionPayload } from './decision-store.js';
import { httpError, type DecisionsWriter } from './decisions-writer.js';
import { asValidation, DEFAULT_MODEL, type ModelRegistry } from './model-registry.js';
import { checkActions, FeatureBudget } from './request-limits.js';

export interface DecideInput {
  model?: string;
  context?: Features;
  actions?: (string | ActionInput)[];
  eventId?: string;
}

export interface DecideResult {
  eventId: string;
  model: string;
  action: string;
  probability: number;
  ranking: { id: string; probability: number }[];
  strategy: string;
}

/**
 * One decision: the request's limits, the engine's choice (BanditModel.decide: PMF, the action drawn from it,
 * its probability), then the log row, committed before the answer. The reward window opens at the commit's
 * `createdAt` and closes `reward.waitSeconds` later (the rules: reward-rules.ts).
 */
export async function decide(
  deps: { registry: ModelRegistry; writer: DecisionsWriter; limits: Limits; metrics: DecisionMetrics },
  input: DecideInput,
  requestJson?: string,
): Promise<DecideResult> {
  const { registry, limits, metrics } = deps;
  const writer = deps.writer.accepting();
  const name = input.model ?? DEFAULT_MODEL;
  const entry = registry.entry(name);
  const budget: FeatureBudget = new FeatureBudget(limits);
  const context = input.context ?? {};
  budget.features('/context', context);
  let actions: ActionInput[];
  if (input.actions) actions = checkActions(input.actions, budget, limits);
  else if (entry.config.actions) actions = checkActions(entry.config.actions, budget, limits);
  else throw new ValidationError(`actions is required: model "${name}" has no fixed actions list`, [{ path: '/actions', message: 'is required' }]);
  // Only a client's id counts against FOCAL_MAX_STRING_LENGTH: a generated UUID must fit whatever the limit.
  if (input.eventId !== undefined) budget.string('/eventId', input.eventId, 'eventId');
  const eventId = input.eventId ?? newEventId();

  const d = asValidation(() => entry.bandit.decide(context, actions, eventId));
  const strategy = entry.config.strategy.name;
  const payload: DecisionPayload = {
    context, actions, pmf: d.pmf, scores: d.scores, chosen: d.chosen, probability: d.probability,
    modelVersion: entry.version, strategy,
  };
  const now = Date.now();
  const r = await writer.submit({
    op: 'decision', eventId, model: name, createdAt: now,
    deadlineAt: now + Math.round(entry.config.reward.waitSeconds * 1000), payload: encodeDecisionPayload(payload, requestJson, input.actions !== undefined),
  });
  if (r.problem) throw httpError(r);
  if (!r.inserted) throw new ConflictError(`eventId "${eventId}" is already in use`, { eventId });
  registry.get(name)?.counters.decided();
  metrics.decisions.inc({ model: name, strategy });

  const order = actions.map((_, i) => i).sort((a, b) => (d.pmf[b]! - d.pmf[a]!) || (d.scores[b]! - d.scores[a]!) || a - b);
  return {
    eventId, model: name, action: actions[d.chosen]!.id, probability: d.probability,
    ranking: order.map((i) => ({ id: actions[i]!.id, probability: d.pmf[i]! })),
    strategy,
  };
}
