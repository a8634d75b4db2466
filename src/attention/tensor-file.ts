import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';

/** A named float32 tensor read back from disk. */
export interface StoredTensor {
  shape: number[];
  values: Float32Array;
}

interface Manifest {
  format: 'focal-tensors-v1';
  dtype: 'float32';
  tensors: { name: string; shape: number[]; offset: number; length: number }[];
}

/** Writes `<base>.bin` (little-endian float32, concatenated) and `<base>.json` (names, shapes, offsets). */
export async function writeTensors(dir: string, base: string, tensors: [string, tf.Tensor][]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const manifest: Manifest = { format: 'focal-tensors-v1', dtype: 'float32', tensors: [] };
  const total = tensors.reduce((n, [, t]) => n + t.size, 0);
  const values = new Float32Array(total);
  let offset = 0;
  for (const [name, t] of tensors) {
    values.set(t.dataSync() as Float32Array, offset);
    manifest.tensors.push({ name, shape: [...t.shape], offset, length: t.size });
    offset += t.size;
  }
  await writeFile(join(dir, `${base}.bin`), Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  await writeFile(join(dir, `${base}.json`), JSON.stringify(manifest, null, 2) + '\n');
}

export async function readTensors(dir: string, base: string): Promise<Map<string, StoredTensor>> {
  const manifest = JSON.parse(await readFile(join(dir, `${base}.json`), 'utf8')) as Manifest;
  if (manifest.format !== 'focal-tensors-v1') throw new Error(`${join(dir, base)}.json: unknown format ${String(manifest.format)}`);
  const bytes = await readFile(join(dir, `${base}.bin`));
  // Copy into an aligned buffer: Buffer slices may start at any byte offset.
  const all = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(all.buffer).set(bytes);
  const out = new Map<string, StoredTensor>();
  for (const t of manifest.tensors) {
    if (t.offset + t.length > all.length) throw new Error(`${base}.bin is truncated at ${t.name}`);
    out.set(t.name, { shape: t.shape, values: all.slice(t.offset, t.offset + t.length) });
  }
  return out;
}
