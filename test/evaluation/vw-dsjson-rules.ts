/**
 * A checker of DSJSON lines built from the rules of Vowpal Wabbit's own parser
 * (vowpalwabbit/json_parser/src/parse_example_json.cc: DecisionServiceState, DefaultState,
 * MultiState, LabelSinglePropertyState, LabelIndexState), for CI where no `vw` binary is at hand.
 * It returns what VW would reject or silently drop; an empty list means VW reads the line as meant.
 */

/** Top-level keys DecisionServiceState handles (anything else VW skips). */
const DS_KEYS = new Set(['EventId', 'Timestamp', 'Version', 'a', 'p', 'c', 'pdrop', 'pdf', 'VWState', 'o', '_skipLearn', '_outcomes', '_original_label_cost', '_ba', '_p']);
const LABEL_KEYS = ['_label_cost', '_label_probability', '_label_Action', '_labelIndex'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isUint = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/** DefaultState: namespaces, numbers, strings, true/false; `_`-keys other than VW's are skipped; arrays hold numbers only. */
function checkFeatures(obj: Record<string, unknown>, where: string, inMulti: boolean, problems: string[]): void {
  for (const [key, v] of Object.entries(obj)) {
    const at = `${where}.${key}`;
    if (key.startsWith('_')) {
      if (key === '_multi' && !inMulti && where === 'c') continue;
      if (key === '_tag' && inMulti) {
        if (typeof v !== 'string') problems.push(`${at}: TagState takes a string`);
        continue;
      }
      problems.push(`${at}: VW skips keys starting with "_" (the feature would be lost)`);
      continue;
    }
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') continue;
    if (v === null) { problems.push(`${at}: null is ignored by VW`); continue; }
    if (Array.isArray(v)) {
      if (!v.every((x) => typeof x === 'number')) problems.push(`${at}: ArrayState takes numbers only`);
      continue;
    }
    if (isObject(v)) checkFeatures(v, at, inMulti, problems);
  }
}

export function vwDsjsonProblems(line: string): string[] {
  const problems: string[] = [];
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return ['not JSON'];
  }
  if (!isObject(raw)) return ['a line must be an object'];
  const keys = Object.keys(raw);
  for (const k of keys) if (!DS_KEYS.has(k) && !LABEL_KEYS.includes(k)) problems.push(`${k}: not a DSJSON key (VW skips it)`);
  if (typeof raw['EventId'] !== 'string') problems.push('EventId: StringToStringState takes a string');
  if (raw['Timestamp'] !== undefined && typeof raw['Timestamp'] !== 'string') problems.push('Timestamp: must be a string');
  const a = raw['a'];
  const p = raw['p'];
  if (!Array.isArray(a) || !a.every(isUint)) problems.push('a: ArrayToVectorState<unsigned> takes unsigned integers');
  if (!Array.isArray(p) || !p.every((x) => typeof x === 'number')) problems.push('p: ArrayToVectorState<float> takes numbers');
  if (Array.isArray(a) && Array.isArray(p) && a.length !== p.length) problems.push('a and p differ in length');
  if (Array.isArray(p) && Math.abs(p.reduce((s: number, x) => s + Number(x), 0) - 1) > 1e-6) problems.push('p does not sum to 1');
  const c = raw['c'];
  if (!isObject(c)) return [...problems, 'c: the context must be an object'];
  const multi = c['_multi'];
  if (!Array.isArray(multi) || multi.length === 0 || !multi.every(isObject)) problems.push('c._multi: MultiState takes a non-empty array of objects');
  checkFeatures(c, 'c', false, problems);
  if (Array.isArray(multi)) multi.forEach((m, i) => { if (isObject(m)) checkFeatures(m, `c._multi[${i}]`, true, problems); });
  const k = Array.isArray(multi) ? multi.length : 0;
  if (Array.isArray(a) && a.some((x) => typeof x === 'number' && (x < 1 || x > k))) problems.push(`a: 1-based indices into the ${k} actions`);

  const labelled = LABEL_KEYS.filter((l) => l in raw);
  if (labelled.length > 0) {
    if (labelled.length !== LABEL_KEYS.length) problems.push(`label: needs all of ${LABEL_KEYS.join(', ')}`);
    // The label is injected when `c` closes (DefaultState::EndObject): keys after `c` come too late.
    const cAt = keys.indexOf('c');
    for (const l of labelled) if (keys.indexOf(l) > cAt) problems.push(`${l}: comes after c, so VW never applies it`);
    const cost = raw['_label_cost'];
    const prob = raw['_label_probability'];
    const action = raw['_label_Action'];
    const index = raw['_labelIndex'];
    if (typeof cost !== 'number') problems.push('_label_cost: a number');
    if (typeof prob !== 'number' || !(prob > 0 && prob <= 1)) problems.push('_label_probability: in (0, 1]');
    if (!isUint(action)) problems.push('_label_Action: LabelSinglePropertyState takes an unsigned integer');
    if (!isUint(index)) problems.push('_labelIndex: LabelIndexState takes only Uint');
    else if ((index as number) >= k) problems.push('_labelIndex: out of bounds of _multi');
    if (isUint(action) && isUint(index) && action !== (index as number) + 1) problems.push('_label_Action must be _labelIndex + 1');
    if (Array.isArray(a) && a[0] !== action) problems.push('a[0] must be the labelled action');
    if (Array.isArray(p) && typeof prob === 'number' && p[0] !== prob) problems.push('p[0] must be the labelled action\'s probability');
  }
  return problems;
}
