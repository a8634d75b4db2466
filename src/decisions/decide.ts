import type { ActionInput, Features } from '../bandit/index.js';
import { decideAmong, resolveExclusions } from './exclusions.js';
import { ConflictError, ValidationError } from '../http/errors.js';
import type { Limits } from '../platform/config.js';
import { newEventId } from '../platform/ids.js';
import type { DecisionMetrics } from './decision-metrics.js';
import { encodeDecisionPayload, HOLD_DEFERRED, HOLD_NEVER, HOLD_NONE, type DecisionPayload } from './decision-store.js';
import { httpError, type DecisionsWriter } from './decisions-writer.js';
import { ACTION_ID_PATTERN, actionSchema, featuresSchema, learningMode, type LearningMode } from './model-config.js';
import { asValidation, DEFAULT_MODEL, MODEL_NAME_PATTERN, type ModelEntry, type ModelRegistry } from './model-registry.js';
import { checkActions, FeatureBudget } from './request-limits.js';
import type { FromSchemaAsSent } from '../schema-types.js';

/** Printable ASCII without spaces: event ids travel in logs, URLs and other systems' keys. */
export const EVENT_ID_PATTERN = '^[!-~]+$';

/** POST /decide's body (decide-route.ts validates with it; DecideInput and DecideSlotsInput are derived from it). */
export const decideBodySchema = {
  type: 'object', additionalProperties: false,
  properties: {
    model: { type: 'string', pattern: MODEL_NAME_PATTERN, default: DEFAULT_MODEL, description: 'Which model decides.' },
    context: featuresSchema(),
    actions: { type: 'array', items: actionSchema, description: 'Candidates: ids or {id, features}; unique ids. Omit to use the model\'s fixed actions.' },
    eventId: { type: 'string', minLength: 1, pattern: EVENT_ID_PATTERN, description: 'Client-chosen id (a UUID is generated when absent); reusing one is a 409.' },
    excludedActions: {
      type: 'array', items: { type: 'string', minLength: 1, pattern: ACTION_ID_PATTERN },
      description: 'Ids of actions that must not be chosen: listed in the ranking with probability 0; the PMF over the others sums to 1.',
    },
    defer: {
      type: 'boolean',
      description: 'Log the decision but learn nothing from it (and apply no default reward) until POST /events/{eventId}/activate.',
    },
    baseline: {
      type: 'string', minLength: 1, pattern: ACTION_ID_PATTERN,
      description: 'The baseline action (answered in apprentice and logging modes; the baseline policy of evaluations). Default: the first action not excluded.',
    },
    slots: {
      type: 'array', minItems: 1,
      description: 'A multi-slot decision: one distinct action per slot, filled in order (each slot is logged as the decision "{eventId}#{slot id}" and rewarded on its own). '
        + 'The slot\'s features join the context as the namespace _slot (with its id). excludedActions then applies to every slot; baseline is per slot.',
      items: {
        type: 'object', required: ['id'], additionalProperties: false,
        properties: {
          id: { type: 'string', minLength: 1, pattern: EVENT_ID_PATTERN, description: 'The slot\'s id, unique in the request.' },
          features: featuresSchema(),
          baseline: { type: 'string', minLength: 1, pattern: ACTION_ID_PATTERN, description: 'The slot\'s baseline action (distinct across slots); default: the first action left.' },
          excludedActions: { type: 'array', items: { type: 'string', minLength: 1, pattern: ACTION_ID_PATTERN }, description: 'Actions this slot must not take.' },
        },
      },
    },
  },
} as const;

/** One decision as a caller sends it (the route's body without `slots`: multi-slot requests go to decideSlots, slots.ts). */
export type DecideInput = Omit<FromSchemaAsSent<typeof decideBodySchema>, 'slots'>;

export interface RankedAction {
  id: string;
  probability: number;
}

export interface DecideResult {
  eventId: string;
  model: string;
  action: string;
  probability: number;
  ranking: RankedAction[];
  strategy: string;
  /** Present in apprentice and logging modes, which answer the baseline: the mode and what the model itself drew. */
  mode?: LearningMode;
  modelChoice?: { action: string; probability: number; ranking: RankedAction[] };
  /** Present (true) when the decision waits for activation (not in logging mode, which never learns). */
  deferred?: true;
}

export interface DecideDeps {
  registry: ModelRegistry;
  writer: DecisionsWriter;
  limits: Limits;
  metrics: DecisionMetrics;
}

/** One choice among `actions`: the log payload's decision part and the answer, before anything is written. */
export interface Choice {
  payload: DecisionPayload;
  answer: Pick<DecideResult, 'action' | 'probability' | 'ranking' | 'mode' | 'modelChoice'>;
  /** Apprentice mode: whether the model's own draw was the baseline; null in other modes. */
  imitated: boolean | null;
}

/**
 * The engine's choice among the actions that are not excluded, in the model's mode. The engine sees only the
 * allowed actions, so its PMF over them is exact and sums to 1; excluded actions get probability 0 in the log
 * and the ranking. Online, the drawn action is answered with its probability. Apprentice and logging modes
 * answer the baseline with probability 1 (it was not drawn) and log the model's PMF and draw beside it, so the
 * model learns (apprentice) from what was shown and evaluations can weigh the model's policy on these events.
 */
export function choose(entry: ModelEntry, context: Features, actions: ActionInput[], excluded: ReadonlySet<number>, baseline: number, eventId: string): Choice {
  const d = asValidation(() => decideAmong(entry.bandit, context, actions, excluded, eventId));
  const strategy = entry.config.strategy.name;
  const mode = learningMode(entry.config);
  const ranking = rank(actions, d.pmf, d.scores, excluded);
  const payload: DecisionPayload = {
    context, actions, pmf: d.pmf, scores: d.scores, chosen: d.chosen, probability: d.probability,
    modelVersion: entry.version, strategy,
  };
  if (baseline !== 0 || excluded.size > 0 || mode !== 'online') payload.baseline = actions[baseline]!.id;
  if (excluded.size > 0) payload.excluded = [...excluded].sort((a, b) => a - b);
  if (mode === 'online') {
    return { payload, answer: { action: actions[d.chosen]!.id, probability: d.probability, ranking }, imitated: null };
  }
  payload.mode = mode;
  payload.modelChoice = d.chosen;
  payload.chosen = baseline;
  payload.probability = 1;
  const served = actions.map((a, i) => ({ id: a.id, probability: i === baseline ? 1 : 0 }));
  served.unshift(...served.splice(baseline, 1));
  return {
    payload,
    answer: {
      action: actions[baseline]!.id, probability: 1, ranking: served, mode,
      modelChoice: { action: actions[d.chosen]!.id, probability: d.probability, ranking },
    },
    imitated: mode === 'apprentice' ? d.chosen === baseline : null,
  };
}

/** Every action with its probability, best first (ties by score, then request order); excluded actions last. */
function rank(actions: ActionInput[], pmf: number[], scores: number[], excluded: ReadonlySet<number>): RankedAction[] {
  const byPmf = (a: number, b: number) => (pmf[b]! - pmf[a]!) || (scores[b]! - scores[a]!) || a - b;
  const order = actions.map((_, i) => i)
    .sort(excluded.size === 0 ? byPmf : (a, b) => (Number(excluded.has(a)) - Number(excluded.has(b))) || byPmf(a, b));
  return order.map((i) => ({ id: actions[i]!.id, probability: pmf[i]! }));
}

/** How a decision's rewards are held (events.hold): logging mode never learns, `defer` waits for activation. */
export function holdOf(mode: LearningMode, defer: boolean | undefined): number {
  if (mode === 'logging') return HOLD_NEVER;
  return defer ? HOLD_DEFERRED : HOLD_NONE;
}

/** The request's actions (or the model's fixed list), checked against the request limits. */
function requestActions(entry: ModelEntry, given: (string | ActionInput)[] | undefined, budget: FeatureBudget, limits: Limits): ActionInput[] {
  if (given) return checkActions(given, budget, limits);
  if (entry.config.actions) return checkActions(entry.config.actions, budget, limits);
  throw new ValidationError(`actions is required: model "${entry.name}" has no fixed actions list`, [{ path: '/actions', message: 'is required' }]);
}

export interface DecisionRequest {
  name: string;
  entry: ModelEntry;
  budget: FeatureBudget;
  context: Features;
  actions: ActionInput[];
}

/**
 * What a single and a multi-slot decision read first, in this order: the model, the context and the actions
 * against the request limits, and a client's event id (only a client's id counts against
 * FOCAL_MAX_STRING_LENGTH: a generated UUID must fit whatever the limit). The budget goes on to the slots.
 */
export function readDecisionRequest(deps: DecideDeps, input: Pick<DecideInput, 'model' | 'context' | 'actions' | 'eventId'>): DecisionRequest {
  const name = input.model ?? DEFAULT_MODEL;
  const entry = deps.registry.entry(name);
  const budget: FeatureBudget = new FeatureBudget(deps.limits);
  const context = input.context ?? {};
  budget.features('/context', context);
  const actions = requestActions(entry, input.actions, budget, deps.limits);
  if (input.eventId !== undefined) budget.string('/eventId', input.eventId, 'eventId');
  return { name, entry, budget, context, actions };
}

/**
 * One decision: the request's limits, the engine's choice (BanditModel.decide: PMF, the action drawn from it,
 * its probability) in the model's mode, then the log row, committed before the answer. The reward window opens
 * at the commit's `createdAt` and closes `reward.waitSeconds` later (the rules: reward-rules.ts).
 */
export async function decide(deps: DecideDeps, input: DecideInput, requestJson?: string): Promise<DecideResult> {
  const { registry, metrics } = deps;
  const writer = deps.writer.accepting();
  const { name, entry, context, actions } = readDecisionRequest(deps, input);
  const { excluded, baseline } = resolveExclusions(actions, input.excludedActions, input.baseline);
  const eventId = input.eventId ?? newEventId();

  const c = choose(entry, context, actions, excluded, baseline, eventId);
  const mode = learningMode(entry.config);
  const hold = holdOf(mode, input.defer);
  const strategy = entry.config.strategy.name;
  const now = Date.now();
  const r = await writer.submit({
    op: 'decision', eventId, model: name, createdAt: now,
    deadlineAt: now + Math.round(entry.config.reward.waitSeconds * 1000), payload: encodeDecisionPayload(c.payload, requestJson, input.actions !== undefined),
    ...(hold !== HOLD_NONE ? { hold } : {}), ...(c.imitated !== null ? { imitated: c.imitated } : {}),
  // Counted as the commit's effect, in commit order (a replica's counters refresh is ordered among the writes).
  }, (w) => { if (!w.problem && w.inserted) registry.get(name)?.counters.decided(c.imitated); });
  if (r.problem) throw httpError(r);
  if (!r.inserted) throw new ConflictError(`eventId "${eventId}" is already in use`, { eventId });
  metrics.decisions.inc({ model: name, strategy });
  if (c.imitated !== null) metrics.apprentice.inc({ model: name, imitated: String(c.imitated) });
  return { eventId, model: name, ...c.answer, strategy, ...(hold === HOLD_DEFERRED ? { deferred: true as const } : {}) };
}
