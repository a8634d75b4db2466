import type { Features } from '../bandit/index.js';
import { ConflictError, PayloadTooLargeError, ValidationError } from '../http/errors.js';
import { newEventId } from '../platform/ids.js';
import { choose, holdOf, readDecisionRequest, type decideBodySchema, type DecideDeps, type DecideInput, type RankedAction } from './decide.js';
import { HOLD_DEFERRED, HOLD_NONE } from './decision-store.js';
import { httpError } from './decisions-writer.js';
import { resolveExclusions } from './exclusions.js';
import type { FeatureBudget } from './request-limits.js';
import { learningMode, type LearningMode } from './model-config.js';
import type { FromSchemaAsSent } from '../schema-types.js';

/**
 * Multi-slot decisions (../shared/API.md "Slots"): one distinct action per slot, slots filled in order. Each slot is an
 * ordinary logged decision whose event id is `{eventId}#{slotId}`: its context is the request's context plus
 * the slot's features as the namespace `_slot` (with the slot's `id`), its candidates are the actions not
 * excluded for it and not taken by an earlier slot. Being ordinary decisions, slots share every rule of the
 * log (reward window and aggregation per slot, modes, deferral, replay, evaluation, export). A row of kind
 * `slots` under the request's own eventId lists the slots: it reserves the id, and activation and rewards by
 * slot name go through it.
 */

/** A multi-slot decision as a caller sends it: POST /decide's body with `slots` (decide.ts), whose `baseline` is per slot. */
export type DecideSlotsInput = Omit<DecideInput, 'baseline'> & Required<Pick<FromSchemaAsSent<typeof decideBodySchema>, 'slots'>>;

export type SlotInput = DecideSlotsInput['slots'][number];

export interface SlotResult {
  id: string;
  action: string;
  probability: number;
  ranking: RankedAction[];
  mode?: LearningMode;
  modelChoice?: { action: string; probability: number; ranking: RankedAction[] };
}

export interface DecideSlotsResult {
  eventId: string;
  model: string;
  slots: SlotResult[];
  strategy: string;
  deferred?: true;
}

/** The namespace a slot's features (and its id) take in the slot's context. */
export const SLOT_NAMESPACE = '_slot';

/** The event id of one slot of a multi-slot decision. */
export function slotEventId(eventId: string, slot: string): string {
  return `${eventId}#${slot}`;
}

export async function decideSlots(deps: DecideDeps, input: DecideSlotsInput): Promise<DecideSlotsResult> {
  const { registry, limits, metrics } = deps;
  const writer = deps.writer.accepting();
  const { name, entry, context, actions, ...request } = readDecisionRequest(deps, input);
  const budget: FeatureBudget = request.budget;
  const slots = input.slots;
  if (slots.length > limits.actionsPerRequest) {
    throw new PayloadTooLargeError(`${slots.length} slots exceed the limit of ${limits.actionsPerRequest} (FOCAL_MAX_ACTIONS)`, 'FOCAL_MAX_ACTIONS', limits.actionsPerRequest);
  }
  if (slots.length > actions.length) {
    throw new ValidationError(`${slots.length} slots but only ${actions.length} actions: each slot takes a distinct action`, [{ path: '/slots', message: `has more slots than the ${actions.length} actions` }]);
  }
  const seenIds = new Set<string>();
  slots.forEach((s, i) => {
    budget.string(`/slots/${i}/id`, s.id, 'slot id');
    if (seenIds.has(s.id)) throw new ValidationError(`slots.${i}.id duplicates slot id "${s.id}"`, [{ path: `/slots/${i}/id`, message: `duplicates slot id "${s.id}"` }]);
    seenIds.add(s.id);
    if (s.features !== undefined) budget.features(`/slots/${i}/features`, s.features);
  });
  const common = resolveExclusions(actions, input.excludedActions, undefined).excluded;
  const baselines = new Map<number, number>();
  const perSlot = slots.map((s, i) => {
    const excluded = new Set([...common, ...resolveExclusions(actions, s.excludedActions, undefined, `/slots/${i}`).excluded]);
    if (s.baseline !== undefined) {
      const path = `/slots/${i}/baseline`;
      const b = actions.findIndex((a) => a.id === s.baseline);
      const refuse = (message: string) => new ValidationError(`slots.${i}.baseline "${s.baseline}" ${message}`, [{ path, message }]);
      if (b < 0) throw refuse('names no action of the request');
      if (excluded.has(b)) throw refuse('is an excluded action');
      if (baselines.has(b)) throw refuse(`is also the baseline of slot "${slots[baselines.get(b)!]!.id}"`);
      baselines.set(b, i);
    }
    return excluded;
  });
  const eventId = input.eventId ?? newEventId();
  const mode = learningMode(entry.config);
  const taken = new Set<number>();
  const results: SlotResult[] = [];
  const rows: { id: string; eventId: string; payload: string; imitated?: boolean }[] = [];
  for (const [i, s] of slots.entries()) {
    const excluded = new Set([...perSlot[i]!, ...taken]);
    if (excluded.size === actions.length) {
      throw new ValidationError(`slots.${i} has no action left: every action is excluded or taken by an earlier slot`, [{ path: `/slots/${i}`, message: 'has no action left' }]);
    }
    // The slot's baseline: the one given if still free, else the first action left.
    const given = s.baseline !== undefined ? actions.findIndex((a) => a.id === s.baseline) : -1;
    let baseline = given >= 0 && !excluded.has(given) ? given : 0;
    while (excluded.has(baseline)) baseline++;
    const slotContext: Features = { ...context, [SLOT_NAMESPACE]: { id: s.id, ...s.features } };
    const id = slotEventId(eventId, s.id);
    const c = choose(entry, slotContext, actions, excluded, baseline, id);
    taken.add(c.payload.chosen);
    results.push({ id: s.id, ...c.answer });
    rows.push({ id: s.id, eventId: id, payload: JSON.stringify({ ...c.payload, slot: s.id, parent: eventId }), ...(c.imitated !== null ? { imitated: c.imitated } : {}) });
  }
  const hold = holdOf(mode, input.defer);
  const now = Date.now();
  const r = await writer.submit({
    op: 'slots', eventId, model: name, createdAt: now, deadlineAt: now + Math.round(entry.config.reward.waitSeconds * 1000),
    slots: rows, ...(hold !== HOLD_NONE ? { hold } : {}),
  }, (w) => {
    // Counted as the commit's effect, in commit order (as decide.ts).
    const counters = registry.get(name)?.counters;
    if (!w.problem && w.inserted) for (const row of rows) counters?.decided(row.imitated ?? null);
  });
  if (r.problem) throw httpError(r);
  if (!r.inserted) throw new ConflictError(`eventId "${eventId}" (or one of its slots' ids, "${eventId}#…") is already in use`, { eventId });
  const strategy = entry.config.strategy.name;
  for (const row of rows) {
    metrics.decisions.inc({ model: name, strategy });
    if (row.imitated !== undefined) metrics.apprentice.inc({ model: name, imitated: String(row.imitated) });
  }
  return { eventId, model: name, slots: results, strategy, ...(hold === HOLD_DEFERRED ? { deferred: true as const } : {}) };
}
