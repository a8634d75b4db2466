import sharp from 'sharp';
import type { DigitSet } from '../../src/attention/mnist-dataset.js';
import { Rng } from '../../src/attention/rng.js';
import { dilateSquare, erodeSquare } from '../../src/images/morphology.js';
import { skeletonize } from './skeleton.js';

/**
 * Photograph-like pictures of MNIST test digits, for measuring how the served
 * models read ordinary photos and scans of handwriting: dark ink on light paper,
 * with the things a phone or a scanner adds — uneven light, paper texture,
 * pen and pencil shades, thin and thick strokes, small rotations, any size,
 * off-centre, blur, sensor noise, JPEG artefacts. Picture `index` depends only
 * on (seed, index), so a set of any size is a fixed prefix of the same sequence.
 */

export interface PhotoParams {
  /** Index into the MNIST test split (also the picture's number in the set). */
  index: number;
  label: number;
  /** Picture size in pixels. */
  width: number;
  height: number;
  /** Side in picture pixels of the digit's 28×28 MNIST field (its ink spans ~20/28 of it). */
  digitSide: number;
  /** Centre of the digit's field in picture pixels. */
  centreX: number;
  centreY: number;
  /** Rotation in degrees, clockwise. */
  angle: number;
  /** Stroke change in pixels of a 4× (112 px) rendering: negative erodes (thinner), positive dilates (thicker); see Pen. */
  stroke: number;
  /** Paper colour (sRGB 0–255). */
  paper: [number, number, number];
  /** Ink colour (sRGB 0–255): black or blue pen, grey pencil. */
  ink: [number, number, number];
  /** Light falling off across the page: darkest corner at (1 − strength) of the brightest, along `lightAngle`. */
  shadow: number;
  lightAngle: number;
  /** Paper texture: amplitude of low-frequency blotches (0–1 of paper level). */
  texture: number;
  /** Gaussian blur sigma in picture pixels (focus, motion, scanner optics); 0 for none. */
  blur: number;
  /** Gaussian sensor noise, standard deviation in 0–1 units. */
  noise: number;
  format: 'jpeg' | 'png';
  /** JPEG quality (ignored for PNG). */
  quality: number;
}

/** Upscaling of the MNIST digit before the stroke is changed, so erosion and dilation come in fine steps. */
const STROKE_SCALE = 4;

/** The thin pen of the renderer (see ThinPen). */
export const DEFAULT_THIN_PEN: ThinPen = 'line';

/** The stroke filter of the renderer (see StrokeFilter). */
export const DEFAULT_STROKE_FILTER: StrokeFilter = 'grey';

/** The random conditions of picture `index` of the set made with `seed`. */
export function photoParams(set: DigitSet, index: number, seed: number): PhotoParams {
  const rng = new Rng(Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b));
  const logUniform = (lo: number, hi: number) => Math.exp(rng.uniform(Math.log(lo), Math.log(hi)));
  const pick = <T>(items: readonly T[]): T => items[rng.int(items.length)]!;
  const digitSide = Math.round(logUniform(36, 260));
  const width = Math.min(2000, Math.round(digitSide * rng.uniform(1.25, 4)));
  const height = Math.min(2000, Math.round(digitSide * rng.uniform(1.25, 4)));
  // Off-centre anywhere on the page, the digit's ink (the middle ~20/28 of its field) inside the picture.
  const half = (digitSide * 20) / 28 / 2 + 2;
  const centreX = rng.uniform(Math.min(half, width / 2), Math.max(width / 2, width - half));
  const centreY = rng.uniform(Math.min(half, height / 2), Math.max(height / 2, height - half));
  const grey = rng.uniform(185, 250);
  const tint = (): number => rng.uniform(-8, 8);
  const paper: [number, number, number] = [grey + tint(), grey + tint(), grey + tint() - 4];
  const inkKind = pick(['black', 'black', 'blue', 'pencil'] as const);
  const dark = rng.uniform(10, 70);
  const ink: [number, number, number] =
    inkKind === 'black' ? [dark, dark, dark + 5]
      : inkKind === 'blue' ? [dark * 0.5, dark * 0.8, dark + 90]
        : [dark + 50, dark + 50, dark + 55];
  const format = rng.next() < 0.7 ? 'jpeg' : 'png';
  return {
    index,
    label: set.labels[index]!,
    width,
    height,
    digitSide,
    centreX,
    centreY,
    angle: rng.uniform(-12, 12),
    stroke: pick([-2, -1, 0, 0, 1, 2, 3, 5]),
    paper: paper.map((v) => Math.min(255, Math.max(0, v))) as [number, number, number],
    ink,
    shadow: rng.uniform(0, 0.45),
    lightAngle: rng.uniform(0, 2 * Math.PI),
    texture: rng.uniform(0, 0.08),
    blur: rng.next() < 0.3 ? 0 : rng.uniform(0.3, 1.2) * Math.max(1, digitSide / 80),
    noise: rng.uniform(0, 0.04),
    format,
    quality: Math.round(rng.uniform(45, 95)),
  };
}

/**
 * How a negative stroke change is drawn. `'erode'`: the stroke filter's erosion over a (2r+1)² square on the 4×
 * mask alone, which dims MNIST strokes narrower than its window and can erase faint ones (a row of 180 with 40
 * either side falls to 40 at r = 2, and to 32 with the bitwise filter); the renderer of
 * every figure before 2026-12-04 (`npm run check:pen`: 9.4% of training digits lose a tenth of their
 * skeleton at −2 px). `'line'`: the same erosion, with a fine pen line (the
 * skeleton of the digit's strokes, 3 px wide at 4×, at full ink) drawn over it, so a thin pen draws a
 * thin stroke where the erosion would have erased one.
 */
export type ThinPen = 'erode' | 'line';

export const THIN_PENS: readonly ThinPen[] = ['erode', 'line'];

/** A `--thin-pen` argument checked: one of THIN_PENS, or an Error naming them. */
export function parseThinPen(value: string): ThinPen {
  if (!(THIN_PENS as readonly string[]).includes(value)) throw new Error(`--thin-pen is ${THIN_PENS.join(' or ')}, not ${value}`);
  return value as ThinPen;
}

/**
 * How a stroke change is filtered. `'grey'`: the grey max (thicker) or min (thinner) over a (2r+1)² square.
 * `'bitwise'`: sharp's `erode` (thicker) or `dilate` (thinner), which on the grey 4× mask are the bitwise OR or
 * AND of the square (libvips' morphology reads a pixel as a bit pattern; src/images/morphology.test.ts): never
 * below the max, so thicker strokes got brighter edges than the pen and could fill the paper between close
 * strokes, and never above the min. The renderer of every figure before rule 11 of models/README.md.
 */
export type StrokeFilter = 'bitwise' | 'grey';

export const STROKE_FILTERS: readonly StrokeFilter[] = ['bitwise', 'grey'];

/** A `--stroke-filter` argument checked: one of STROKE_FILTERS, or an Error naming them. */
export function parseStrokeFilter(value: string): StrokeFilter {
  if (!(STROKE_FILTERS as readonly string[]).includes(value)) throw new Error(`--stroke-filter is ${STROKE_FILTERS.join(' or ')}, not ${value}`);
  return value as StrokeFilter;
}

/** How the renderer draws a stroke change: the thin pen, and the filter of every change. */
export interface Pen {
  thin: ThinPen;
  filter: StrokeFilter;
}

export const DEFAULT_PEN: Pen = { thin: DEFAULT_THIN_PEN, filter: DEFAULT_STROKE_FILTER };

/** The pens of earlier figures: every one before 2026-12-04 (erode), and the fifteenth session's (line). */
export const ERODE_PEN: Pen = { thin: 'erode', filter: 'bitwise' };
export const BITWISE_LINE_PEN: Pen = { thin: 'line', filter: 'bitwise' };

/** Side of the stroke mask of a `side` px digit. */
export function strokeMaskSide(side: number): number {
  return side * STROKE_SCALE;
}

/** Step 1a of the rendering: digit `index` of `set` upscaled 4× (cubic). White ink on black, (4·side)² bytes. */
export async function upscaledDigit(set: DigitSet, index: number): Promise<Buffer> {
  const side = set.side;
  const big = strokeMaskSide(side);
  const digit = Buffer.from(set.images.subarray(index * side * side, (index + 1) * side * side));
  return sharp(digit, { raw: { width: side, height: side, channels: 1 } })
    .resize(big, big, { kernel: 'cubic' })
    .extractChannel(0)
    .raw()
    .toBuffer();
}

/**
 * Step 1b: the big × big upscaled digit (upscaledDigit) with its stroke thinned or thickened by `stroke` px, by
 * `pen`. A new buffer; at stroke 0 the digit itself.
 */
export async function changeStroke(upscaled: Buffer, big: number, stroke: number, pen: Pen): Promise<Buffer> {
  if (stroke === 0) return upscaled;
  let changed: Buffer;
  if (pen.filter === 'grey') {
    const filter = stroke > 0 ? dilateSquare : erodeSquare;
    changed = Buffer.from(Uint8Array.from(filter(Float32Array.from(upscaled), big, big, Math.abs(stroke))));
  } else {
    // libvips' morphology grows the dark side: erode thickens white ink on black, dilate thins it (bitwise).
    const base = sharp(upscaled, { raw: { width: big, height: big, channels: 1 } });
    changed = await (stroke > 0 ? base.erode(stroke) : base.dilate(-stroke)).extractChannel(0).raw().toBuffer();
  }
  if (stroke > 0 || pen.thin === 'erode') return changed;
  const line = penLine(upscaled, big);
  for (let i = 0; i < changed.length; i++) changed[i] = Math.max(changed[i]!, line[i]!);
  return changed;
}

/**
 * Step 1 of the rendering: digit `index` of `set` upscaled 4× (cubic), its stroke thinned or thickened by
 * `stroke` px. White ink on black, (4·side)² bytes.
 */
export async function strokeMask(set: DigitSet, index: number, stroke: number, pen: Pen): Promise<Buffer> {
  return changeStroke(await upscaledDigit(set, index), strokeMaskSide(set.side), stroke, pen);
}

/** The pixels of a mask at half ink (128) or more, as 0/1. */
export function halfInk(mask: Uint8Array): Uint8Array {
  return mask.map((v) => (v >= 128 ? 1 : 0));
}

/** The skeleton (0/1) of the ink of a big × big mask: its pixels at half ink (128) or more. */
export function inkSkeleton(mask: Uint8Array, big: number): Uint8Array {
  return skeletonize(halfInk(mask), big, big);
}

/** The skeleton of the ink of a big × big mask, widened to 3 px, at full ink (255). */
export function penLine(mask: Uint8Array, big: number): Uint8Array {
  const widened = dilateSquare(Float32Array.from(inkSkeleton(mask, big)), big, big, 1);
  return Uint8Array.from(widened, (v) => (v > 0 ? 255 : 0));
}

/** Renders the picture described by `p` from MNIST digit `p.index` of `set`. */
export async function renderPhoto(set: DigitSet, p: PhotoParams, pen: Pen = DEFAULT_PEN): Promise<Buffer> {
  // 1. The ink mask: upscaled, stroke thinned or thickened, scaled to its size, rotated.
  const big = strokeMaskSide(set.side);
  const rotated = await sharp(await strokeMask(set, p.index, p.stroke, pen), { raw: { width: big, height: big, channels: 1 } })
    .resize(p.digitSide, p.digitSide, { kernel: 'lanczos3' })
    .rotate(p.angle, { background: { r: 0, g: 0, b: 0 } })
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const mw = rotated.info.width;
  const mh = rotated.info.height;
  const mc = rotated.info.channels;
  const left = Math.round(p.centreX - mw / 2);
  const top = Math.round(p.centreY - mh / 2);

  // 2. Paper texture: a coarse random field, smoothly upscaled.
  const rng = new Rng(p.index * 7919 + 13);
  const gw = 6, gh = 6;
  const coarse = Buffer.alloc(gw * gh);
  for (let i = 0; i < coarse.length; i++) coarse[i] = Math.round(128 + 127 * rng.uniform(-1, 1));
  const blotches = await sharp(coarse, { raw: { width: gw, height: gh, channels: 1 } })
    .resize(p.width, p.height, { kernel: 'cubic', fit: 'fill' })
    .extractChannel(0)
    .raw()
    .toBuffer();

  // 3. Compose: paper × lighting × texture, ink laid over it by the mask.
  const { width, height } = p;
  const out = new Float32Array(width * height * 3);
  const dx = Math.cos(p.lightAngle);
  const dy = Math.sin(p.lightAngle);
  const span = Math.abs(dx) * width + Math.abs(dy) * height;
  const offset = Math.min(0, dx * width) + Math.min(0, dy * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const t = (dx * x + dy * y - offset) / span;
      const light = (1 - p.shadow * t) * (1 + p.texture * (blotches[i]! / 127.5 - 1));
      const mx = x - left;
      const my = y - top;
      const m = mx >= 0 && my >= 0 && mx < mw && my < mh ? rotated.data[(my * mw + mx) * mc]! / 255 : 0;
      for (let c = 0; c < 3; c++) out[i * 3 + c] = light * (p.paper[c]! * (1 - m) + p.ink[c]! * m);
    }
  }
  let picture = sharp(Buffer.from(Uint8ClampedArray.from(out).buffer), { raw: { width, height, channels: 3 } });
  // 4. Optics, then the sensor.
  if (p.blur >= 0.3) picture = sharp(await picture.blur(p.blur).raw().toBuffer(), { raw: { width, height, channels: 3 } });
  const blurred = await picture.raw().toBuffer();
  if (p.noise > 0) {
    for (let i = 0; i < blurred.length; i++) blurred[i] = Math.min(255, Math.max(0, Math.round(blurred[i]! + 255 * p.noise * rng.normal())));
  }
  const encoder = sharp(blurred, { raw: { width, height, channels: 3 } });
  return p.format === 'jpeg' ? encoder.jpeg({ quality: p.quality }).toBuffer() : encoder.png().toBuffer();
}

/**
 * The same conditions on a page of `width` × `height` px with the digit's field `digitSide` px: a phone
 * photo, larger than the set's pictures (at most 2,000 px). The digit is placed anywhere on the page
 * (drawn from the picture's own seed), and the blur is scaled with the digit, as optics blur it.
 */
export function onPage(p: PhotoParams, seed: number, width: number, height: number, digitSide: number): PhotoParams {
  const rng = new Rng(Math.imul(seed, 0x27d4eb2d) ^ Math.imul(p.index + 1, 0x165667b1));
  const half = (digitSide * 20) / 28 / 2 + 2;
  return {
    ...p,
    width,
    height,
    digitSide,
    centreX: rng.uniform(Math.min(half, width / 2), Math.max(width / 2, width - half)),
    centreY: rng.uniform(Math.min(half, height / 2), Math.max(height / 2, height - half)),
    blur: (p.blur * digitSide) / p.digitSide,
  };
}

/** Picture `index` of the set made with `seed`, with its label and conditions. */
export async function photoDigit(
  set: DigitSet,
  index: number,
  seed: number,
  page?: { width: number; height: number; digitSide: number },
  pen: Pen = DEFAULT_PEN,
): Promise<{ bytes: Buffer; params: PhotoParams }> {
  const drawn = photoParams(set, index, seed);
  const params = page ? onPage(drawn, seed, page.width, page.height, page.digitSide) : drawn;
  return { bytes: await renderPhoto(set, params, pen), params };
}
