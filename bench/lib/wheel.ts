/**
 * The wheel bandit of Riquelme, Tucker & Snoek 2018 (§5; their synthetic_data_sampler.py), seeded: used by
 * bench/wheel.ts and by the learners' tests. A context is a point drawn uniformly from the unit disc, sent as
 * {"x": …, "y": …}; 5 actions. Action a4 pays N(1.2, σ²) everywhere; a0–a3 pay N(1.0, σ²), except that outside
 * the radius δ the action of the point's quadrant (x>0,y>0: a0; x>0,y≤0: a1; x≤0,y>0: a2; else a3) pays
 * N(50, 0.01²). σ = 0.01 (the paper's text). Regret of a round: the optimal action's drawn reward minus the
 * chosen action's drawn reward (as the paper); the uniform policy's is its expectation over the actions.
 */
import { createBanditModel, type ActionInput, type BanditConfigInput } from '../../src/bandit/index.js';
import { Xoshiro128 } from '../../src/bandit/random/seeded-rng.js';

export interface WheelRound {
  x: number;
  y: number;
  /** The drawn reward of every action this round. */
  rewards: number[];
  optimal: number;
}

/** One wheel stream of `n` rounds for a radius `delta`, seeded. */
export function wheelStream(delta: number, n: number, seed: number): WheelRound[] {
  const rng = new Xoshiro128(seed);
  const out: WheelRound[] = [];
  const sigma = 0.01;
  while (out.length < n) {
    const x = 2 * rng.next() - 1;
    const y = 2 * rng.next() - 1;
    if (x * x + y * y > 1) continue;
    const rewards = [1, 1, 1, 1, 1.2].map((m) => m + sigma * rng.normal());
    let optimal = 4;
    if (Math.hypot(x, y) >= delta) {
      optimal = x > 0 ? (y > 0 ? 0 : 1) : y > 0 ? 2 : 3;
      rewards[optimal] = 50 + 0.01 * rng.normal();
    }
    out.push({ x, y, rewards, optimal });
  }
  return out;
}

export const WHEEL_ACTIONS: ActionInput[] = ['a0', 'a1', 'a2', 'a3', 'a4'].map((id) => ({ id }));

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export interface WheelRun {
  regret: number;
  /** The uniform policy's expected regret on the same stream. */
  uniform: number;
  /**
   * The slowest single decide() and learn() calls, in milliseconds of this process's CPU time (process.cpuUsage:
   * what the call itself cost, not the time other processes on a shared machine held the core).
   */
  slowestDecide: number;
  slowestLearn: number;
}

/** Cumulative regret of a model on a stream, the uniform policy's expected regret on it, and the slowest calls. */
export function wheelRegret(config: BanditConfigInput, stream: readonly WheelRound[], tag: string): WheelRun {
  const model = createBanditModel(config);
  const run: WheelRun = { regret: 0, uniform: 0, slowestDecide: 0, slowestLearn: 0 };
  for (let t = 0; t < stream.length; t++) {
    const r = stream[t]!;
    const context = { x: r.x, y: r.y };
    const eventId = `${tag}-${t}`;
    const t0 = cpuMs();
    const d = model.decide(context, WHEEL_ACTIONS, eventId);
    const t1 = cpuMs();
    const best = r.rewards[r.optimal]!;
    run.regret += best - r.rewards[d.chosen]!;
    run.uniform += best - r.rewards.reduce((s, v) => s + v, 0) / r.rewards.length;
    model.learn({ context, actions: WHEEL_ACTIONS, chosen: d.chosen, probability: d.probability, reward: r.rewards[d.chosen]!, eventId });
    const t2 = cpuMs();
    run.slowestDecide = Math.max(run.slowestDecide, t1 - t0);
    run.slowestLearn = Math.max(run.slowestLearn, t2 - t1);
  }
  return run;
}

/** Normalised cumulative regret (uniform = 100) of a config on one seeded stream, with the run's slowest calls. */
export function wheelTrial(config: BanditConfigInput, delta: number, horizon: number, seed: number): WheelRun & { normalised: number } {
  const run = wheelRegret(config, wheelStream(delta, horizon, seed), `w${seed}`);
  return { ...run, normalised: (100 * run.regret) / run.uniform };
}

/** Normalised cumulative regret (uniform = 100) of a config on one seeded stream. */
export function normalisedWheelRegret(config: BanditConfigInput, delta: number, horizon: number, seed: number): number {
  return wheelTrial(config, delta, horizon, seed).normalised;
}
