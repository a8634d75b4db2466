import type { DecisionsWriter } from './decisions-writer.js';
import type { OpResult } from './op-result.js';

/**
 * Expired windows closed per sweep op, at most. The sweep repeats while ops come back full, so it keeps up with any
 * decision rate; the batch bounds one op's time on the writer thread (it delays the decisions committed with it)
 * and the learning it hands to the event loop at once.
 */
export const SWEEP_BATCH = 128;
/**
 * The learning one sweep op hands the event loop at once is held to about this long: the next op closes as many
 * windows as took this long to learn in the ops before (at least MIN_SWEEP_BATCH). Learning a closed window costs
 * from ≈ 25 µs (a linear model) to ≈ 1 ms (the default `auto` model in its first 2,000 events, which scores every
 * candidate on each): 128 of those in one op held /decide up for 100–250 ms (bench/bandit-windows.ts, p99).
 */
const BATCH_BUDGET_MS = 5;
const MIN_SWEEP_BATCH = 8;

/**
 * The sweep: applies the default (or summed) reward to every event past its deadline, in batches (batchSize())
 * closed on the writer thread (RewardRules.closeExpired) and learned in reward-log order
 * (`effects`), one batch after another until none is left. Between batches the event loop serves requests.
 * One sweep runs at a time; src/decisions/index.ts starts one every `sweepIntervalMs`.
 */
export class WindowSweep {
  private running = false;
  /** What learning one closed window has cost lately (ms, smoothed); 0 before the first. */
  private perWindowMs = 0;
  private readonly timedEffects = (r: OpResult): void => {
    const start = this.clock();
    this.effects(r);
    const n = r.learns?.length ?? 0;
    if (n === 0) return;
    const per = (this.clock() - start) / n;
    this.perWindowMs = this.perWindowMs === 0 ? per : 0.7 * this.perWindowMs + 0.3 * per;
  };

  /** `clock`: milliseconds, what the learning's time is read from (tests pass a clock of their own). */
  constructor(private readonly writer: DecisionsWriter, private readonly effects: (r: OpResult) => void, private readonly clock: () => number = () => performance.now()) {}

  /** How many windows the next op closes: as many as BATCH_BUDGET_MS of learning, within [MIN_SWEEP_BATCH, SWEEP_BATCH]. */
  batchSize(): number {
    if (this.perWindowMs <= 0) return SWEEP_BATCH;
    return Math.max(MIN_SWEEP_BATCH, Math.min(SWEEP_BATCH, Math.floor(BATCH_BUDGET_MS / this.perWindowMs)));
  }

  /** The number of windows closed. `now`: a fixed clock (tests). */
  async run(now?: number): Promise<number> {
    if (!this.writer.isReady || this.running) return 0;
    this.running = true;
    let closed = 0;
    try {
      for (;;) {
        const limit = this.batchSize();
        const r = await this.writer.accepting().submit({ op: 'sweep', now: now ?? Date.now(), limit, ...(now !== undefined ? { fixedClock: true } : {}) }, this.timedEffects);
        const n = r.learns?.length ?? 0;
        closed += n;
        if (n < limit || !this.writer.isReady) return closed;
      }
    } finally {
      this.running = false;
    }
  }
}
