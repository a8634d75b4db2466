import type { ActionInput, BanditModel, Decision, Features } from '../bandit/index.js';
import { ValidationError } from '../http/errors.js';

/*
 * Excluded actions (POST /decide `excludedActions`, a slot's actions taken by earlier slots) and the baseline
 * action: which indexes they are, and a decision over the actions left. The engine only ever sees the actions
 * that may be chosen, so its PMF over them is exact and sums to 1.
 */

/**
 * The indexes of `excludedActions` and of the baseline among `actions`: an unknown or repeated id, a baseline
 * that is excluded, or nothing left to choose from is a 400 naming the field.
 */
export function resolveExclusions(actions: ActionInput[], excludedIds: readonly string[] | undefined, baselineId: string | undefined, base = ''): { excluded: Set<number>; baseline: number } {
  const index = new Map<string, number>();
  actions.forEach((a, i) => index.set(a.id, i));
  const excluded = new Set<number>();
  (excludedIds ?? []).forEach((id, i) => {
    const at = index.get(id);
    const path = `${base}/excludedActions/${i}`;
    if (at === undefined) throw new ValidationError(`${path.slice(1).replace(/\//g, '.')} names no action of the request ("${id}")`, [{ path, message: `names no action ("${id}")` }]);
    if (excluded.has(at)) throw new ValidationError(`${path.slice(1).replace(/\//g, '.')} repeats "${id}"`, [{ path, message: `repeats "${id}"` }]);
    excluded.add(at);
  });
  if (excluded.size === actions.length) {
    throw new ValidationError('every action is excluded: nothing is left to choose', [{ path: `${base}/excludedActions`, message: 'excludes every action' }]);
  }
  let baseline: number;
  if (baselineId !== undefined) {
    const at = index.get(baselineId);
    const path = `${base}/baseline`;
    if (at === undefined) throw new ValidationError(`${path.slice(1).replace(/\//g, '.')} names no action of the request ("${baselineId}")`, [{ path, message: `names no action ("${baselineId}")` }]);
    if (excluded.has(at)) throw new ValidationError(`${path.slice(1).replace(/\//g, '.')} "${baselineId}" is excluded`, [{ path, message: 'is an excluded action' }]);
    baseline = at;
  } else {
    baseline = 0;
    while (excluded.has(baseline)) baseline++;
  }
  return { excluded, baseline };
}

/**
 * The engine's decision over the actions not excluded, spread back over all of them (excluded: probability
 * and score 0). Decisions and the live off-policy estimates both call it, so both see the same policy.
 */
export function decideAmong(bandit: BanditModel, context: Features, actions: ActionInput[], excluded: ReadonlySet<number>, seed: string): Decision {
  if (excluded.size === 0) return bandit.decide(context, actions, seed);
  const k = actions.length;
  const allowed: number[] = [];
  for (let i = 0; i < k; i++) if (!excluded.has(i)) allowed.push(i);
  const sub = bandit.decide(context, allowed.map((i) => actions[i]!), seed);
  const pmf = new Array<number>(k).fill(0);
  const scores = new Array<number>(k).fill(0);
  allowed.forEach((i, j) => { pmf[i] = sub.pmf[j]!; scores[i] = sub.scores[j]!; });
  return { pmf, scores, chosen: allowed[sub.chosen]!, probability: sub.probability };
}
