/**
 * The wheel bandit (Riquelme, Tucker & Snoek 2018, §5 and their synthetic_data_sampler.py), npm run bench:wheel.
 * Prints normalised cumulative regret per δ and strategy (uniform = 100, lower is better), means over seeded
 * trials. Asserts nothing.
 *
 * The generator and the regret are in bench/lib/wheel.ts.
 *
 * The paper's protocol (Riquelme et al. 2018 and their deep_contextual_bandits code): 5 actions, contexts uniform
 * on the unit disc, rewards N(1.0, σ²) for a0–a3 and N(1.2, σ²) for a4, N(50, 0.01²) for the quadrant's action
 * outside δ, σ = 0.01 (the paper's text; their example_main.py uses 0.05), δ ∈ {0.5, 0.7, 0.9, 0.95, 0.99}, each
 * figure the mean over 50 independent trials. NeuralLinear there: a ReLU network (layer_sizes [50] in
 * example_main.py) retrained every 50 events for 100 minibatches of 512 (RMSProp, lr 0.1 with inverse-time
 * decay, gradient norm clipped at 5), Bayesian linear heads with a0 = b0 = 6, λ = 0.25, 2 initial round-robin pulls
 * per action. Regret as theirs: per round, the optimal action's drawn reward minus the chosen one's (realised, not
 * expected), summed, over Uniform's (here its expectation on the same stream: equal in expectation, less noisy).
 * The horizon is not in their code (example_main.py samples num_contexts = 2000 for a demo run): public scripts that
 * reproduce their wheel table (δ ∈ {0.5, 0.7, 0.9, 0.95, 0.99}, σ = 0.01, regret normalised by Uniform's) draw 50
 * datasets of 80,000 contexts each, and at 5,000 rounds a replica of their own NeuralLinear (their example_main.py
 * hyperparameters, in TypeScript) scored 4.75 at δ = 0.5 on our streams, against the 0.95 they publish: the
 * published figures are long-run ones. --paper therefore runs 80,000 rounds × 50 trials (about 3–4 hours of CPU
 * for neural-linear: pass --trials=N for fewer).
 *
 * Options: --horizon=2000 --trials=5 --deltas=0.5,0.7,0.9,0.95,0.99 --only=name[,name] --seed=1
 *          --paper: the paper's protocol (--horizon=80000 --trials=50); its NeuralLinear figures are printed
 *          beside ours.
 * Each cell: mean ± standard deviation over the trials; the last columns give the run's wall time and the
 * slowest single decide() and learn() call (milliseconds of this process's CPU time).
 */
import { defaultBanditConfig, type BanditConfigInput } from '../src/bandit/index.js';
import { benchArgs } from './lib/cli.js';
import { wheelTrial } from './lib/wheel.js';

const opts = benchArgs({
  horizon: { type: 'number', help: 'rounds per trial (default 2000; 80000 with --paper)' },
  trials: { type: 'number', help: 'seeded trials per δ (default 5; 50 with --paper)' },
  deltas: { type: 'string', default: '0.5,0.7,0.9,0.95,0.99', help: 'radii, comma-separated' },
  only: { type: 'string', help: 'strategies, comma-separated' },
  seed: { type: 'number', default: 1 },
  paper: { type: 'boolean', help: "the paper's protocol: 80,000 rounds, 50 trials" },
});
const HORIZON = opts.horizon ?? (opts.paper ? 80000 : 2000);
const TRIALS = opts.trials ?? (opts.paper ? 50 : 5);
const DELTAS = opts.deltas.split(',').map(Number);
const SEED = opts.seed;
const only = opts.only?.split(',');

/** NeuralLinear's normalised cumulative regret in Riquelme et al. 2018 (Table 3), by δ. */
const PUBLISHED_NEURAL_LINEAR: Record<string, number> = { '0.5': 0.95, '0.7': 1.6, '0.9': 4.65, '0.95': 9.56, '0.99': 49.63 };

/**
 * neural-linear's own figures at 80,000 rounds (20 trials per δ, seeds 1 and 2 of --trials=10, 2026-12-03, replay
 * buffer of 8,192; README's wheel section), printed beside the paper's with --paper as the mark a change must not lose.
 */
const MEASURED_NEURAL_LINEAR: Record<string, number> = { '0.5': 0.59, '0.7': 0.99, '0.9': 2.97, '0.95': 5.14, '0.99': 23.23 };

const STRATEGIES: { name: string; config: BanditConfigInput }[] = [
  { name: 'neural-linear', config: { strategy: { name: 'neural-linear' } } },
  { name: 'thompson', config: { strategy: { name: 'thompson' } } },
  { name: 'linucb', config: { strategy: { name: 'linucb' } } },
  { name: 'default', config: defaultBanditConfig() },
];

function main(): void {
  const rows = STRATEGIES.filter((s) => !only || only.includes(s.name));
  console.log(`\nWheel bandit: normalised cumulative regret (uniform = 100; lower is better), ${HORIZON} rounds, mean ± sd over ${TRIALS} seeded trials\n`);
  const head = ['strategy'.padEnd(21), ...DELTAS.map((d) => `δ=${d}`.padEnd(16)), 'seconds'.padEnd(9), 'slowest decide / learn (CPU ms)'];
  console.log(head.join(''));
  for (const s of rows) {
    const t0 = performance.now();
    const cells: string[] = [];
    let slowestDecide = 0;
    let slowestLearn = 0;
    for (const delta of DELTAS) {
      const scores: number[] = [];
      for (let trial = 0; trial < TRIALS; trial++) {
        const seed = SEED * 1_000_003 + Math.round(delta * 1000) * 7919 + trial;
        const run = wheelTrial(s.config, delta, HORIZON, seed);
        scores.push(run.normalised);
        // Progress on stderr: a --paper run takes hours, and the table prints a row only when its strategy is done.
        process.stderr.write(`${s.name} δ=${delta} trial ${trial + 1}/${TRIALS}: ${run.normalised.toFixed(2)}\n`);
        slowestDecide = Math.max(slowestDecide, run.slowestDecide);
        slowestLearn = Math.max(slowestLearn, run.slowestLearn);
      }
      const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
      const sd = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, scores.length - 1));
      cells.push(`${mean.toFixed(2)} ± ${sd.toFixed(2)}`.padEnd(16));
    }
    const seconds = ((performance.now() - t0) / 1000).toFixed(1).padEnd(9);
    console.log([s.name.padEnd(21), ...cells, seconds, `${slowestDecide.toFixed(1)} / ${slowestLearn.toFixed(1)}`].join(''));
  }
  if (HORIZON === 80000) console.log(['neural-linear (README)'.padEnd(21), ...DELTAS.map((d) => `${MEASURED_NEURAL_LINEAR[String(d)] ?? '—'}`.padEnd(16))].join(''));
  console.log(['NeuralLinear (paper)'.padEnd(21), ...DELTAS.map((d) => `${PUBLISHED_NEURAL_LINEAR[String(d)] ?? '—'}`.padEnd(16))].join(''));
}

main();
