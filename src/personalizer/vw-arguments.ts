/**
 * Personalizer's learning settings are Vowpal Wabbit command lines (`PolicyContract.arguments`, e.g.
 * `--cb_explore_adf --epsilon 0.2 --dsjson --cb_type ips -l 0.5 --l1 1E-07 --power_t 0.5 -q ::`). This module maps
 * such a line onto a Focal strategy and learner, and a Focal configuration back onto a line. Each flag either maps
 * onto a parameter with the same meaning, is accepted as having no effect here (input formats, logging), or is
 * refused with a PolicyArgumentError naming it: nothing is approximated silently. The table is in the README
 * ("Azure Personalizer → Learning settings").
 *
 * The tokenizer is hand-written: VW's own grammar (boost::program_options: `--name value`, `--name=value`,
 * `-x value`, `-xvalue`) is a few lines, and no library parses it the way VW does.
 */
import { normalizeBanditConfig, type BanditConfig, type BanditConfigError, type LearnerConfig, type StrategyConfig } from '../bandit/index.js';

export class PolicyArgumentError extends Error {
  constructor(readonly flag: string, message: string) {
    super(message);
    this.name = 'PolicyArgumentError';
  }
}

/** `-q ::` and friends: every context namespace crossed with the action, Focal's personalising interaction. */
const ALL_PAIRS: string[][] = [['context', 'action']];

/** Flags that say how VW reads or logs, not what it learns: accepted, no effect on Focal. */
const NO_EFFECT = new Set(['dsjson', 'json', 'quiet', 'save_resume', 'preserve_performance_counters', 'predict_only_model', 'id']);
/** Of those, the ones that take a value. */
const NO_EFFECT_WITH_VALUE = new Set(['id']);

/** VW explorers and reductions Focal has no counterpart for, with what to use instead. */
const UNSUPPORTED: Record<string, string> = {
  first: 'explore-first is not one of Focal\'s strategies (use --epsilon, --softmax, --squarecb or --bag)',
  cover: 'online cover is not one of Focal\'s strategies (use --bag for an ensemble)',
  regcb: 'RegCB is not one of Focal\'s strategies (use --squarecb)',
  regcbopt: 'RegCB is not one of Focal\'s strategies (use --squarecb)',
  rnd: 'random network distillation is not one of Focal\'s strategies',
  synthcover: 'synthetic cover is not one of Focal\'s strategies',
  large_action_space: 'the large action space reduction is not available',
  noconstant: 'Focal\'s learners always keep the constant (bias) feature',
  initial_t: 'Focal\'s learners start the AdaGrad schedule at 0 (VW\'s default)',
  random_seed: 'Focal seeds every decision from its event id (deterministic replay), not from a global seed',
  ignore: 'namespaces are ignored by leaving them out of contextFeatures',
  ignore_linear: 'single-letter namespaces have no counterpart: use --focal_learner with ignoreLinear (namespace names)',
  cubic: 'three-way interactions are expressed with --focal_learner (interactions of three namespace names)',
  adaptive: 'the update rule is always adaptive, normalized and invariant (VW\'s default): leave these flags out',
  normalized: 'the update rule is always adaptive, normalized and invariant (VW\'s default): leave these flags out',
  invariant: 'the update rule is always adaptive, normalized and invariant (VW\'s default): leave these flags out',
  sgd: 'plain SGD is not available: the update rule is always adaptive, normalized and invariant',
  coin: 'coin betting is not available: the update rule is adaptive, normalized and invariant',
  ftrl: 'FTRL is not available: the update rule is adaptive, normalized and invariant',
  marginal: 'marginal features are not available',
  baseline: 'the baseline reduction is not available',
};

/** Short flags VW knows, by their long name. */
const SHORT: Record<string, string> = { l: 'learning_rate', q: 'quadratic', b: 'bit_precision', i: 'initial_regressor', f: 'final_regressor', c: 'cache', k: 'kill_cache', d: 'data', p: 'predictions' };

/** Flags that take no value. */
const SWITCHES = new Set(['cb_explore_adf', 'softmax', 'squarecb', 'greedify', 'dsjson', 'json', 'quiet', 'save_resume', 'preserve_performance_counters',
  'predict_only_model', 'regcb', 'regcbopt', 'synthcover', 'large_action_space', 'noconstant', 'adaptive', 'normalized', 'invariant', 'sgd', 'coin',
  'marginal', 'baseline', 'ftrl']);

/** Largest --l1 taken: below it VW's truncation moves no weight measurably, and Focal's learner has no L1 term. */
export const MAX_L1 = 1e-6;

interface Flag {
  name: string;
  shown: string;
  value?: string;
}

function tokenize(text: string): Flag[] {
  const tokens = text.trim().split(/\s+/).filter((t) => t.length > 0);
  const flags: Flag[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    let name: string;
    let inline: string | undefined;
    if (t.startsWith('--')) {
      const eq = t.indexOf('=');
      name = eq > 0 ? t.slice(2, eq) : t.slice(2);
      inline = eq > 0 ? t.slice(eq + 1) : undefined;
    } else if (/^-[A-Za-z]/.test(t)) {
      const short = t[1]!;
      name = SHORT[short] ?? short;
      inline = t.length > 2 ? t.slice(2) : undefined;
    } else {
      throw new PolicyArgumentError(t, `"${t}" is not an option (options start with - or --)`);
    }
    if (!name) throw new PolicyArgumentError(t, `"${t}" is not an option`);
    const shown = t.startsWith('--') ? `--${name}` : t.slice(0, 2);
    if (SWITCHES.has(name) || inline !== undefined) {
      flags.push({ name, shown, ...(inline !== undefined ? { value: inline } : {}) });
      continue;
    }
    const next = tokens[i + 1];
    // A value may itself start with '-' only when it is a number (e.g. --l2 -0 is still a flag value).
    if (next === undefined || (next.startsWith('-') && !/^-\d/.test(next))) {
      flags.push({ name, shown });
    } else {
      flags.push({ name, shown, value: next });
      i++;
    }
  }
  return flags;
}

function numberOf(f: Flag): number {
  if (f.value === undefined) throw new PolicyArgumentError(f.shown, `${f.shown} needs a value`);
  const v = Number(f.value);
  if (f.value.trim() === '' || !Number.isFinite(v)) throw new PolicyArgumentError(f.shown, `${f.shown} must be a number, got "${f.value}"`);
  return v;
}

function jsonOf(f: Flag): Record<string, unknown> {
  if (f.value === undefined) throw new PolicyArgumentError(f.shown, `${f.shown} needs a JSON object (no spaces), e.g. {"name":"thompson","scale":1}`);
  try {
    const v: unknown = JSON.parse(f.value);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new PolicyArgumentError(f.shown, `${f.shown} must be a JSON object without spaces, got ${f.value}`);
}

/**
 * The Focal strategy and learner of a VW command line; throws PolicyArgumentError naming the first flag that is
 * unknown, unsupported, out of range or contradicts another.
 */
export function parsePolicyArguments(text: string): BanditConfig {
  const flags = tokenize(text);
  const seen = new Set<string>();
  const explorers: Flag[] = [];
  const strategy: Record<string, unknown> = {};
  const learner: Record<string, unknown> = { name: 'linear' };
  /** Which flag set which parameter: an engine range error names the flag. */
  const origin = new Map<string, string>();
  let cbExploreAdf = false;
  let focalStrategy: Record<string, unknown> | undefined;
  let focalLearner: Record<string, unknown> | undefined;
  let interactions: string[][] | undefined;

  for (const f of flags) {
    const repeatable = f.name === 'quadratic' || f.name === 'interactions';
    if (seen.has(f.name) && !repeatable) throw new PolicyArgumentError(f.shown, `${f.shown} is given twice`);
    seen.add(f.name);
    if (UNSUPPORTED[f.name] !== undefined) throw new PolicyArgumentError(f.shown, `${f.shown} is not supported: ${UNSUPPORTED[f.name]}`);
    if (NO_EFFECT.has(f.name)) {
      if (NO_EFFECT_WITH_VALUE.has(f.name) && f.value === undefined) throw new PolicyArgumentError(f.shown, `${f.shown} needs a value`);
      if (!NO_EFFECT_WITH_VALUE.has(f.name) && f.value !== undefined) throw new PolicyArgumentError(f.shown, `${f.shown} takes no value`);
      continue;
    }
    switch (f.name) {
      case 'cb_explore_adf':
        cbExploreAdf = true;
        break;
      case 'epsilon':
        strategy.epsilon = numberOf(f);
        origin.set('/strategy/epsilon', f.shown);
        explorers.push(f);
        break;
      case 'softmax':
        explorers.push(f);
        break;
      case 'lambda':
        strategy.lambda = numberOf(f);
        origin.set('/strategy/lambda', f.shown);
        break;
      case 'squarecb':
        explorers.push(f);
        break;
      case 'gamma_scale':
        strategy.gamma = numberOf(f);
        origin.set('/strategy/gamma', f.shown);
        break;
      case 'gamma_exponent':
        strategy.gammaExponent = numberOf(f);
        origin.set('/strategy/gammaExponent', f.shown);
        break;
      case 'bag':
        strategy.bags = numberOf(f);
        origin.set('/strategy/bags', f.shown);
        explorers.push(f);
        break;
      case 'greedify':
        strategy.greedify = true;
        break;
      case 'cb_type': {
        const t = f.value;
        if (t === 'ips' || t === 'mtr') learner.importanceWeighted = true;
        else if (t === 'dm') learner.importanceWeighted = false;
        else if (t === 'dr' || t === 'sm') throw new PolicyArgumentError(f.shown, `${f.shown} ${t} is not supported: Focal's learners regress the chosen action's reward, with (ips, mtr) or without (dm) importance weights`);
        else throw new PolicyArgumentError(f.shown, `${f.shown} must be one of ips, mtr, dm${t === undefined ? '' : `, got "${t}"`}`);
        break;
      }
      case 'learning_rate':
        learner.learningRate = numberOf(f);
        origin.set('/learner/learningRate', f.shown);
        break;
      case 'power_t': {
        const p = numberOf(f);
        if (p !== 0.5) throw new PolicyArgumentError(f.shown, `${f.shown} ${f.value} is not supported: Focal's adaptive learner decays its rates as 1/√(Σg²), VW's --power_t 0.5`);
        break;
      }
      case 'l1': {
        const v = numberOf(f);
        if (v < 0 || v > MAX_L1) throw new PolicyArgumentError(f.shown, `${f.shown} must be between 0 and ${MAX_L1}: Focal's learners have no L1 term, so only a negligible truncation is taken (and has no effect)`);
        break;
      }
      case 'l2':
        learner.l2 = numberOf(f);
        origin.set('/learner/l2', f.shown);
        break;
      case 'bit_precision':
        learner.bits = numberOf(f);
        origin.set('/learner/bits', f.shown);
        break;
      case 'quadratic':
      case 'interactions': {
        if (f.value !== '::') {
          throw new PolicyArgumentError(f.shown, `${f.shown} ${f.value ?? ''} is not supported: only "::" (every namespace with the action) maps onto Focal; for named namespaces use --focal_learner with interactions`.replace('  ', ' '));
        }
        interactions = ALL_PAIRS;
        origin.set('/learner/interactions', f.shown);
        break;
      }
      case 'focal_strategy':
        focalStrategy = jsonOf(f);
        break;
      case 'focal_learner':
        focalLearner = jsonOf(f);
        break;
      default:
        throw new PolicyArgumentError(f.shown, `${f.shown} is not a supported option`);
    }
  }
  if (!cbExploreAdf) throw new PolicyArgumentError('--cb_explore_adf', 'the arguments must include --cb_explore_adf (Personalizer\'s contextual bandit with action-dependent features)');
  if (explorers.length > 1) {
    throw new PolicyArgumentError(explorers[1]!.shown, `${explorers[1]!.shown} cannot be combined with ${explorers[0]!.shown}: Focal's strategies do not mix explorers`);
  }
  if (focalStrategy && explorers.length > 0) throw new PolicyArgumentError('--focal_strategy', `--focal_strategy cannot be combined with ${explorers[0]!.shown}`);
  const explorer = explorers[0]?.name ?? 'epsilon';
  const params: Record<string, string[]> = { epsilon: ['epsilon'], softmax: ['lambda'], squarecb: ['gamma', 'gammaExponent'], bag: ['bags', 'greedify'] };
  for (const [key, flag] of [['lambda', '--lambda'], ['gamma', '--gamma_scale'], ['gammaExponent', '--gamma_exponent'], ['greedify', '--greedify']] as const) {
    if (strategy[key] !== undefined && !params[explorer]!.includes(key)) throw new PolicyArgumentError(flag, `${flag} only applies with ${key === 'lambda' ? '--softmax' : key === 'greedify' ? '--bag' : '--squarecb'}`);
  }
  let strategyInput: Record<string, unknown>;
  if (focalStrategy) strategyInput = focalStrategy;
  else if (explorer === 'softmax') strategyInput = { name: 'softmax', lambda: strategy.lambda ?? 1 };
  else if (explorer === 'squarecb') strategyInput = { name: 'squarecb', gamma: strategy.gamma ?? 10, gammaExponent: strategy.gammaExponent ?? 0.5 };
  else if (explorer === 'bag') strategyInput = { name: 'bagging', bags: strategy.bags, ...(strategy.greedify ? { greedify: true } : {}) };
  // VW's --cb_explore_adf explores with ε = 0.05 when no explorer is named.
  else strategyInput = { name: 'epsilon-greedy', epsilon: strategy.epsilon ?? 0.05 };

  let learnerInput: Record<string, unknown>;
  if (focalLearner) {
    const vwLearnerFlags = [...origin.entries()].filter(([path]) => path.startsWith('/learner/'));
    if (vwLearnerFlags.length > 0 || learner.importanceWeighted !== undefined) {
      throw new PolicyArgumentError('--focal_learner', `--focal_learner cannot be combined with ${vwLearnerFlags[0]?.[1] ?? '--cb_type'}: put every learner parameter in it`);
    }
    learnerInput = focalLearner;
  } else if (focalStrategy && learner.importanceWeighted === undefined && ![...origin.keys()].some((path) => path.startsWith('/learner/'))) {
    // No learner flag: the strategy's own default learner (Thompson sampling and LinUCB need a posterior).
    learnerInput = {};
  } else {
    // Without -q VW learns no interactions; Focal's linear learner would otherwise default to context × action.
    learnerInput = { ...learner, interactions: interactions ?? [] };
  }
  try {
    return normalizeBanditConfig({ strategy: strategyInput, learner: learnerInput });
  } catch (err) {
    const e = err as BanditConfigError;
    if (e.name !== 'BanditConfigError') throw err;
    const flag = origin.get(e.path) ?? (e.path.startsWith('/strategy') ? (focalStrategy ? '--focal_strategy' : explorers[0]?.shown ?? '--epsilon') : focalLearner ? '--focal_learner' : '--cb_explore_adf');
    throw new PolicyArgumentError(flag, `${flag}: ${e.message}`);
  }
}

/** `n` as VW prints a float argument (plain decimal, shortest round trip). */
function num(n: number): string {
  return String(n);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * A VW command line for a Focal configuration that parsePolicyArguments maps back onto exactly that configuration:
 * VW's own flags where they exist, `--focal_strategy {…}` / `--focal_learner {…}` (JSON without spaces) for what
 * VW cannot say (Thompson sampling, LinUCB, neural-linear, a probability floor, named interactions, Bayesian learners).
 */
export function formatPolicyArguments(config: BanditConfig): string {
  const out = ['--cb_explore_adf'];
  const s: StrategyConfig = config.strategy;
  if (s.minProbability !== undefined) out.push('--focal_strategy', JSON.stringify(s));
  else if (s.name === 'epsilon-greedy') out.push('--epsilon', num(s.epsilon));
  else if (s.name === 'softmax') out.push('--softmax', '--lambda', num(s.lambda));
  else if (s.name === 'squarecb') out.push('--squarecb', '--gamma_scale', num(s.gamma), '--gamma_exponent', num(s.gammaExponent ?? 0.5));
  else if (s.name === 'bagging') out.push('--bag', num(s.bags), ...(s.greedify ? ['--greedify'] : []));
  else out.push('--focal_strategy', JSON.stringify(s));

  const l: LearnerConfig = config.learner;
  const vwInteractions = l.interactions === undefined || l.interactions.length === 0 || sameJson(l.interactions, ALL_PAIRS);
  if (l.name === 'linear' && vwInteractions && (l.ignoreLinear === undefined || l.ignoreLinear.length === 0)) {
    out.push('--cb_type', l.importanceWeighted === false ? 'dm' : 'mtr');
    if (l.learningRate !== undefined) out.push('-l', num(l.learningRate));
    out.push('--power_t', '0.5');
    if (l.bits !== undefined) out.push('-b', num(l.bits));
    if (l.l2) out.push('--l2', num(l.l2));
    if (l.interactions?.length) out.push('-q', '::');
  } else {
    out.push('--focal_learner', JSON.stringify(l));
  }
  return out.join(' ');
}
