/**
 * A small seeded PRNG (mulberry32) so that initialisation, location sampling and
 * data order can be replayed, and its state saved in a checkpoint.
 *
 * Why the attention model keeps its own generator beside the bandit engine's xoshiro128**
 * (src/bandit/random/seeded-rng.ts): its sequences define the committed data splits and test sets
 * (the seeded train/validation shuffle, the fixed translated and cluttered test canvases) and the
 * one-number RNG states inside committed training checkpoints. Another generator would silently move
 * validation images into training when a committed run resumes, and change every published test figure.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  getState(): number {
    return this.state;
  }

  setState(state: number): void {
    this.state = state >>> 0;
  }
}
