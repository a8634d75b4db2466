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

function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  // Kept as int32 so the generator's fields stay small integers (no heap numbers in the hot loop).
  return [state, z | 0];
}

const EXP_MINUS_1 = Math.exp(-1);

export class Xoshiro128 implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare = NaN;

  constructor(seed: number) {
    let st = seed | 0;
    let v: number;
    [st, v] = splitmix32(st);
    this.s0 = v;
    [st, v] = splitmix32(st);
    this.s1 = v;
    [st, v] = splitmix32(st);
    this.s2 = v;
    [, v] = splitmix32(st);
    this.s3 = v;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next raw 32-bit unsigned integer. */
  nextUint32(): number {
    return this.nextInt32() >>> 0;
  }

  private nextInt32(): number {
    const s1 = this.s1;
    let r = Math.imul(s1, 5);
    r = Math.imul((r << 7) | (r >>> 25), 9);
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

/** The RNG for one event: seeded from a hash of its id (and an optional stream tag). */
export function rngForEvent(seed: string, stream = 0): Xoshiro128 {
  return new Xoshiro128(murmurHash3(seed, 0x5eed0000 ^ stream));
}
