/**
 * A tiny little-endian binary writer/reader for snapshots. Floats are written
 * at their stored width so a restored model is bitwise equal to the original.
 */
export class SnapshotWriter {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  private n = 0;

  private ensure(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.n, v >>> 0, true);
    this.n += 4;
  }

  f32(v: number): void {
    this.ensure(4);
    this.view.setFloat32(this.n, v, true);
    this.n += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.n, v, true);
    this.n += 8;
  }

  f64Array(a: Float64Array): void {
    this.u32(a.length);
    this.ensure(a.length * 8);
    for (let i = 0; i < a.length; i++) {
      this.view.setFloat64(this.n, a[i]!, true);
      this.n += 8;
    }
  }

  string(s: string): void {
    const bytes = new TextEncoder().encode(s);
    this.u32(bytes.length);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.n);
    this.n += bytes.length;
  }

  /** Bytes as they are, no length (a block a caller laid out in this format itself, e.g. with typed-array views). */
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  /** A length-prefixed byte string (a nested snapshot). */
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

export class SnapshotReader {
  private readonly view: DataView;
  private n = 0;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private need(k: number): void {
    if (this.n + k > this.data.length) throw new SnapshotFormatError('snapshot is truncated');
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.n, true);
    this.n += 4;
    return v;
  }

  f32(): number {
    this.need(4);
    const v = this.view.getFloat32(this.n, true);
    this.n += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.n, true);
    this.n += 8;
    return v;
  }

  f64Array(expectedLength?: number): Float64Array {
    const len = this.u32();
    if (expectedLength !== undefined && len !== expectedLength) {
      throw new SnapshotFormatError(`snapshot array has length ${len}, expected ${expectedLength} (config changed?)`);
    }
    this.need(len * 8);
    const out = new Float64Array(len);
    for (let i = 0; i < len; i++) {
      out[i] = this.view.getFloat64(this.n, true);
      this.n += 8;
    }
    return out;
  }

  bytes(): Uint8Array {
    const len = this.u32();
    this.need(len);
    const out = this.data.slice(this.n, this.n + len);
    this.n += len;
    return out;
  }

  string(): string {
    const len = this.u32();
    this.need(len);
    const s = new TextDecoder().decode(this.data.subarray(this.n, this.n + len));
    this.n += len;
    return s;
  }

  get done(): boolean {
    return this.n === this.data.length;
  }
}

/** Thrown when a snapshot cannot be read back (corrupt, truncated, or written for another config). */
export class SnapshotFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotFormatError';
  }
}
