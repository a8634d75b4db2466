/**
 * Vowpal Wabbit's Decision Service JSON (DSJSON), one event per line, as
 * `vw --cb_explore_adf --dsjson` reads it (rules from VW's
 * vowpalwabbit/json_parser/src/parse_example_json.cc, DecisionServiceState and DefaultState):
 *
 * - top level: `EventId`, `Timestamp` (strings), `a` (1-based action indices, the chosen
 *   one first), `p` (their probabilities, same order), `c` (the shared context);
 * - the label (`_label_cost`, `_label_probability`, `_label_Action` 1-based, `_labelIndex`
 *   0-based) is injected when `c` closes, so it must come *before* `c` on the line;
 * - inside `c`: an object is a namespace, a number a valued feature, a string `"k":"v"` the
 *   indicator `kv`, `true` an indicator (`false` adds nothing); `_multi` lists the actions,
 *   one object each; keys starting with `_` other than VW's own are skipped, so each action's
 *   Focal id travels as `_tag` (VW's example tag) and again as the feature `action.id`.
 *
 * An adapter at the edge: it translates between Focal's logged decisions and DSJSON lines
 * and holds no rule of the service's own.
 */
import type { ActionInput, FeatureValue, Features } from '../bandit/index.js';

/** A logged decision as the export reads it. */
export interface ExportedDecision {
  eventId: string;
  createdAt: number;
  context: Features;
  actions: ActionInput[];
  pmf: number[];
  chosen: number;
  probability: number;
  /** The event's final reward; null while pending (or closed without one): no label. */
  reward: number | null;
  /** Not to be learned from (VW's `_skipLearn`): decided in logging mode, or deferred and not activated. Still evaluable. */
  skipLearn?: boolean;
}

/** The namespace each action's features (and its id) go to: Focal's own name for it. */
const ACTION_NAMESPACE = 'action';

export function toDsjson(e: ExportedDecision): string {
  const k = e.actions.length;
  // The chosen action first (VW reads a[0] as the logged action), then the rest by probability.
  const order = Array.from({ length: k }, (_, i) => i).filter((i) => i !== e.chosen)
    .sort((x, y) => (e.pmf[y] ?? 0) - (e.pmf[x] ?? 0) || x - y);
  order.unshift(e.chosen);
  const line: Record<string, unknown> = {};
  if (e.reward !== null) {
    // Label before `c`: VW applies it when `c` closes.
    line['_label_cost'] = -e.reward;
    line['_label_probability'] = e.probability;
    line['_label_Action'] = e.chosen + 1;
    line['_labelIndex'] = e.chosen;
  }
  if (e.skipLearn) line['_skipLearn'] = true;
  line['Timestamp'] = new Date(e.createdAt).toISOString();
  line['Version'] = '1';
  line['EventId'] = e.eventId;
  line['a'] = order.map((i) => i + 1);
  line['c'] = {
    ...e.context,
    _multi: e.actions.map((a) => ({ _tag: a.id, [ACTION_NAMESPACE]: { id: a.id, ...a.features } })),
  };
  line['p'] = order.map((i) => (i === e.chosen ? e.probability : e.pmf[i] ?? 0));
  return JSON.stringify(line);
}

/**
 * One imported event, ready to be logged as a decision (and learned, when it has a reward): the record the
 * export writes, with no time when the line had no Timestamp.
 */
export type ImportedDecision = Omit<ExportedDecision, 'createdAt'> & { createdAt: number | undefined };

export class DsjsonLineError extends Error {}

const CONTROL = /\p{Cc}/u;
/** Largest |reward| accepted, as on POST /reward. */
const MAX_REWARD = 1e9;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(message: string): never {
  throw new DsjsonLineError(message);
}

/** Features without VW's underscore keys, checked to be what Focal can learn from (no arrays, no nulls). */
function features(obj: Record<string, unknown>, where: string): Features {
  const out: Features = {};
  for (const [key, v] of Object.entries(obj)) {
    if (key.startsWith('_')) continue;
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') out[key] = v as FeatureValue;
    else if (isObject(v)) out[key] = features(v, `${where}.${key}`);
    else if (Array.isArray(v)) fail(`${where}.${key}: arrays (VW's anonymous features) are not supported; name each feature`);
    else if (v !== null) fail(`${where}.${key} must be a number, string, boolean or object`);
  }
  return out;
}

function action(raw: unknown, i: number): ActionInput {
  if (!isObject(raw)) fail(`c._multi[${i}] must be an object`);
  const nested = raw[ACTION_NAMESPACE];
  const nestedId = isObject(nested) && typeof nested['id'] === 'string' ? nested['id'] : undefined;
  const tag = typeof raw['_tag'] === 'string' ? raw['_tag'] : undefined;
  const id = tag ?? nestedId ?? (typeof raw['id'] === 'string' ? raw['id'] : String(i + 1));
  if (id.length === 0) fail(`c._multi[${i}] has an empty action id`);
  if (CONTROL.test(id)) fail(`c._multi[${i}]: action ids must not contain control characters`);
  const own = Object.keys(raw).filter((key) => !key.startsWith('_'));
  let f: Features;
  if (own.length === 1 && own[0] === ACTION_NAMESPACE && isObject(nested)) {
    // Focal's own export: the action's features sit in the `action` namespace beside its id.
    const { id: _omit, ...rest } = nested;
    f = features(rest, `c._multi[${i}].${ACTION_NAMESPACE}`);
  } else {
    f = features(raw, `c._multi[${i}]`);
  }
  return Object.keys(f).length > 0 ? { id, features: f } : { id };
}

function uint(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(`${name} must be a non-negative integer`);
  return v;
}

/** Parses one DSJSON line (throws DsjsonLineError with what is wrong). */
export function fromDsjson(text: string): ImportedDecision {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    fail(`not JSON: ${(err as Error).message}`);
  }
  if (!isObject(raw)) fail('a line must be a JSON object');
  const eventId = raw['EventId'];
  if (typeof eventId !== 'string' || eventId.length === 0) fail('EventId must be a non-empty string');
  if (CONTROL.test(eventId)) fail('EventId must not contain control characters');
  let createdAt: number | undefined;
  if (raw['Timestamp'] !== undefined) {
    if (typeof raw['Timestamp'] !== 'string' || Number.isNaN(Date.parse(raw['Timestamp']))) fail('Timestamp must be an ISO 8601 date-time string');
    createdAt = Date.parse(raw['Timestamp']);
  }
  const c = raw['c'];
  if (!isObject(c)) fail('c (the context) must be an object');
  const multi = c['_multi'];
  if (!Array.isArray(multi) || multi.length === 0) fail('c._multi must list at least one action');
  const actions = multi.map(action);
  const k = actions.length;
  const ids = new Set<string>();
  for (const [i, a] of actions.entries()) {
    if (ids.has(a.id)) fail(`c._multi[${i}] repeats action id "${a.id}"`);
    ids.add(a.id);
  }
  const context = features(c, 'c');

  const a = raw['a'];
  const p = raw['p'];
  if (!Array.isArray(a) || a.length === 0) fail('a must list the 1-based action indices, the chosen one first');
  if (!Array.isArray(p) || p.length !== a.length) fail(`p must hold one probability per entry of a (${Array.isArray(a) ? a.length : 0})`);
  const pmf = Array<number>(k).fill(0);
  const seen = new Set<number>();
  for (let j = 0; j < a.length; j++) {
    const idx = a[j];
    if (typeof idx !== 'number' || !Number.isInteger(idx) || idx < 1 || idx > k) fail(`a[${j}] must be an action index from 1 to ${k}`);
    if (seen.has(idx)) fail(`a[${j}] repeats action ${idx}`);
    seen.add(idx);
    const q = p[j];
    if (typeof q !== 'number' || !(q >= 0 && q <= 1)) fail(`p[${j}] must be a probability in [0, 1]`);
    pmf[idx - 1] = q;
  }
  const sum = pmf.reduce((s, q) => s + q, 0);
  if (Math.abs(sum - 1) > 1e-3) fail(`p must sum to 1 (it sums to ${sum})`);

  let chosen = (a[0] as number) - 1;
  if (raw['_label_Action'] !== undefined) {
    const la = uint(raw['_label_Action'], '_label_Action');
    if (la < 1 || la > k) fail(`_label_Action must be an action index from 1 to ${k}`);
    chosen = la - 1;
  }
  if (raw['_labelIndex'] !== undefined) {
    const li = uint(raw['_labelIndex'], '_labelIndex');
    if (li >= k) fail(`_labelIndex must be smaller than the number of actions (${k})`);
    if (raw['_label_Action'] !== undefined && li !== chosen) fail('_labelIndex and _label_Action name different actions');
    chosen = li;
  }
  let probability = pmf[chosen]!;
  if (raw['_label_probability'] !== undefined) {
    const lp = raw['_label_probability'];
    if (typeof lp !== 'number' || !(lp > 0 && lp <= 1)) fail('_label_probability must be in (0, 1]');
    probability = lp;
  }
  if (!(probability > 0)) fail('the logged action has probability 0: the event cannot be learned from or evaluated');
  let reward: number | null = null;
  if (raw['_label_cost'] !== undefined) {
    const cost = raw['_label_cost'];
    if (typeof cost !== 'number' || !(Math.abs(cost) <= MAX_REWARD)) fail(`_label_cost must be a number within ±${MAX_REWARD}`);
    reward = cost === 0 ? 0 : -cost;
  }
  const skip = raw['_skipLearn'];
  if (skip !== undefined && typeof skip !== 'boolean') fail('_skipLearn must be a boolean');
  return { eventId, createdAt, context, actions, pmf, chosen, probability, reward, ...(skip === true ? { skipLearn: true } : {}) };
}
