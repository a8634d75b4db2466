/**
 * The range of the rewards learned so far, kept in one place: a model owns one, its strategies read its scale,
 * a model with a single linear learner shares it with that learner (which clips its predictions to it and steps
 * in its units), and the automatic optimizer shares one across all its candidates and its drift signal (they all
 * learn every event, so they all saw the same rewards).
 */
export class RewardRange {
  /** Smallest and largest reward observed (±Infinity before the first). */
  min = Infinity;
  max = -Infinity;

  observe(reward: number): void {
    if (reward < this.min) this.min = reward;
    if (reward > this.max) this.max = reward;
  }

  /** max − min: above 0 once two different rewards were seen. */
  get span(): number {
    return this.max - this.min;
  }

  /** The range with 0 (a learner predicts 0 before it has learned): the learner's clip bounds. */
  get low(): number {
    return this.min < 0 ? this.min : 0;
  }

  get high(): number {
    return this.max > 0 ? this.max : 0;
  }

  /**
   * 1 / (high − low) when the range exceeds [0, 1], else 1: softmax's λ and SquareCB's γ are stated for rewards in
   * [0, 1], so they see score gaps in units of the observed range and behave the same for rewards in [0, 1],
   * [−1, 1] or [1, 50].
   */
  get scale(): number {
    const range = this.high - this.low;
    return range > 1 ? 1 / range : 1;
  }
}
