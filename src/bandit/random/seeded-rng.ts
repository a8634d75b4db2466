/**
 * A small seeded PRNG (xoshiro128**, seeded through splitmix32). Every random
 * choice in the engine draws from one of these, seeded from the event id, so a
 * decision can be replayed exactly.
 */
import { murmurHash3 } from '../features/murmur-hash.js';

export interface Rng {
  /** Uniform in [0, 1) with 53 bits of precision. */
  next(): number;
  /** Standard normal draw. */
  normal(): number;
  /** Poisson(1) draw (online bootstrap weights). */
  poisson1(): number;
}

/** splitmix32's output function (its state steps by 0x9e3779b9); kept as int32 so the generator's fields stay small integers (no heap numbers). */
function mix32(state: number): number {
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return z | 0;
}

/** xoshiro128**'s output function of s1. */
function starStar(s1: number): number {
  const r = Math.imul(s1, 5);
  return Math.imul((r << 7) | (r >>> 25), 9);
}

const EXP_MINUS_1 = Math.exp(-1);

export class Xoshiro128 implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare = NaN;

  constructor(seed: number) {
    // splitmix32 four times (no tuples: one generator per decision, so the hot path allocates only this object).
    const st = seed | 0;
    this.s0 = mix32((st + 0x9e3779b9) | 0);
    this.s1 = mix32((st + 2 * 0x9e3779b9) | 0);
    this.s2 = mix32((st + 3 * 0x9e3779b9) | 0);
    this.s3 = mix32((st + 4 * 0x9e3779b9) | 0);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next raw 32-bit unsigned integer. */
  nextUint32(): number {
    return this.nextInt32() >>> 0;
  }

  private nextInt32(): number {
    const s1 = this.s1;
    const r = starStar(s1);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return r;
  }

  next(): number {
    const hi = this.nextInt32() >>> 5; // 27 bits
    const lo = this.nextInt32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const s = this.spare;
      this.spare = NaN;
      return s;
    }
    // Marsaglia's polar method: no trigonometry, one log per pair.
    let u: number;
    let v: number;
    let q: number;
    do {
      u = 2 * this.next() - 1;
      v = 2 * this.next() - 1;
      q = u * u + v * v;
    } while (q >= 1 || q === 0);
    const f = Math.sqrt((-2 * Math.log(q)) / q);
    this.spare = v * f;
    return u * f;
  }

  poisson1(): number {
    // Knuth's method is exact and cheap for λ = 1 (about 2 uniforms per draw).
    let k = 0;
    let p = this.next();
    while (p > EXP_MINUS_1) {
      k++;
      p *= this.next();
    }
    return k;
  }
}

/**
 * The 32-bit seed of one event's random stream: a hash of its id and a stream tag, so every draw made for the event
 * can be replayed. The one way Focal seeds from an event id (the bandit's draws below; the image slice's sampled
 * rollouts, whose attention model has its own generator).
 */
export function eventSeed(eventId: string, stream = 0): number {
  return murmurHash3(eventId, 0x5eed0000 ^ stream);
}

/** The RNG for one event: seeded from a hash of its id (and an optional stream tag). */
export function rngForEvent(seed: string, stream = 0): Xoshiro128 {
  return new Xoshiro128(eventSeed(seed, stream));
}

/**
 * rngForEvent(seed, stream).next() without building the generator: the same number (a test checks it), for a
 * per-event coin on the hot path (the optimizer's evaluation subsample).
 */
export function firstUniform(seed: string, stream = 0): number {
  // The constructor's seeding, then next()'s two outputs: xoshiro128** reads s1, and the
  // step between the two outputs leaves s1 ^ s2 ^ s0 in s1.
  const st = eventSeed(seed, stream) | 0;
  let s0 = mix32((st + 0x9e3779b9) | 0);
  const s1 = mix32((st + 2 * 0x9e3779b9) | 0);
  const s2 = mix32((st + 3 * 0x9e3779b9) | 0);
  const s3 = mix32((st + 4 * 0x9e3779b9) | 0);
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  const hi = starStar(s1) >>> 5;
  const lo = starStar(s1 ^ s2 ^ s0) >>> 6;
  return (hi * 67108864 + lo) / 9007199254740992;
}
