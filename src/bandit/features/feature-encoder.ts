/**
 * Turns a context and its actions into sparse hashed examples, VW-style:
 * every top-level object of the context is a namespace, top-level scalars go to
 * the `default` namespace, an action's id and features form the `action`
 * namespace, and interactions (VW's -q) cross namespaces. Keys are only ever
 * hashed, never used to index a JS object, so `__proto__` and friends are plain
 * feature names.
 */
import type { ActionInput, FeatureValue, Features } from '../types.js';
import { Example } from './example.js';
import { murmurHash3 } from './murmur-hash.js';

/** Name of the namespace holding the context's top-level scalars. */
export const DEFAULT_NAMESPACE = 'default';
/** Interaction wildcard for every context namespace. */
export const CONTEXT_WILDCARD = 'context';
/** The action's namespace (its id and features). */
export const ACTION_NAMESPACE = 'action';

const CONTEXT_SEED = 0x0c0ffee0;
const ACTION_SEED = 0x0ac71014;
const STRING_SEED = 0x5717a9e5;
const FNV_PRIME = 16777619;
/** The bias feature every example carries (VW's constant). */
export const CONSTANT_HASH = murmurHash3('constant', 0x1234567);
const DEFAULT_NS_HASH = murmurHash3(DEFAULT_NAMESPACE, CONTEXT_SEED);
const ACTION_NS_HASH = murmurHash3(ACTION_NAMESPACE, ACTION_SEED);
const ID_HASH = murmurHash3('id', ACTION_NS_HASH);
/** Actions whose encodings are kept (by id); a few MB at most for actions of a few dozen features. */
const ACTION_CACHE_LIMIT = 4096;
const TRUE_HASH_SEED = 0x7e7e7e7e;
const FALSE_HASH_SEED = 0x0f0f0f0f;

/** Thrown for a feature value the engine cannot use (non-finite number, unsupported type). */
export class BanditInputError extends Error {
  constructor(readonly path: string, message: string) {
    super(message);
    this.name = 'BanditInputError';
  }
}

/**
 * An action's hashed features as last encoded, with the flat features they came from. Actions repeat from one
 * request to the next (a catalogue's items with the same features), and hashing their names and string values is
 * most of an action's encoding: comparing the features with the last ones seen for that id costs a fifth of it.
 */
interface ActionEntry {
  idHash: number;
  /** The flat features' names and values in order, or undefined when they nest (not cached: hashed every time). */
  keys: string[] | undefined;
  values: unknown[];
  idx: Int32Array;
  val: Float64Array;
  n: number;
}

/** Whether `features` has exactly the names and values of `entry`, in the same order (a no-allocation walk). */
function sameFeatures(entry: ActionEntry, features: Features): boolean {
  const keys = entry.keys!;
  const values = entry.values;
  let i = 0;
  // for-in visits own enumerable keys of a JSON object in insertion order, like Object.keys, without an array.
  for (const key in features) {
    if (i >= keys.length || key !== keys[i] || features[key] !== values[i]) return false;
    i++;
  }
  return i === keys.length;
}

/** The names of a flat features object in order, or undefined when one of its values is an object (a namespace). */
function flatKeys(features: Features): string[] | undefined {
  const keys = Object.keys(features);
  for (let i = 0; i < keys.length; i++) {
    const v = features[keys[i]!];
    if (v !== null && typeof v === 'object') return undefined;
  }
  return keys;
}

/** Features of one namespace, as a slice of a shared buffer. */
interface NamespaceSlice {
  name: string;
  start: number;
  end: number;
}

/** Crossing 2+ namespace slices. Term elements are namespace names or the wildcards above. */
export type InteractionSpec = readonly (readonly string[])[];

function escapePointer(key: string): string {
  if (key.indexOf('~') < 0 && key.indexOf('/') < 0) return key;
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Where the numbers of the context being encoded are recorded (index into the context example), when the encoder
 * standardises them; undefined otherwise. A module-level slot rather than a parameter: the recursion below is the
 * encoder's hot path, and only a standardising encoder sets it, for the length of its encodeContext() call.
 */
let numericSink: number[] | undefined;

function hashValue(key: number, value: FeatureValue, pointer: string, name: string, out: Example): void {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new BanditInputError(`${pointer}/${escapePointer(name)}`, 'must be a finite number');
    if (numericSink !== undefined) {
      // Standardised, a 0 is a value like any other (below the mean, say), not an absent feature.
      numericSink.push(out.n);
      out.push(key, value);
    } else if (value !== 0) out.push(key, value);
  } else if (typeof value === 'string') {
    out.push(murmurHash3(value, key ^ STRING_SEED), 1);
  } else if (typeof value === 'boolean') {
    out.push(value ? murmurHash3('true', key ^ TRUE_HASH_SEED) : murmurHash3('false', key ^ FALSE_HASH_SEED), 1);
  } else {
    throw new BanditInputError(`${pointer}/${escapePointer(name)}`, 'must be a number, string, boolean or object');
  }
}

function encodeObject(obj: Features, seed: number, pointer: string, out: Example): void {
  // for-in reads values through the enum cache (no megamorphic keyed load); features are plain objects (parsed JSON
  // or literals) whose keys are own, in Object.keys' order.
  for (const key in obj) {
    // Reading an own key is safe even for "__proto__" (JSON.parse makes it an own property).
    const value = obj[key];
    const h = murmurHash3(key, seed);
    if (value !== null && typeof value === 'object') {
      // A deeper object stays in its namespace with a prefixed name (user.address.city).
      encodeObject(value, h, `${pointer}/${escapePointer(key)}`, out);
    } else {
      hashValue(h, value as FeatureValue, pointer, key, out);
    }
  }
}

/** Prior weight, in observations, of the standardiser's mean 0 and variance 1: an unseen feature passes as it is. */
const STANDARD_PRIOR = 1;
/** Standardised values are clipped to ± this many standard deviations (one outlier must not dominate a step). */
const STANDARD_CLIP = 5;

/**
 * Running mean and variance of each numeric context feature (by hash), learned from the events a model learns:
 * the encoder then gives the learner (x − mean) / sd. Why: SGD-style updates learn a small variation on a large
 * offset slowly (a penguin's flipper is 170–230 mm), where a ridge solve would not care; VW's normalised updates
 * remove the scale but not the offset. Shrunk towards mean 0 and variance 1 by STANDARD_PRIOR observations, so a
 * feature's first values pass almost unchanged and the transform settles as its statistics do. Hand-written: it is
 * the learner's own input transform and its state is part of the model's snapshot.
 */
export class Standardizer {
  /** Per feature hash: [count, mean, sum of squared deviations] (Welford). */
  readonly stats = new Map<number, Float64Array>();

  transform(hash: number, x: number): number {
    const st = this.stats.get(hash);
    if (st === undefined) return Math.max(-STANDARD_CLIP, Math.min(STANDARD_CLIP, x));
    const n = st[0]!;
    const mean = (n * st[1]!) / (n + STANDARD_PRIOR);
    const variance = (st[2]! + STANDARD_PRIOR) / (n + STANDARD_PRIOR);
    const z = (x - mean) / Math.sqrt(variance);
    return Math.max(-STANDARD_CLIP, Math.min(STANDARD_CLIP, z));
  }

  observe(hash: number, x: number): void {
    let st = this.stats.get(hash);
    if (st === undefined) this.stats.set(hash, (st = new Float64Array(3)));
    const n = st[0]! + 1;
    const delta = x - st[1]!;
    st[0] = n;
    st[1] = st[1]! + delta / n;
    st[2] = st[2]! + delta * (x - st[1]!);
  }
}

/**
 * Reusable encoder: encodeContext() once per call, then example() per action.
 * Not reentrant (one per model); JS is single-threaded so that is enough.
 */
export class FeatureEncoder {
  private readonly interactions: InteractionSpec;
  private readonly ctx = new Example(256);
  private readonly act = new Example(32);
  private namespaces: NamespaceSlice[] = [];
  private nsCount = 0;
  private readonly actionSlice: NamespaceSlice = { name: ACTION_NAMESPACE, start: 0, end: 0 };
  // Expanded interaction terms for the current context (lists of slices, action slice by identity).
  private terms: NamespaceSlice[][] = [];
  private readonly termScratch: NamespaceSlice[] = [];
  private readonly actions = new Map<string, ActionEntry>();
  private readonly termNames: string[] = [];
  private termsValid = false;

  /** Namespace names (or the context wildcard) whose plain linear terms are left out (VW's --ignore_linear). */
  private readonly ignoreLinear: readonly string[];
  private readonly ignoreAllContext: boolean;

  /** Set when the context's numbers are standardised (learner option `standardize`). */
  readonly standardizer: Standardizer | undefined;
  /** With a standardizer: the positions of the numbers in the last encoded context, and their raw values. */
  private readonly numeric: number[] = [];
  private raw = new Float64Array(64);
  private lastContext: Features | undefined;

  constructor(interactions: InteractionSpec, ignoreLinear: readonly string[] = [], standardize = false) {
    this.interactions = interactions;
    this.ignoreLinear = ignoreLinear;
    this.ignoreAllContext = ignoreLinear.includes(CONTEXT_WILDCARD);
    this.standardizer = standardize ? new Standardizer() : undefined;
  }

  /** Hashes the context's features once; examples for each action reuse them. */
  encodeContext(context: Features): void {
    if (this.standardizer === undefined) {
      this.encodeRaw(context);
      return;
    }
    const numeric = this.numeric;
    numeric.length = 0;
    numericSink = numeric;
    try {
      this.encodeRaw(context);
    } finally {
      numericSink = undefined;
    }
    const ctx = this.ctx;
    if (this.raw.length < numeric.length) this.raw = new Float64Array(numeric.length * 2);
    for (let i = 0; i < numeric.length; i++) {
      const at = numeric[i]!;
      this.raw[i] = ctx.val[at]!;
      ctx.val[at] = this.standardizer.transform(ctx.idx[at]!, ctx.val[at]!);
    }
    this.lastContext = context;
  }

  /**
   * Adds the numbers of a learned event's context to the standardiser's statistics (after the event is learned,
   * so its own encoding used the statistics of the events before it, as replay does).
   */
  observeContext(context: Features): void {
    const st = this.standardizer;
    if (st === undefined) return;
    // The optimizer and the model encode a learned event's context last before learning it; otherwise encode it.
    if (this.lastContext !== context) this.encodeContext(context);
    for (let i = 0; i < this.numeric.length; i++) st.observe(this.ctx.idx[this.numeric[i]!]!, this.raw[i]!);
  }

  private encodeRaw(context: Features): void {
    const ctx = this.ctx;
    ctx.clear();
    this.nsCount = 0;
    // Top-level scalars first, into the default namespace.
    const keys = Object.keys(context);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const value = context[key];
      if (value !== null && typeof value === 'object') continue;
      hashValue(murmurHash3(key, DEFAULT_NS_HASH), value as FeatureValue, '/context', key, ctx);
    }
    if (ctx.n > 0) this.addSlice(DEFAULT_NAMESPACE, 0, ctx.n);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const value = context[key];
      if (value === null || typeof value !== 'object') continue;
      const start = ctx.n;
      encodeObject(value, murmurHash3(key, CONTEXT_SEED), `/context/${escapePointer(key)}`, ctx);
      if (ctx.n > start) this.addSlice(key, start, ctx.n);
    }
    this.expandTerms();
  }

  private addSlice(name: string, start: number, end: number): void {
    const pooled = this.namespaces[this.nsCount];
    if (pooled !== undefined) {
      pooled.name = name;
      pooled.start = start;
      pooled.end = end;
    } else {
      this.namespaces.push({ name, start, end });
    }
    this.nsCount++;
  }

  private expandTerms(): void {
    // Terms hold the pooled slice objects, so they stay valid while the namespace names repeat.
    const names = this.termNames;
    let same = names.length === this.nsCount;
    for (let i = 0; same && i < this.nsCount; i++) same = names[i] === this.namespaces[i]!.name;
    if (same && this.termsValid) return;
    names.length = this.nsCount;
    for (let i = 0; i < this.nsCount; i++) names[i] = this.namespaces[i]!.name;
    this.termsValid = true;
    this.terms.length = 0;
    for (const spec of this.interactions) this.expand(spec, 0, this.termScratch);
  }

  private expand(spec: readonly string[], at: number, acc: NamespaceSlice[]): void {
    if (at === spec.length) {
      this.terms.push(acc.slice());
      return;
    }
    const name = spec[at]!;
    if (name === ACTION_NAMESPACE) {
      acc[at] = this.actionSlice;
      acc.length = at + 1;
      this.expand(spec, at + 1, acc);
      return;
    }
    for (let i = 0; i < this.nsCount; i++) {
      const ns = this.namespaces[i]!;
      if (name === CONTEXT_WILDCARD || ns.name === name) {
        acc[at] = ns;
        acc.length = at + 1;
        this.expand(spec, at + 1, acc);
      }
    }
  }

  /** Builds the full example for one action: constant, context, action, interactions. */
  example(action: ActionInput, out: Example): void {
    this.encodeAction(action);
    const act = this.act;
    this.actionSlice.start = 0;
    this.actionSlice.end = act.n;

    out.clear();
    out.reserve(this.exampleSize());
    out.push(CONSTANT_HASH, 1);
    const ctx = this.ctx;
    if (this.ignoreLinear.length === 0) {
      out.append(ctx, 0, ctx.n);
    } else if (!this.ignoreAllContext) {
      for (let s = 0; s < this.nsCount; s++) {
        const ns = this.namespaces[s]!;
        if (this.ignoreLinear.includes(ns.name)) continue;
        out.append(ctx, ns.start, ns.end);
      }
    }
    out.contextEnd = out.n;
    if (!this.ignoreLinear.includes(ACTION_NAMESPACE)) out.append(act, 0, act.n);
    out.linearEnd = out.n;
    out.actionId = action.id;
    const terms = this.terms;
    for (let t = 0; t < terms.length; t++) this.cross(terms[t]!, out);
  }

  /** Fills this.act with the action's id and features: from the cache when they are the ones last seen for its id. */
  private encodeAction(action: ActionInput): void {
    const act = this.act;
    act.clear();
    const features = action.features;
    const entry = this.actions.get(action.id);
    if (entry !== undefined && (features === undefined ? entry.n === 1 : entry.keys !== undefined && sameFeatures(entry, features))) {
      act.reserve(entry.n);
      const idx = act.idx, val = act.val, eIdx = entry.idx, eVal = entry.val;
      for (let i = 0; i < entry.n; i++) {
        idx[i] = eIdx[i]!;
        val[i] = eVal[i]!;
      }
      act.n = entry.n;
      return;
    }
    const idHash = entry?.idHash ?? murmurHash3(action.id, ID_HASH);
    act.push(idHash, 1);
    if (features !== undefined) encodeObject(features, ACTION_NS_HASH, '/actions/features', act);
    // Bounded: ids beyond the limit (a catalogue larger than it, or ids made per request) clear it and start over.
    if (entry === undefined && this.actions.size >= ACTION_CACHE_LIMIT) this.actions.clear();
    const flat = features === undefined ? [] : flatKeys(features);
    this.actions.set(action.id, {
      idHash, keys: flat, values: flat === undefined ? [] : flat.map((k) => features![k]),
      idx: act.idx.slice(0, act.n), val: act.val.slice(0, act.n), n: act.n,
    });
  }

  /** Upper bound of the features of the next example, so pushes never have to grow mid-loop. */
  private exampleSize(): number {
    let n = 1 + this.ctx.n + this.act.n;
    for (const term of this.terms) {
      let p = 1;
      for (const ns of term) p *= ns === this.actionSlice ? this.act.n : ns.end - ns.start;
      n += p;
    }
    return n;
  }

  private cross(term: NamespaceSlice[], out: Example): void {
    if (term.length === 2) {
      // Fast path for the common pairwise case.
      const a = term[0]!;
      const b = term[1]!;
      const ai = a === this.actionSlice ? this.act : this.ctx;
      const bi = b === this.actionSlice ? this.act : this.ctx;
      const same = a === b;
      const oi = out.idx;
      const ov = out.val;
      const aIdx = ai.idx;
      const aVal = ai.val;
      const bIdx = bi.idx;
      const bVal = bi.val;
      let n = out.n;
      for (let i = a.start; i < a.end; i++) {
        const ha = Math.imul(aIdx[i]!, FNV_PRIME);
        const va = aVal[i]!;
        // A namespace crossed with itself takes each unordered pair once (VW's default, no permutations).
        for (let j = same ? i : b.start; j < b.end; j++) {
          oi[n] = ha ^ bIdx[j]!;
          ov[n] = va * bVal[j]!;
          n++;
        }
      }
      out.n = n;
      return;
    }
    if (term.length === 3) {
      this.cross3(term, out);
      return;
    }
    this.crossRec(term, 0, 0, 1, -1, out);
  }

  /**
   * Three namespaces crossed (the optimizer's context × context × action candidates), written out as three loops:
   * the same features in the same order as crossRec (hash ((a·P) ^ b)·P ^ c, value a·b·c, a namespace repeated
   * next to itself starting at the previous index), about five times faster, since it is most of such a decide.
   */
  private cross3(term: NamespaceSlice[], out: Example): void {
    const [a, b, c] = term as [NamespaceSlice, NamespaceSlice, NamespaceSlice];
    const ai = a === this.actionSlice ? this.act : this.ctx;
    const bi = b === this.actionSlice ? this.act : this.ctx;
    const ci = c === this.actionSlice ? this.act : this.ctx;
    const aIdx = ai.idx, aVal = ai.val, bIdx = bi.idx, bVal = bi.val, cIdx = ci.idx, cVal = ci.val;
    const abSame = a === b;
    const bcSame = b === c;
    const oi = out.idx;
    const ov = out.val;
    let n = out.n;
    for (let i = a.start; i < a.end; i++) {
      const ha = aIdx[i]!;
      const va = aVal[i]!;
      for (let j = abSame ? i : b.start; j < b.end; j++) {
        const hb = Math.imul(Math.imul(ha, FNV_PRIME) ^ bIdx[j]!, FNV_PRIME);
        const vb = va * bVal[j]!;
        for (let k = bcSame ? j : c.start; k < c.end; k++) {
          oi[n] = hb ^ cIdx[k]!;
          ov[n] = vb * cVal[k]!;
          n++;
        }
      }
    }
    out.n = n;
  }

  private crossRec(term: NamespaceSlice[], at: number, hash: number, value: number, prevStart: number, out: Example): void {
    if (at === term.length) {
      out.push(hash, value);
      return;
    }
    const ns = term[at]!;
    const src = ns === this.actionSlice ? this.act : this.ctx;
    const sameAsPrev = at > 0 && term[at - 1] === ns;
    for (let i = sameAsPrev ? prevStart : ns.start; i < ns.end; i++) {
      const h = at === 0 ? src.idx[i]! : Math.imul(hash, FNV_PRIME) ^ src.idx[i]!;
      this.crossRec(term, at + 1, h, value * src.val[i]!, i, out);
    }
  }
}
