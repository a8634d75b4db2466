import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

/** Random bytes for ids, drawn from the CSPRNG in bulk: one draw per id costs a native call each (≈ 5-30 µs here). */
const POOL_IDS = 256;
const pool = new Uint8Array(16 * POOL_IDS);
let next = pool.length;

function random16(): Uint8Array {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return pool.subarray(next, (next += 16));
}

/**
 * A new event id: a UUIDv7, i.e. time-ordered, so the unique index on
 * event ids grows at its right edge instead of touching a random page per
 * event (bench: the writer's CPU per decision fell by a third on a log of
 * 100k events). Ids made within one millisecond are ordered randomly among
 * themselves, which keeps that locality.
 */
export function newEventId(): string {
  return v7({ random: random16() });
}
