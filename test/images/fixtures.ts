import sharp, { type OverlayOptions } from 'sharp';
import { readMnist } from '../../src/attention/mnist-dataset.js';

/** Test inputs for the images slice: real MNIST digits and pictures drawn with sharp. */

/** Test digit `index` of MNIST's t10k set: 28×28 values in [0, 1] (white on black) and its label. */
export function mnistTestDigit(index: number): { pixels: Float32Array; label: number } {
  const set = readMnist('test');
  const pixels = new Float32Array(784);
  for (let i = 0; i < 784; i++) pixels[i] = set.images[index * 784 + i]! / 255;
  return { pixels, label: set.labels[index]! };
}

/**
 * A photo-like picture of a 28×28 digit: scaled up, inverted to dark ink on
 * light paper, placed off-centre on a `width` × `height` canvas, encoded.
 */
export async function paperPicture(pixels: Float32Array, options: { width?: number; height?: number; format?: 'jpeg' | 'png' | 'webp'; shadow?: boolean } = {}): Promise<Buffer> {
  const width = options.width ?? 300;
  const height = options.height ?? 200;
  const ink = Buffer.alloc(784);
  for (let i = 0; i < 784; i++) ink[i] = 255 - Math.round(pixels[i]! * 255);
  const digit = await sharp(ink, { raw: { width: 28, height: 28, channels: 1 } }).resize(140, 140).png().toBuffer();
  const layers: OverlayOptions[] = [{ input: digit, left: Math.round(width * 0.55) - 70, top: Math.round(height * 0.45) - 70 }];
  if (options.shadow) {
    // Light falling off from one corner to a third of it at the other, as under a phone held over the page.
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">`
      + '<stop offset="0" stop-color="#fff"/><stop offset="1" stop-color="#555"/></linearGradient></defs>'
      + `<rect width="${width}" height="${height}" fill="url(#g)"/></svg>`;
    layers.push({ input: Buffer.from(svg), blend: 'multiply' });
  }
  const canvas = sharp(await sharp({ create: { width, height, channels: 3, background: { r: 235, g: 232, b: 225 } } }).composite(layers).png().toBuffer());
  const format = options.format ?? 'jpeg';
  return format === 'jpeg' ? canvas.jpeg({ quality: 90 }).toBuffer() : format === 'png' ? canvas.png().toBuffer() : canvas.webp().toBuffer();
}

/** A PNG of one dark glyph on a transparent canvas (how drawing apps export). */
export async function transparentGlyph(text: string, width = 120, height = 160): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`
    + `<text x="50%" y="75%" text-anchor="middle" font-family="sans-serif" font-size="${Math.round(height * 0.7)}" fill="#111">${text}</text></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Centre of mass and ink bounding box of a size × size image. */
export function inkStats(pixels: Float32Array, size = 28): { cx: number; cy: number; width: number; height: number; mass: number } {
  let mass = 0, mx = 0, my = 0, left = size, right = -1, top = size, bottom = -1;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = pixels[y * size + x]!;
      if (v <= 0) continue;
      mass += v; mx += v * x; my += v * y;
      left = Math.min(left, x); right = Math.max(right, x); top = Math.min(top, y); bottom = Math.max(bottom, y);
    }
  }
  return { cx: mx / mass, cy: my / mass, width: right - left + 1, height: bottom - top + 1, mass };
}

/** Pearson correlation of two equally long arrays. */
export function correlation(a: Float32Array, b: Float32Array): number {
  let ma = 0, mb = 0;
  for (let i = 0; i < a.length; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= a.length; mb /= b.length;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < a.length; i++) {
    const da = a[i]! - ma, db = b[i]! - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}

/**
 * A valid 1×1 PNG whose header claims `width` × `height`: the shape of a
 * decompression bomb, caught by reading the header before any pixel.
 */
export async function lyingPng(width: number, height: number): Promise<Buffer> {
  const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } }).png().toBuffer();
  const out = Buffer.from(png);
  // IHDR data starts at byte 16 (8 signature + 4 length + 4 type); its CRC follows its 13 bytes.
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
