/**
 * The learning benchmark suite (npm run bench:suite): progressive reward of Focal's strategies and of
 * Vowpal Wabbit 9.11.2 on the same streams, means over seeds. Prints tables, asserts nothing.
 *
 * Streams (bench/suite/streams.ts): MNIST as a bandit, the wheel bandit at δ = 0.5 … 0.99 (normalised
 * cumulative regret, uniform = 100, lower is better), a drift stream, a linear problem with a known optimum,
 * and classification data sets that npm packages ship (iris, penguins, cars, seattle-weather, movies).
 * Every figure is the mean over seeds (each seed reorders the data set or draws a new stream, and seeds
 * the sampling), ± the standard deviation across seeds.
 *
 * VW (bench/suite/vw.ts): the binary at $FOCAL_VW or /tmp/vw/build/vowpalwabbit/cli/vw, skipped with a
 * message when absent. `vw default` is `--cb_explore_adf --epsilon 0.05 -q ca` (context × action: without
 * it VW has nothing that tells the actions apart); `vw best` is the best setting of a grid picked in
 * hindsight per stream (exploration × interactions, × learning rate with --full).
 *
 * Options (--help lists them): --full (longer streams, 10 seeds, the larger VW grid), --seeds N, --streams name,…
 * (prefix match), --strategies name,…, --no-vw. Small settings by default (about a minute or two on a quiet core).
 */
import { setPriority } from 'node:os';
import {
  createBanditModel,
  defaultBanditConfig,
  squareCbBanditConfig,
  type BanditConfigInput,
} from '../../src/bandit/index.js';
import { benchArgs } from '../lib/cli.js';
import { STREAMS, type Stream } from './streams.js';
import { runVw, vwBinary } from './vw.js';

const args = benchArgs({
  full: { type: 'boolean', help: 'longer streams, 10 seeds, the larger VW grid' },
  seeds: { type: 'number', help: 'seeds per stream (default 3, 10 with --full)' },
  streams: { type: 'string', help: 'comma-separated stream name prefixes' },
  strategies: { type: 'string', help: 'comma-separated Focal strategies' },
  'no-vw': { type: 'boolean', help: 'Focal alone, even when a VW binary is found' },
});
const FULL = args.full;
const SEEDS = args.seeds ?? (FULL ? 10 : 3);
const streamFilter = args.streams?.split(',');
const strategyFilter = args.strategies?.split(',');

try {
  setPriority(10); // a shared machine: the suite yields to interactive work
} catch { /* not permitted: run at the current priority */ }

interface Runner {
  name: string;
  /** Runs one stream with one seed; resolves to the chosen action of every round. */
  run(stream: Stream, seed: number): Promise<number[]> | number[];
  /** Left out on streams with this many context features or more (quadratic terms would be too slow). */
  maxFeatures?: number;
}

function focal(name: string, config: BanditConfigInput, maxFeatures?: number): Runner {
  return {
    name, maxFeatures,
    run: (stream, seed) => {
      const model = createBanditModel(config);
      const chosen: number[] = [];
      stream.rounds.forEach((r, t) => {
        const eventId = `${stream.name}-${seed}-${t}`;
        const d = model.decide(r.context, r.actions, eventId);
        chosen.push(d.chosen);
        model.learn({ context: r.context, actions: r.actions, chosen: d.chosen, probability: d.probability, reward: r.realized[d.chosen]!, eventId });
      });
      return chosen;
    },
  };
}

const FOCAL: Runner[] = [
  focal('default', defaultBanditConfig()), // automatic optimization (strategy auto)
  focal('standardized', { strategy: { name: 'squarecb' }, learner: { name: 'linear', standardize: true } }), // auto's start on narrow contexts
  focal('squarecb', squareCbBanditConfig()), // the default before it
  focal('eps-greedy', { strategy: { name: 'epsilon-greedy', epsilon: 0.05 } }),
  focal('quadratic', { strategy: { name: 'squarecb' }, learner: { name: 'linear', interactions: [['context', 'action'], ['context', 'context', 'action']] } }, 50),
  focal('thompson', { strategy: { name: 'thompson' } }),
  focal('neural-linear', { strategy: { name: 'neural-linear' } }),
];

const vw = args['no-vw'] ? undefined : vwBinary();
const VW_GRID: { name: string; args: string[]; maxFeatures?: number }[] = [];
if (vw) {
  const explore = [['--epsilon', '0.05'], ['--squarecb']];
  const terms: { name: string; args: string[]; maxFeatures?: number }[] = [
    { name: 'q', args: ['-q', 'ca'] },
    // per-action quadratic context terms: c×c×a (too slow on MNIST's ~150 pixels a row)
    { name: 'cubic', args: ['-q', 'ca', '--cubic', 'cca'], maxFeatures: 50 },
  ];
  const rates = FULL ? [[], ['-l', '0.1'], ['-l', '2']] : [[]];
  for (const e of explore) for (const t of terms) for (const l of rates) {
    VW_GRID.push({ name: [e.join(' '), t.name, l.join(' ')].filter(Boolean).join(' '), args: ['--cb_explore_adf', ...e, ...t.args, ...l], maxFeatures: t.maxFeatures });
  }
}

function score(stream: Stream, chosen: number[]): number {
  if (stream.metric === 'regret') {
    let regret = 0;
    let uniform = 0;
    stream.rounds.forEach((r, t) => {
      const best = Math.max(...r.expected);
      regret += best - r.expected[chosen[t]!]!;
      uniform += best - r.expected.reduce((s, v) => s + v, 0) / r.expected.length;
    });
    return (100 * regret) / uniform;
  }
  let total = 0;
  stream.rounds.forEach((r, t) => { total += r.realized[chosen[t]!]!; });
  return total / stream.rounds.length;
}

function phases(stream: Stream, chosen: number[]): number[] {
  const cuts = [0, ...(stream.changes ?? []), stream.rounds.length];
  const out: number[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    let total = 0;
    for (let t = cuts[i]!; t < cuts[i + 1]!; t++) total += stream.rounds[t]!.realized[chosen[t]!]!;
    out.push(total / (cuts[i + 1]! - cuts[i]!));
  }
  return out;
}

function meanSd(xs: number[]): { mean: number; sd: number } {
  const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, v) => s + (v - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
}

function fmt(xs: number[] | undefined, metric: 'reward' | 'regret'): string {
  if (!xs || xs.length === 0) return '-';
  const { mean, sd } = meanSd(xs);
  return metric === 'regret' ? `${mean.toFixed(1)}±${sd.toFixed(1)}` : `${mean.toFixed(3)}±${sd.toFixed(3)}`;
}

/** The best policy's mean expected reward (regret: 0 by definition). */
function optimal(metric: 'reward' | 'regret', streams: Stream[]): string {
  if (metric === 'regret') return '0';
  const per = streams.map((s) => s.rounds.reduce((sum, r) => sum + Math.max(...r.expected), 0) / s.rounds.length);
  return meanSd(per).mean.toFixed(3);
}

function featureCount(stream: Stream): number {
  const count = (o: object): number => Object.values(o).reduce<number>((s, v) => s + (v !== null && typeof v === 'object' ? count(v as object) : 1), 0);
  return Math.max(...stream.rounds.slice(0, 50).map((r) => count(r.context)));
}

async function main(): Promise<void> {
  const runners = FOCAL.filter((r) => !strategyFilter || strategyFilter.includes(r.name));
  const specs = STREAMS.filter((s) => !streamFilter || streamFilter.some((f) => s.name.startsWith(f)));
  console.log(`\nBenchmark suite: ${SEEDS} seeds${FULL ? ' (--full)' : ''}; reward = mean progressive reward (higher is better), wheel = normalised cumulative regret (uniform = 100, lower is better)`);
  if (!vw) console.log(args['no-vw'] ? 'VW: skipped (--no-vw)' : 'VW: no binary at $FOCAL_VW or /tmp/vw/build/vowpalwabbit/cli/vw, skipped (Focal alone)');
  else console.log(`VW 9.11.2 grid (${VW_GRID.length} settings): ${VW_GRID.map((g) => g.name).join(' | ')}`);
  const columns = [...runners.map((r) => r.name), ...(vw ? ['vw default', 'vw best'] : [])];
  const width = 16;
  console.log(`\n${'stream'.padEnd(18)}${'rounds'.padEnd(8)}${'optimal'.padEnd(9)}${columns.map((c) => c.padEnd(width)).join('')}${vw ? 'vw best setting' : ''}`);
  const driftRows: string[] = [];
  for (const spec of specs) {
    const streams = Array.from({ length: SEEDS }, (_, seed) => spec.build(seed, FULL));
    const features = featureCount(streams[0]!);
    const cells: string[] = [];
    const phaseCells: string[] = [];
    for (const r of runners) {
      if (r.maxFeatures !== undefined && features >= r.maxFeatures) { cells.push('-'); continue; }
      const results: number[] = [];
      const ph: number[][] = [];
      for (let seed = 0; seed < SEEDS; seed++) {
        const chosen = await r.run(streams[seed]!, seed);
        results.push(score(streams[seed]!, chosen));
        if (streams[seed]!.changes) ph.push(phases(streams[seed]!, chosen));
      }
      cells.push(fmt(results, spec.metric));
      if (ph.length) phaseCells.push(`${r.name}: ${ph[0]!.map((_, i) => meanSd(ph.map((p) => p[i]!)).mean.toFixed(3)).join(' / ')}`);
    }
    let best = '';
    if (vw) {
      let bestMean = spec.metric === 'regret' ? Infinity : -Infinity;
      let bestCell = '-';
      let defaultCell = '-';
      for (const g of VW_GRID) {
        if (g.maxFeatures !== undefined && features >= g.maxFeatures) continue;
        const results: number[] = [];
        const ph: number[][] = [];
        for (let seed = 0; seed < SEEDS; seed++) {
          const chosen = await runVw(vw, g.args, streams[seed]!, seed);
          results.push(score(streams[seed]!, chosen));
          if (streams[seed]!.changes) ph.push(phases(streams[seed]!, chosen));
        }
        const m = meanSd(results).mean;
        if (g === VW_GRID[0]) {
          defaultCell = fmt(results, spec.metric);
          if (ph.length) phaseCells.push(`vw default: ${ph[0]!.map((_, i) => meanSd(ph.map((p) => p[i]!)).mean.toFixed(3)).join(' / ')}`);
        }
        if (spec.metric === 'regret' ? m < bestMean : m > bestMean) {
          bestMean = m;
          bestCell = fmt(results, spec.metric);
          best = g.name;
        }
      }
      cells.push(defaultCell, bestCell);
    }
    console.log(`${spec.name.padEnd(18)}${String(streams[0]!.rounds.length).padEnd(8)}${optimal(spec.metric, streams).padEnd(9)}${cells.map((c) => c.padEnd(width)).join('')}${best}`);
    if (phaseCells.length) driftRows.push(`${spec.name} (mean reward per phase; optimal 0.9): ${phaseCells.join(', ')}`);
  }
  for (const row of driftRows) console.log(`\n${row}`);
}

await main();
