/**
 * The optimizer's false-switch rate (`npm run bench:auto-aa`): seeded A/A runs in which every action pays
 * Bernoulli(0.5) whatever the context, so every candidate is worth exactly the same and any switch is one on noise.
 * Prints, per number of actions, how many runs switched, when, and to what; the rate to compare with is
 * 1 − `confidence` (0.001 by default).
 */
import { createBanditModel, type ActionInput, type Features } from '../src/bandit/index.js';
import { Xoshiro128 } from '../src/bandit/random/seeded-rng.js';
import { benchArgs } from './lib/cli.js';

const args = benchArgs({
  actions: { type: 'string', default: '2,5,10', help: 'comma-separated numbers of actions' },
  seeds: { type: 'number', default: 20, help: 'runs per number of actions' },
  events: { type: 'number', default: 10000, help: 'events per run' },
  confidence: { type: 'number', help: "the optimizer's confidence (default: the strategy's)" },
});

for (const k of args.actions.split(',').map(Number)) {
  const actions: ActionInput[] = Array.from({ length: k }, (_, i) => ({ id: `a${i}` }));
  const switches: string[] = [];
  const started = process.hrtime.bigint();
  for (let seed = 1; seed <= args.seeds; seed++) {
    const model = createBanditModel({ strategy: { name: 'auto', ...(args.confidence !== undefined ? { confidence: args.confidence } : {}) } });
    const rng = new Xoshiro128(seed);
    for (let t = 0; t < args.events; t++) {
      const context: Features = { u: { a: rng.next(), b: rng.next() < 0.5 ? 'x' : 'y' }, v: rng.next() };
      const reward = rng.next() < 0.5 ? 1 : 0;
      const eventId = `aa-${k}-${seed}-${t}`;
      const d = model.decide(context, actions, eventId);
      model.learn({ context, actions, chosen: d.chosen, probability: d.probability, reward, eventId });
    }
    const first = model.optimizerStatus!().history[0];
    if (first) switches.push(`seed ${seed} at event ${first.event} to ${first.to}`);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`${k} actions: ${switches.length} of ${args.seeds} runs switched on noise (${args.events} events each, ${seconds.toFixed(1)} s)`);
  for (const s of switches) console.log(`  ${s}`);
}
