import type { DecisionsWriter } from './decisions-writer.js';
import type { OpResult } from './op-result.js';

/**
 * Expired windows closed per sweep op. The sweep repeats while ops come back full, so it keeps up with any
 * decision rate; the batch bounds one op's time on the writer thread (it delays the decisions committed with it)
 * and the learning it hands to the event loop at once (≈ 25 µs per event for the default model with 10 actions × 20 features: ≈ 3 ms a batch).
 */
export const SWEEP_BATCH = 128;

/**
 * The sweep: applies the default (or summed) reward to every event past its deadline, in batches of
 * SWEEP_BATCH closed on the writer thread (RewardRules.closeExpired) and learned in reward-log order
 * (`effects`), one batch after another until none is left. Between batches the event loop serves requests.
 * One sweep runs at a time; src/decisions/index.ts starts one every `sweepIntervalMs`.
 */
export class WindowSweep {
  private running = false;

  constructor(private readonly writer: DecisionsWriter, private readonly effects: (r: OpResult) => void) {}

  /** The number of windows closed. `now`: a fixed clock (tests). */
  async run(now?: number): Promise<number> {
    if (!this.writer.isReady || this.running) return 0;
    this.running = true;
    let closed = 0;
    try {
      for (;;) {
        const r = await this.writer.accepting().submit({ op: 'sweep', now: now ?? Date.now(), limit: SWEEP_BATCH, ...(now !== undefined ? { fixedClock: true } : {}) }, this.effects);
        const n = r.learns?.length ?? 0;
        closed += n;
        if (n < SWEEP_BATCH || !this.writer.isReady) return closed;
      }
    } finally {
      this.running = false;
    }
  }
}
