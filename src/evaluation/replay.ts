/**
 * Counterfactual replay of a model's log: every evaluated policy is weighed at each
 * logged event by the probability it gives the logged action, then (for learning
 * policies) taught by that event — progressive validation, in time order. No I/O:
 * the worker (evaluation-worker.ts) streams events in, the tests feed synthetic logs.
 *
 * Rows:
 * - `online`: the logged policy itself (its logged PMF; weight 1 on every event).
 * - `baseline`: always the event's baseline action (its `baseline` id when the log has
 *   one, else the first action, as the HTTP contract defines it).
 * - `uniform`: every action 1/k.
 * - candidates: a fresh model of each candidate configuration.
 * Feature importance replays the online configuration from scratch with and without each
 * context namespace and reports the drop in its DR estimate.
 *
 * DM and DR need a reward model q̂(x, a) for every action: one progressive regression
 * (a linear learner, importance-weighted, with the online model's interactions) shared by
 * every row, asked before it learns each event, so no row is judged by a model that has
 * seen the event being judged.
 */
import {
  createBanditModel,
  murmurHash3,
  normalizeBanditConfig,
  type ActionInput,
  type BanditConfig,
  type BanditConfigInput,
  type BanditModel,
  type Features,
} from '../bandit/index.js';
import {
  DEFAULT_REPLICATES,
  PoissonBootstrap,
  PolicyValueAccumulator,
  type EstimatorName,
  type PolicyEstimates,
} from '../bandit/evaluation/estimators.js';

export interface LoggedDecision {
  eventId: string;
  context: Features;
  actions: ActionInput[];
  chosen: number;
  /** Propensity of the logged action. */
  probability: number;
  /** The logged PMF over `actions` (the online row); when absent only the chosen action's probability is known. */
  pmf?: number[];
  reward: number;
  /** Index of the baseline action, when the log names one. */
  baseline?: number;
  /** Indexes of actions that could not be chosen (excluded): every policy gives them 0 and spreads its PMF over the rest. */
  excluded?: readonly number[];
}

export interface CandidatePolicy {
  name: string;
  config: BanditConfigInput;
}

export interface ReplayOptions {
  /** The logged model's configuration (the online row's learner; feature importance replays it). */
  online: BanditConfig;
  candidates: CandidatePolicy[];
  /** Context namespaces whose importance to measure (none: no feature importance). */
  namespaces?: string[];
  replicates?: number;
  seed: number;
}

export type PolicySource = 'online' | 'baseline' | 'uniform' | 'custom';

export interface PolicyResult {
  name: string;
  source: PolicySource;
  config?: BanditConfig;
  events: number;
  estimates: Record<EstimatorName, { value: number; ci: [number, number] }>;
  effectiveSampleSize: number;
  meanWeight: number;
  maxWeight: number;
}

export interface FeatureImportance {
  feature: string;
  /** DR value of the online configuration replayed with every namespace minus without this one. */
  importance: number;
  ci: [number, number];
}

export interface ReplayResult {
  events: number;
  skipped: number;
  policies: PolicyResult[];
  /** The row with the highest DR lower bound. */
  best: string | null;
  featureImportance?: FeatureImportance[];
  /** CPU seconds of the thread that ran the job (Linux), when measured. */
  cpuSeconds?: number;
}

/** The estimator `best` and feature importance are judged by. */
export const RANKING_ESTIMATOR: EstimatorName = 'dr';

/** Namespace holding the context's top-level scalars (the feature encoder's name for it). */
export const DEFAULT_NAMESPACE = 'default';

interface Row {
  name: string;
  source: PolicySource;
  config?: BanditConfig;
  model?: BanditModel;
  /** Feature importance: the context namespace this replay drops. */
  drop?: string;
  acc: PolicyValueAccumulator;
}

/** The context namespaces of a context: its object-valued keys, and `default` for its scalars. */
export function contextNamespaces(context: Features): string[] {
  const out: string[] = [];
  let scalars = false;
  for (const [k, v] of Object.entries(context)) {
    if (typeof v === 'object' && v !== null) out.push(k);
    else scalars = true;
  }
  if (scalars) out.push(DEFAULT_NAMESPACE);
  return out;
}

function withoutNamespace(context: Features, ns: string): Features {
  const out: Features = {};
  for (const [k, v] of Object.entries(context)) {
    const isNs = typeof v === 'object' && v !== null;
    if (ns === DEFAULT_NAMESPACE ? !isNs : k === ns) continue;
    out[k] = v;
  }
  return out;
}

/** The reward model every row's DM and DR share. */
function rewardModelConfig(online: BanditConfig): BanditConfigInput {
  const interactions = online.learner.interactions;
  return { strategy: { name: 'greedy' }, learner: { name: 'linear', ...(interactions ? { interactions } : {}) } };
}

export class Replay {
  private readonly rows: Row[] = [];
  private readonly importanceRows: Row[] = [];
  private readonly reference: Row | undefined;
  private readonly rewardModel: BanditModel;
  private readonly bootstrap: PoissonBootstrap;
  private readonly replicates: number;
  private n = 0;
  private skipped = 0;

  constructor(private readonly options: ReplayOptions) {
    this.replicates = options.replicates ?? DEFAULT_REPLICATES;
    this.bootstrap = new PoissonBootstrap(this.replicates, options.seed);
    this.rewardModel = createBanditModel(rewardModelConfig(options.online));
    const acc = () => new PolicyValueAccumulator(this.replicates);
    this.rows.push({ name: 'online', source: 'online', config: options.online, acc: acc() });
    this.rows.push({ name: 'baseline', source: 'baseline', acc: acc() });
    this.rows.push({ name: 'uniform', source: 'uniform', acc: acc() });
    for (const c of options.candidates) {
      const config = normalizeBanditConfig(c.config);
      this.rows.push({ name: c.name, source: 'custom', config, model: createBanditModel(config), acc: acc() });
    }
    if (options.namespaces && options.namespaces.length > 0) {
      this.reference = { name: 'online (replayed)', source: 'online', model: createBanditModel(options.online), acc: acc() };
      this.importanceRows.push(this.reference);
      for (const ns of options.namespaces) {
        this.importanceRows.push({ name: ns, source: 'online', drop: ns, model: createBanditModel(options.online), acc: acc() });
      }
    }
  }

  get events(): number {
    return this.n;
  }

  /** Weighs every policy on one logged event, then lets the learning ones learn from it. */
  add(e: LoggedDecision): void {
    const k = e.actions.length;
    if (k === 0 || !Number.isInteger(e.chosen) || e.chosen < 0 || e.chosen >= k || !(e.probability > 0 && e.probability <= 1 + 1e-9) || !Number.isFinite(e.reward)) {
      this.skipped++;
      return;
    }
    const q = this.rewardModel.decide(e.context, e.actions, e.eventId).scores;
    const mult = this.bootstrap.next();
    const all = this.importanceRows.length > 0 ? [...this.rows, ...this.importanceRows] : this.rows;
    // Every row's PMF is taken before any row learns from this event.
    const pmfs: ArrayLike<number>[] = [];
    for (const row of all) pmfs.push(this.pmf(row, e, k));
    for (let r = 0; r < all.length; r++) {
      const pmf = pmfs[r]!;
      let modelValue = 0;
      for (let a = 0; a < k; a++) modelValue += pmf[a]! * q[a]!;
      all[r]!.acc.add({ weight: pmf[e.chosen]! / e.probability, reward: e.reward, modelValue, modelLogged: q[e.chosen]! }, mult);
    }
    const learned = { context: e.context, actions: e.actions, chosen: e.chosen, probability: Math.min(1, e.probability), reward: e.reward, eventId: e.eventId };
    this.rewardModel.learn(learned);
    for (const row of all) {
      if (!row.model) continue;
      row.model.learn(row.drop !== undefined ? { ...learned, context: withoutNamespace(e.context, row.drop) } : learned);
    }
    this.n++;
  }

  private pmf(row: Row, e: LoggedDecision, k: number): ArrayLike<number> {
    switch (row.source) {
      case 'online':
        if (row.model) return this.modelPmf(row.model, row.drop !== undefined ? withoutNamespace(e.context, row.drop) : e.context, e);
        return e.pmf && e.pmf.length === k ? e.pmf : this.pointMass(k, e.chosen, e.probability);
      case 'baseline':
        return this.pointMass(k, e.baseline ?? 0, 1);
      case 'uniform': {
        const excluded = e.excluded?.length ?? 0;
        const out = new Float64Array(k).fill(1 / (k - excluded));
        for (const i of e.excluded ?? []) out[i] = 0;
        return out;
      }
      case 'custom':
        return this.modelPmf(row.model!, e.context, e);
    }
  }

  /** A model's PMF over the event's actions that could be chosen, as it would have decided (excluded ones at 0). */
  private modelPmf(model: BanditModel, context: Features, e: LoggedDecision): ArrayLike<number> {
    if (!e.excluded || e.excluded.length === 0) return model.pmf(context, e.actions, e.eventId);
    const skip = new Set(e.excluded);
    const allowed = e.actions.map((_, i) => i).filter((i) => !skip.has(i));
    const sub = model.pmf(context, allowed.map((i) => e.actions[i]!), e.eventId);
    const out = new Float64Array(e.actions.length);
    allowed.forEach((i, j) => { out[i] = sub[j]!; });
    return out;
  }

  /** A PMF with `p` on `index` (when `p` < 1 only that entry is known: the logged action's propensity). */
  private pointMass(k: number, index: number, p: number): Float64Array {
    const out = new Float64Array(k);
    out[index] = p;
    return out;
  }

  result(): ReplayResult {
    const policies: PolicyResult[] = this.rows.map((row) => ({
      name: row.name,
      source: row.source,
      ...(row.config ? { config: row.config } : {}),
      ...summary(row.acc.result(this.bootstrap.totals)),
    }));
    let best: string | null = null;
    let bestLower = -Infinity;
    if (this.n > 0) {
      for (const p of policies) {
        const lower = p.estimates[RANKING_ESTIMATOR].ci[0];
        if (lower > bestLower) {
          bestLower = lower;
          best = p.name;
        }
      }
    }
    const out: ReplayResult = { events: this.n, skipped: this.skipped, policies, best };
    if (this.reference) {
      const ref = this.reference.acc.result(this.bootstrap.totals).estimates[RANKING_ESTIMATOR];
      out.featureImportance = this.importanceRows.slice(1).map((row) => {
        const v = row.acc.result(this.bootstrap.totals).estimates[RANKING_ESTIMATOR];
        // The two replays share bootstrap draws, so the interval of the difference is bounded by theirs: report the conservative one.
        return { feature: row.drop!, importance: ref.value - v.value, ci: [ref.ci[0] - v.ci[1], ref.ci[1] - v.ci[0]] as [number, number] };
      }).sort((a, b) => b.importance - a.importance);
    }
    return out;
  }
}

function summary(r: PolicyEstimates): Omit<PolicyResult, 'name' | 'source' | 'config'> {
  return { events: r.events, estimates: r.estimates, effectiveSampleSize: r.effectiveSampleSize, meanWeight: r.meanWeight, maxWeight: r.maxWeight };
}

/** The evaluation's seed: a hash of the request, so the same request over the same events gives the same numbers. */
export function requestSeed(canonicalRequest: string): number {
  return murmurHash3(canonicalRequest, 0xe7a1);
}
