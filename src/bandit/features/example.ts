/**
 * A sparse hashed example: parallel arrays of 32-bit feature hashes and values.
 * Buffers are reused across calls so the decide/learn hot path does not allocate.
 */
export class Example {
  idx: Int32Array;
  val: Float64Array;
  n = 0;
  /** Set by the encoder: where the context's linear features end (after the constant and context). */
  contextEnd = 0;
  /** Set by the encoder: where the action's linear features end (interactions follow). */
  linearEnd = 0;
  /** Set by the encoder: the action's id (per-action heads key on it). */
  actionId = '';

  constructor(capacity = 64) {
    this.idx = new Int32Array(capacity);
    this.val = new Float64Array(capacity);
  }

  clear(): void {
    this.n = 0;
  }

  push(index: number, value: number): void {
    if (this.n === this.idx.length) this.grow();
    this.idx[this.n] = index;
    this.val[this.n] = value;
    this.n++;
  }

  /** Makes room for `capacity` features in total (callers then write idx/val directly). */
  reserve(capacity: number): void {
    while (this.idx.length < capacity) this.grow();
  }

  /** Appends src[start..end). */
  append(src: Example, start: number, end: number): void {
    this.reserve(this.n + end - start);
    // A plain loop: subarray() views would allocate on the hot path.
    const idx = this.idx;
    const val = this.val;
    const sIdx = src.idx;
    const sVal = src.val;
    let n = this.n;
    for (let i = start; i < end; i++) {
      idx[n] = sIdx[i]!;
      val[n] = sVal[i]!;
      n++;
    }
    this.n = n;
  }

  private grow(): void {
    const idx = new Int32Array(this.idx.length * 2);
    idx.set(this.idx);
    const val = new Float64Array(this.val.length * 2);
    val.set(this.val);
    this.idx = idx;
    this.val = val;
  }
}
