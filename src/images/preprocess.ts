import { imageSize } from 'image-size';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import type { RamConfig } from '../attention/index.js';
import { PayloadTooLargeError, UnprocessableError } from '../http/errors.js';
import { dilateSquare, morphGrey, openingSquare } from './morphology.js';
import { resizeGrey } from './resample.js';

/**
 * Turns an uploaded picture of a digit into the input MNIST models expect:
 * white ink on black, the ink cropped, its longest side fitted to 20 px and its
 * centre of mass placed at the centre of a 28×28 field (LeCun et al.'s own
 * procedure), so a photo or scan is classified like a test digit.
 */

/** Formats sharp may decode here; SVG, PDF and friends are refused (they execute a renderer). */
export const DECODABLE_FORMATS: ReadonlySet<string> = new Set(['png', 'jpeg', 'webp', 'gif', 'tiff', 'heif']);

export interface PreprocessOptions {
  /** Largest width × height accepted before decoding (FOCAL_MAX_IMAGE_PIXELS). */
  maxPixels: number;
  /** Side of the square output; 28 for MNIST. */
  size?: number;
  /** Longest side of the ink after fitting; MNIST uses 20 in 28. */
  fit?: number;
  /**
   * `digit` (default): crop to the ink, fit it to `fit` px and centre it by mass (MNIST).
   * `canvas`: keep the whole picture at the model's resolution, digits where they are
   * (translated / cluttered models, whose glimpses find the digit themselves): an upload
   * of `size` × `size` is read pixel for pixel, a larger one is scaled down to fit, a
   * smaller one is padded without scaling.
   */
  placement?: Placement;
  /**
   * Bring a stroke far thinner or thicker than MNIST's towards MNIST's width (default true; digit
   * placement only). Off, the digit is only cropped, fitted and centred (for comparisons).
   */
  evenStrokes?: boolean;
  /**
   * Stretch every digit's grey so that half its ink is at full strength, as MNIST's is (default true;
   * digit placement only; models/README.md rule 13): a photographed stroke, softened by optics and
   * JPEG, otherwise reaches the model paler and thinner than MNIST's. Off, only a thickened digit's
   * grey is stretched (for comparisons).
   */
  calibrateInk?: boolean;
  /**
   * Thin a stroke that measures over `above` to `to` (STROKE's units; default STROKE.thinAbove and
   * STROKE.thinTo). For comparisons (`eval:photos --thin-above --thin-to`, models/README.md rule 16).
   */
  thinStrokes?: { above: number; to: number };
  /**
   * Look for the ink a second time at the scale of the strokes found (default true; digit placement
   * only): paper texture is taken away and the dashes of a faint, broken stroke kept with their digit.
   * Off, the first look's ink is used (for comparisons).
   */
  secondLook?: boolean;
  /**
   * Read a digit that the working size shrank to under ZOOM_BELOW px again from the full-resolution
   * picture, around where the first reading found it (default true; digit placement, pictures
   * without transparency). Off, the digit is read at the working size only (for comparisons).
   */
  zoom?: boolean;
}

export type Placement = 'digit' | 'canvas';

export interface Preprocessed {
  /** size × size grey values in [0, 1], row-major, white ink on black. */
  pixels: Float32Array;
  size: number;
  /** The decoded input as stored in the file (before auto-orientation). */
  source: { format: string; width: number; height: number; orientation: number; hasAlpha: boolean };
  /** Whether the picture was light-on-dark flipped (dark ink on light paper). */
  inverted: boolean;
  /** The ink's bounding box in working-resolution pixels; null when no ink was found. */
  ink: { left: number; top: number; width: number; height: number } | null;
  /** How the picture was placed in the output (see PreprocessOptions.placement). */
  placement: Placement;
}

/**
 * Working resolution for the global steps (background, inversion, ink box):
 * big enough that a digit filling a twentieth of a photo keeps ~25 px, small
 * enough that the per-pixel JavaScript stays in the low milliseconds.
 */
const WORKING_SIDE = 512;
/** After background removal, grey below this share of the ink's peak is paper noise. */
const NOISE_FLOOR = 0.15;

/** Checked on the header alone, so a small file that claims a huge canvas is never inflated. */
function checkPixels(width: number, height: number, maxPixels: number): void {
  if (width * height > maxPixels) {
    throw new PayloadTooLargeError(
      `The image is ${width}×${height} = ${width * height} pixels, over the limit of ${maxPixels} (FOCAL_MAX_IMAGE_PIXELS)`,
      'FOCAL_MAX_IMAGE_PIXELS', maxPixels);
  }
}

/** The input's header, read by libvips without decoding pixels; throws 413/422 for bombs and non-images. */
export async function probeImage(bytes: Buffer, maxPixels: number): Promise<Preprocessed['source']> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new UnprocessableError(`The body does not decode as an image: ${describe(err)}`);
  }
  if (!meta.format || !DECODABLE_FORMATS.has(meta.format)) {
    throw new UnprocessableError(`Unsupported image format ${meta.format ?? 'unknown'}: send PNG, JPEG, WebP, GIF, TIFF or AVIF`);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (!(width > 0 && height > 0)) throw new UnprocessableError('The image has no pixels');
  checkPixels(width, height, maxPixels);
  return { format: meta.format, width, height, orientation: meta.orientation ?? 1, hasAlpha: meta.hasAlpha ?? false };
}

/** image-size's names of the formats decoded here, as sharp names them (libvips reads AVIF as a HEIF). */
const SNIFFED_FORMATS: Readonly<Record<string, string>> = { png: 'png', jpg: 'jpeg', webp: 'webp', gif: 'gif', tiff: 'tiff', heif: 'heif', avif: 'heif' };

/**
 * The input's header read in JavaScript (image-size: the format by its signature, the stored size and a JPEG's EXIF
 * orientation, in microseconds) when it is one of the formats decoded here; undefined for anything it cannot vouch
 * for (SVG, a header it cannot parse), which then goes through libvips' own probe (probeImage) as before. On small
 * uploads the probe was a libvips call and a round trip through the thread pool of its own, a tenth of the
 * server's time per classification (bench/image-traffic.ts). `hasAlpha` is known after decoding.
 */
export function sniffImage(bytes: Buffer, maxPixels: number): Preprocessed['source'] | undefined {
  let size: ReturnType<typeof imageSize>;
  try {
    size = imageSize(bytes);
  } catch {
    return undefined;
  }
  const format = size.type === undefined ? undefined : SNIFFED_FORMATS[size.type];
  if (format === undefined || !(size.width > 0 && size.height > 0)) return undefined;
  // image-size reads the EXIF orientation of a JPEG only; libvips also turns a PNG, WebP or TIFF by theirs.
  if (mayHoldExif(bytes, format)) return undefined;
  checkPixels(size.width, size.height, maxPixels);
  return { format, width: size.width, height: size.height, orientation: size.orientation ?? 1, hasAlpha: false };
}

/**
 * Whether a PNG, WebP or TIFF may carry EXIF (and so an orientation that image-size does not read): a PNG's
 * eXIf chunk, a WebP's extended header with its EXIF flag; a TIFF's tags always may. GIF and HEIF have none
 * that libvips turns by.
 */
function mayHoldExif(bytes: Buffer, format: string): boolean {
  if (format === 'tiff') return true;
  if (format === 'webp') return bytes.length > 20 && bytes.toString('latin1', 12, 16) === 'VP8X' && (bytes[20]! & 0x08) !== 0;
  if (format !== 'png') return false;
  // The chunks after the 8-byte signature: length, type, data, CRC.
  for (let at = 8; at + 8 <= bytes.length; ) {
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (type === 'eXIf') return true;
    if (type === 'IEND') return false;
    at += 12 + bytes.readUInt32BE(at);
  }
  return false;
}

function describe(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.slice(0, 200);
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

type Working = { grey: Float32Array; alpha: Float32Array | undefined; width: number; height: number };

/**
 * Uploads at most this many pixels (64 × 64: MNIST's 28 × 28, a 60 × 60 canvas) in JPEG or PNG, upright, are decoded
 * in JavaScript (jpeg-js, pngjs) on the image worker's own thread. A libvips call on such a picture costs about
 * 1.5 ms, nearly all of it the call's fixed cost and a round trip through libuv's thread pool (whose threads run
 * at the event loop's priority, beside /decide); jpeg-js takes about 55 µs and pngjs about 35 µs on a 28 × 28
 * digit, and their pixels match libvips' within one grey level (IDCT rounding). Anything else, or anything these
 * decoders refuse, goes through sharp as before, which also words the errors.
 */
const SMALL_PIXELS = 64 * 64;

/** RGBA bytes of a small upright JPEG or PNG, or undefined when it is not one or does not decode here. */
function decodeSmall(bytes: Buffer, source: Preprocessed['source']): { rgba: Uint8Array; hasAlpha: boolean; width: number; height: number } | undefined {
  if (source.width * source.height > SMALL_PIXELS || source.orientation !== 1) return undefined;
  try {
    if (source.format === 'jpeg') {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 1, maxMemoryUsageInMB: 16 });
      if (img.width !== source.width || img.height !== source.height) return undefined;
      return { rgba: img.data, hasAlpha: false, width: img.width, height: img.height };
    }
    if (source.format === 'png') {
      const img = PNG.sync.read(bytes);
      if (img.width !== source.width || img.height !== source.height) return undefined;
      return { rgba: img.data, hasAlpha: img.alpha, width: img.width, height: img.height };
    }
  } catch {
    return undefined; // sharp decodes it, or says why it cannot
  }
  return undefined;
}

/**
 * Decodes, orients, shrinks to the working size and returns luminance and alpha (when the picture has any) in [0, 1].
 * `small: false` always decodes with sharp (tests compare the two decoders).
 */
export async function decodeWorking(bytes: Buffer, maxPixels: number, source: Preprocessed['source'], small = true): Promise<Working> {
  const js = small ? decodeSmall(bytes, source) : undefined;
  if (js) return lumaOf(js.rgba, 4, js.hasAlpha, js.width, js.height);
  let out: { data: Buffer; info: OutputInfo };
  try {
    // limitInputPixels again: the header check is the gate, this is the belt and braces.
    out = await sharp(bytes, { limitInputPixels: maxPixels })
      .rotate() // EXIF auto-orientation: phone photos arrive sideways otherwise
      .resize({ width: WORKING_SIDE, height: WORKING_SIDE, fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    const text = describe(err);
    if (/pixel limit/i.test(text)) {
      throw new PayloadTooLargeError(`The image exceeds ${maxPixels} pixels (FOCAL_MAX_IMAGE_PIXELS)`, 'FOCAL_MAX_IMAGE_PIXELS', maxPixels);
    }
    throw new UnprocessableError(`The image could not be decoded: ${text}`);
  }
  const { data, info } = out;
  // sRGB: three colour bands, and the alpha band after them when the picture has one.
  return lumaOf(data, info.channels, info.channels === 2 || info.channels === 4, info.width, info.height);
}

/** Luminance and alpha (when `hasAlpha`: the last of the `c` bands) in [0, 1] of interleaved 8-bit pixels. */
function lumaOf(data: Uint8Array, c: number, hasAlpha: boolean, width: number, height: number): Working {
  const n = width * height;
  const grey = new Float32Array(n);
  const green = c >= 3 ? 1 : 0;
  const blue = c >= 3 ? 2 : 0;
  const alpha = hasAlpha ? new Float32Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const o = i * c;
    // Rec. 601 luma, as MNIST's grey levels came from scans.
    grey[i] = (0.299 * data[o]! + 0.587 * data[o + green]! + 0.114 * data[o + blue]!) / 255;
    if (alpha) alpha[i] = data[o + c - 1]! / 255;
  }
  return { grey, alpha, width, height };
}

/** Paper shows in at least this share of any cell; ink rarely fills a cell of an eighth of the picture. */
const PAPER_SHARE = 0.1;
/** Cells per longest side of the illumination estimate. */
const ILLUMINATION_CELLS = 8;

/**
 * Evens out uneven lighting (a phone's shadow, a vignette) and leaves white
 * ink on black: the paper's level is estimated per cell of the picture from the
 * brightest (light paper) or darkest (dark paper) share of its pixels,
 * interpolated between cell centres, then divided out (light paper, so the
 * ink's contrast no longer depends on the light) or subtracted (dark paper).
 */
function flattenIllumination(value: Float32Array, width: number, height: number, lightPaper: boolean, cells = ILLUMINATION_CELLS): void {
  const cell = Math.max(16, Math.ceil(Math.max(width, height) / cells));
  const gw = Math.ceil(width / cell);
  const gh = Math.ceil(height / cell);
  const level = new Float32Array(gw * gh);
  // Percentiles from a 256-bin histogram: linear time, where sorting every cell cost tens of milliseconds.
  const histogram = new Uint32Array(256);
  for (let gy = 0; gy < gh; gy++) {
    for (let gx = 0; gx < gw; gx++) {
      histogram.fill(0);
      let count = 0;
      for (let y = gy * cell; y < Math.min(height, (gy + 1) * cell); y++) {
        for (let x = gx * cell; x < Math.min(width, (gx + 1) * cell); x++) {
          histogram[(value[y * width + x]! * 255 + 0.5) | 0]!++;
          count++;
        }
      }
      const k = Math.floor((lightPaper ? 1 - PAPER_SHARE : PAPER_SHARE) * (count - 1));
      let bin = 0;
      for (let seen = histogram[0]!; seen <= k; seen += histogram[bin]!) bin++;
      level[gy * gw + gx] = bin / 255;
    }
  }
  // Bilinear between cell centres, separably: per column the two cells and weight once, per row the blended grid row.
  const x0s = new Int32Array(width);
  const txs = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const fx = Math.min(gw - 1, Math.max(0, (x + 0.5) / cell - 0.5));
    x0s[x] = Math.floor(fx);
    txs[x] = fx - x0s[x]!;
  }
  const row = new Float32Array(gw + 1);
  for (let y = 0; y < height; y++) {
    const fy = Math.min(gh - 1, Math.max(0, (y + 0.5) / cell - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(gh - 1, y0 + 1);
    const ty = fy - y0;
    for (let gx = 0; gx < gw; gx++) row[gx] = (1 - ty) * level[y0 * gw + gx]! + ty * level[y1 * gw + gx]!;
    row[gw] = row[gw - 1]!;
    const base = y * width;
    for (let x = 0; x < width; x++) {
      const x0 = x0s[x]!;
      const tx = txs[x]!;
      const bg = (1 - tx) * row[x0]! + tx * row[x0 + 1]!;
      const i = base + x;
      // A floor on the divisor keeps sensor noise in near-black corners from turning into ink.
      if (lightPaper) {
        const ratio = value[i]! / (bg > 0.1 ? bg : 0.1);
        value[i] = ratio >= 1 ? 0 : 1 - ratio;
      } else {
        const d = value[i]! - bg;
        value[i] = d > 0 ? d : 0;
      }
    }
  }
}

/** Smoothing before ink is looked for: sigma in working pixels per 512 px of the picture's longest side. */
const DENOISE_SIGMA_PER_512 = 1.5;
/** Below this sigma (pictures under ~170 px) there is nothing to smooth: the strokes are a pixel or two wide. */
const MIN_DENOISE_SIGMA = 0.5;
/** Marks with less ink than this share of the strongest mark are dropped as specks. */
const MARK_SHARE = 0.08;
/**
 * The second look's opening, in mean stroke widths: wider than a digit's broadest ink (junctions and
 * blots reach about twice the mean width), so a clean digit on plain paper comes through unchanged
 * (1.5 cut holes at junctions); far narrower than paper texture.
 */
const HAT_WIDTHS = 2.5;
/** A faint mark next to the digit's marks is kept when it has this share of the digit's ink. */
const FAINT_SHARE = 0.02;
/** In the second look, marks closer than this many stroke widths are one mark. */
const MARK_GAP = 1.5;
/** Besides the strongest mark, only marks whose peak reaches this share of full ink are kept. */
const MARK_PEAK = 0.3;

/** A Gaussian-smoothed copy of `value` (values in [0, 1]), or `value` itself for small pictures. */
async function denoise(value: Float32Array, width: number, height: number): Promise<Float32Array> {
  const sigma = (DENOISE_SIGMA_PER_512 * Math.max(width, height)) / 512;
  if (sigma < MIN_DENOISE_SIGMA) return value;
  // A plain loop: Uint8ClampedArray.from with a mapping function cost ~20 ms on a 512 px picture.
  const bytes = Buffer.allocUnsafe(value.length);
  for (let i = 0; i < value.length; i++) {
    const v = value[i]!;
    bytes[i] = v <= 0 ? 0 : v >= 1 ? 255 : (v * 255 + 0.5) | 0;
  }
  const { data, info } = await sharp(bytes, { raw: { width, height, channels: 1 } }).blur(sigma).raw().toBuffer({ resolveWithObject: true });
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = data[i * info.channels]! / 255;
  return out;
}

/**
 * Zeroes every 8-connected mark of `ink` with less ink than MARK_SHARE of the strongest
 * mark, or fainter than MARK_PEAK. With a `gap`, strong marks closer than that (in px, along
 * rows and columns) count as one: the dashes of a pen that skipped, or of a stroke too faint to
 * survive the noise floor whole, stay with their digit, while faint grain never joins it.
 */
function keepMainMarks(ink: Uint8Array, width: number, height: number, gap = 0): void {
  const n = width * height;
  const { label, masses, peaks } = labelMarks(ink, ink, width, height);
  // Strokes reach full strength somewhere; a smudge of paper grain stays faint throughout, however
  // large: the digit's main mark is the largest strong one (the largest of all when none is strong).
  const strong = masses.map((_, id) => id > 0 && peaks[id]! >= MARK_PEAK * 255);
  let keep: boolean[];
  if (gap > 0 && strong.some(Boolean)) {
    const strongInk = new Float32Array(n);
    for (let i = 0; i < n; i++) if (strong[label[i]!]) strongInk[i] = ink[i]!;
    const groups = labelMarks(dilateSquare(strongInk, width, height, Math.ceil(gap / 2)), strongInk, width, height);
    const largest = Math.max(...groups.masses);
    const keptGroup = groups.masses.map((m, g) => g > 0 && m >= MARK_SHARE * largest);
    keep = masses.map(() => false);
    // A strong mark goes with its group; a faint mark of some length that touches a kept group's
    // reach is the faint part of a stroke (a fine pen's ink is uneven); grain is too small, and does
    // not chain from one speck to the next.
    for (let i = 0; i < n; i++) {
      const id = label[i]!;
      if (id !== 0 && !keep[id] && keptGroup[groups.label[i]!] && (strong[id] || masses[id]! >= FAINT_SHARE * largest)) keep[id] = true;
    }
  } else {
    const largest = Math.max(...masses.filter((_, id) => strong[id])) || Math.max(...masses);
    keep = masses.map((m, id) => m >= MARK_SHARE * largest && (m === largest || strong[id]!));
  }
  for (let i = 0; i < n; i++) if (ink[i] !== 0 && !keep[label[i]!]) ink[i] = 0;
}

/**
 * The 8-connected marks of `mask` (non-zero pixels): a label per pixel (0 for none, marks from
 * 1), and per mark the sum and the peak of `values` over its pixels.
 * Hand-written (a flood fill over a typed-array stack): sharp/libvips exposes no
 * connected-component labelling, and this is the product's own segmentation step.
 */
export function labelMarks(mask: ArrayLike<number>, values: ArrayLike<number>, width: number, height: number): { label: Int32Array; masses: number[]; peaks: number[] } {
  const n = width * height;
  const label = new Int32Array(n);
  const masses: number[] = [0];
  const peaks: number[] = [0];
  const stack = new Int32Array(n);
  for (let start = 0; start < n; start++) {
    if (mask[start] === 0 || label[start] !== 0) continue;
    const id = masses.length;
    let mass = 0;
    let peak = 0;
    let top = 0;
    stack[top++] = start;
    label[start] = id;
    while (top > 0) {
      const i = stack[--top]!;
      const v = values[i]!;
      mass += v;
      if (v > peak) peak = v;
      const x = i % width;
      const y = (i - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width) continue;
          const j = yy * width + xx;
          if (mask[j] !== 0 && label[j] === 0) {
            label[j] = id;
            stack[top++] = j;
          }
        }
      }
    }
    masses.push(mass);
    peaks.push(peak);
  }
  return { label, masses, peaks };
}

/**
 * The ink of a smoothed, flattened picture as 0–255 (paper 0, the ink's peak 255), grey below
 * the noise floor dropped; null when nothing stands out from the paper. For a digit, only its
 * main marks are kept: specks, grain and smudges far smaller than the largest mark are not ink
 * (a canvas keeps everything: clutter is part of its input).
 */
function inkOf(smooth: Float32Array, paper: number, width: number, height: number, placement: Placement, gap = 0): Uint8Array | null {
  const n = width * height;
  let peak = 0;
  for (let i = 0; i < n; i++) if (smooth[i]! > peak) peak = smooth[i]!;
  const range = peak - paper;
  if (range < 0.1) return null;
  const ink = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = (smooth[i]! - paper) / range;
    if (v > NOISE_FLOOR) ink[i] = Math.round(Math.min(1, (v - NOISE_FLOOR) / (1 - NOISE_FLOOR)) * 255);
  }
  if (placement === 'digit') keepMainMarks(ink, width, height, gap);
  return ink;
}

/** The `box` of a `width`-wide picture, as a picture of its own (the same array type). */
function cropBox<T extends Uint8Array | Float32Array>(src: T, width: number, box: { left: number; top: number; width: number; height: number }): T {
  // A new array of `src`'s class (zero-filled, not a copy of src): every row of it is written below.
  const out = new (src.constructor as new (length: number) => T)(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    const from = (box.top + y) * width + box.left;
    out.set(src.subarray(from, from + box.width), y * box.width);
  }
  return out;
}

/**
 * The second look for a digit's ink, at the scale of the strokes the first look found, around
 * them: paper texture and light that vary over less than an illumination cell but more than a
 * stroke's width are taken away (a top-hat), so a faint pen is not lost among blotches as strong
 * as its ink, and the dashes of a broken stroke are kept with their digit (MARK_GAP). Null when
 * the strokes are too broad for it to change anything, or it finds no ink.
 */
function secondLook(smooth: Float32Array, first: Ink, width: number, height: number, cells: number): Ink | null {
  const stroke = strokeWidth(first.ink, width, height, 64);
  const radius = Math.ceil(HAT_WIDTHS * stroke) + 2;
  if (radius >= Math.max(width, height) / (2 * cells)) return null;
  // Around the first look's ink (a margin of half its size, at least a few openings wide): what the
  // digit can be, at a fraction of the picture's cost.
  const found = first.box;
  const margin = Math.max(4 * radius, Math.ceil(Math.max(found.width, found.height) / 2));
  const left = Math.max(0, found.left - margin);
  const top = Math.max(0, found.top - margin);
  const w = Math.min(width, found.left + found.width + margin) - left;
  const h = Math.min(height, found.top + found.height + margin) - top;
  const crop = cropBox(smooth, width, { left, top, width: w, height: h });
  const opened = openingSquare(crop, w, h, radius);
  for (let i = 0; i < crop.length; i++) crop[i] = crop[i]! - opened[i]!;
  const fine = inkOf(crop, borderMedian(crop, w, h), w, h, 'digit', MARK_GAP * stroke);
  const box = fine && inkBox(fine, w, h);
  if (!fine || !box) return null;
  const ink = new Uint8Array(width * height);
  for (let y = 0; y < h; y++) ink.set(fine.subarray(y * w, (y + 1) * w), (top + y) * width + left);
  return { ink, box: { ...box, left: box.left + left, top: box.top + top } };
}

/** A reading's ink (0–255 per pixel) and its bounding box. */
interface Ink {
  ink: Uint8Array;
  box: NonNullable<Preprocessed['ink']>;
}

/** The bounding box of the non-zero pixels of `ink`; null when there are none. */
function inkBox(ink: Uint8Array, width: number, height: number): NonNullable<Preprocessed['ink']> | null {
  let left = width, top = height, right = -1, bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] === 0) continue;
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }
  return right < 0 ? null : { left, top, width: right - left + 1, height: bottom - top + 1 };
}

/** Median of the picture's border ring: paper in any sensible picture of a digit, whatever the ink covers. */
function borderMedian(value: Float32Array, width: number, height: number): number {
  const border: number[] = [];
  for (let x = 0; x < width; x++) border.push(value[x]!, value[(height - 1) * width + x]!);
  for (let y = 1; y < height - 1; y++) border.push(value[y * width]!, value[y * width + width - 1]!);
  return median(border);
}

/** The digit is first drawn this many times larger than its fitted size, where its strokes are measured and evened out. */
const STROKE_SCALE = 4;
/**
 * Stroke widths (strokeWidth of the digit drawn at STROKE_SCALE × a 20 px fit, in px) and what is
 * done about them. MNIST's own test digits sent through this preprocessing as 28×28 PNGs measure
 * 1st percentile 4.9, 5th 6.0, median 9.2, 90th 13.0, 95th 14.6, 99th 17.3 (digits 1000–2999).
 * Only strokes outside nearly all of MNIST are changed, so clean digits pass as they are: a fine
 * pen is thickened to MNIST's median, a marker thinned to 12 (thinning to the median, 9, read
 * fewer thick pictures right: 94.2% against 95.3% on eval:photos --seed 2, the set these
 * constants were chosen on; the model reads MNIST's thicker strokes, up to ~13, as well as any).
 */
const STROKE = { thickenBelow: 6, thickenTo: 9, thinAbove: 16, thinTo: 12 };
/**
 * Width change of one step of morphGrey: a pixel on each side across a row or column. Measured
 * with strokeWidth on MNIST digits it is 2.2–2.4 (diagonals change more), so a change overshoots
 * its target by about a sixth; STROKE's targets were chosen with this step.
 */
const STROKE_STEP = 2;
/** At STROKE_SCALE, grey below this is the resampling's ringing, not ink (for the box after a stroke change). */
const BOX_FLOOR = 16;

/** Mean stroke width of a drawing, 2 · area / outline (a stroke of width w and length L has area wL and outline ≈ 2L). */
export function strokeWidth(img: ArrayLike<number>, width: number, height: number, threshold = 128): number {
  let area = 0;
  let outline = 0;
  const on = (x: number, y: number): boolean => x >= 0 && y >= 0 && x < width && y < height && img[y * width + x]! >= threshold;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!on(x, y)) continue;
      area++;
      if (!on(x - 1, y) || !on(x + 1, y) || !on(x, y - 1) || !on(x, y + 1)) outline++;
    }
  }
  return outline > 0 ? (2 * area) / outline : 0;
}

/**
 * Stretches a drawing's grey so that half its ink is at full strength, as in MNIST (whose digits
 * have 47% of their ink pixels at 90% of full or more, median over the test set): a fine pen's
 * line, once grown, is otherwise a pale grey band (12–20% at full strength), and a photographed
 * digit as drawn reached the model with 0.80 of its MNIST ink (0.97 once stretched; rule 13 of
 * models/README.md). A drawing with half its ink at full strength already is left as it is.
 */
function saturate(img: Uint8Array): void {
  const histogram = new Uint32Array(256);
  let count = 0;
  for (const v of img) {
    if (v >= BOX_FLOOR) {
      histogram[v]!++;
      count++;
    }
  }
  let level = 255;
  for (let seen = 0; level > BOX_FLOOR && seen + histogram[level]! < count / 2; level--) seen += histogram[level]!;
  if (level >= 255 || count === 0) return;
  const gain = 255 / level;
  for (let i = 0; i < img.length; i++) img[i] = Math.min(255, Math.round(img[i]! * gain));
}

/**
 * The ink inside `box`, scaled so that its longest side is `fit`: drawn at STROKE_SCALE × that
 * size first, where a stroke far thinner or thicker than MNIST's is brought towards MNIST's
 * (STROKE: a fine pen on a large digit would otherwise fade to a faint, broken line at 20 px; a
 * marker's strokes crowd the digit's loops), then cropped to its new extent and fitted again,
 * as MNIST fits a digit's box, strokes included.
 */
function fitStrokes(ink: Uint8Array, width: number, height: number, box: { left: number; top: number; width: number; height: number }, fit: number, evenStrokes: boolean, calibrateInk: boolean, thin: { above: number; to: number }): { digit: Uint8Array; w: number; h: number } {
  const fitted = (bw: number, bh: number) => {
    const scale = fit / Math.max(bw, bh);
    return { w: Math.max(1, Math.min(fit, Math.round(bw * scale))), h: Math.max(1, Math.min(fit, Math.round(bh * scale))) };
  };
  const { w, h } = fitted(box.width, box.height);
  const bw = w * STROKE_SCALE;
  const bh = h * STROKE_SCALE;
  // Both resizes run in JavaScript (resample.ts: libvips' lanczos3 resize, to within a grey level or two):
  // on a picture this small a sharp call costs several times the arithmetic.
  const large = resizeGrey(cropBox(ink, width, box), box.width, box.height, bw, bh);
  const unit = fit / 20;
  const stroke = strokeWidth(large, bw, bh) / unit;
  const target = !evenStrokes ? stroke : stroke > 0 && stroke < STROKE.thickenBelow ? STROKE.thickenTo : stroke > thin.above ? thin.to : stroke;
  const steps = Math.round((Math.abs(target - stroke) * unit) / STROKE_STEP);
  if (steps === 0) {
    if (calibrateInk) saturate(large);
    return { digit: resizeGrey(large, bw, bh, w, h), w, h };
  }
  // Room for the strokes to grow into, then the box of what is ink after the change.
  const pad = target > stroke ? steps : 0;
  const pw = bw + 2 * pad;
  const ph = bh + 2 * pad;
  const padded = new Uint8Array(pw * ph);
  for (let y = 0; y < bh; y++) padded.set(large.subarray(y * bw, (y + 1) * bw), (y + pad) * pw + pad);
  const shaped = morphGrey(padded, pw, ph, steps, target > stroke ? 'grow' : 'shrink');
  if (target > stroke || calibrateInk) saturate(shaped);
  let left = pw, top = ph, right = -1, bottom = -1;
  for (let y = 0; y < ph; y++) {
    for (let x = 0; x < pw; x++) {
      if (shaped[y * pw + x]! < BOX_FLOOR) continue;
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }
  if (right < 0) return { digit: resizeGrey(large, bw, bh, w, h), w, h };
  const cw = right - left + 1;
  const ch = bottom - top + 1;
  const size = fitted(cw, ch);
  return { digit: resizeGrey(cropBox(shaped, pw, { left, top, width: cw, height: ch }), cw, ch, size.w, size.h), ...size };
}

/**
 * MNIST-style normalisation. Steps, in order: auto-orient; flatten transparency
 * onto a background that contrasts with the opaque pixels (dark ink drawn on a
 * transparent canvas lands on white, light ink on black); grey; invert when the
 * border — the paper — is light; even out the lighting; smooth a copy (large pictures) and
 * stretch it so paper is 0 and the ink's peak 1, dropping what is below the noise floor;
 * keep the digit's marks, not specks of grain or noise; crop to them; fit the longest side
 * to `fit` px, thickening a stroke much finer than MNIST's on the way and stretching the ink's
 * grey so that half of it is at full strength, as MNIST's; translate so the
 * centre of mass sits at the centre of the `size` × `size` field. With placement `canvas`
 * the steps stop after the noise floor and the whole picture is placed instead.
 */
export async function preprocessImage(bytes: Buffer, options: PreprocessOptions): Promise<Preprocessed> {
  const size = options.size ?? 28;
  const fit = Math.min(options.fit ?? 20, size);
  const placement = options.placement ?? 'digit';
  const source = sniffImage(bytes, options.maxPixels) ?? await probeImage(bytes, options.maxPixels);
  const { grey, alpha, width, height } = await decodeWorking(bytes, options.maxPixels, source);
  source.hasAlpha = alpha !== undefined;
  const n = width * height;

  const value = new Float32Array(n);
  if (alpha) {
    let weighted = 0;
    let total = 0;
    for (let i = 0; i < n; i++) {
      weighted += alpha[i]! * grey[i]!;
      total += alpha[i]!;
    }
    const inkMean = total > 0 ? weighted / total : 0;
    const background = inkMean < 0.5 ? 1 : 0;
    for (let i = 0; i < n; i++) value[i] = alpha[i]! * grey[i]! + (1 - alpha[i]!) * background;
  } else {
    value.set(grey);
  }

  // The border ring is paper in any sensible picture of a digit, whatever the ink covers.
  const inverted = borderMedian(value, width, height) > 0.5;
  const look = { placement, secondLook: options.secondLook ?? true };
  const read = await readInk(value, width, height, inverted, ILLUMINATION_CELLS, look);
  // Ink must stand out from the paper; a flat picture has no digit to find.
  if (!read) return { pixels: new Float32Array(size * size), size, source, inverted, ink: null, placement };
  const { ink, box } = read;
  const even = {
    size, fit, evenStrokes: options.evenStrokes ?? true, calibrateInk: options.calibrateInk ?? true,
    thin: options.thinStrokes ?? { above: STROKE.thinAbove, to: STROKE.thinTo },
  };
  if (placement === 'digit' && !alpha && (options.zoom ?? true)) {
    const zoomed = await zoomIn(bytes, options.maxPixels, source, box, width, height, inverted, look);
    if (zoomed) {
      const { region, box: found } = zoomed;
      // Its ink and the box in working pixels (what Preprocessed.ink reports), the digit read at the finer scale.
      const s = region.width / zoomed.width;
      const at = { left: Math.floor(region.left + found.left * s), top: Math.floor(region.top + found.top * s), width: Math.max(1, Math.round(found.width * s)), height: Math.max(1, Math.round(found.height * s)) };
      return { pixels: placeDigit(zoomed.ink, zoomed.width, zoomed.height, found, even), size, source, inverted, ink: at, placement };
    }
  }
  if (placement === 'canvas') return { pixels: placeCanvas(ink, width, height, size), size, source, inverted, ink: box, placement };
  return { pixels: placeDigit(ink, width, height, box, even), size, source, inverted, ink: box, placement };
}

/**
 * The ink of a picture's grey values (light or dark paper): the lighting evened out over a grid of
 * `cells` per side, a smoothed copy stretched from paper to the ink's peak, the digit's marks kept
 * (and looked at a second time, for a digit); null when nothing stands out from the paper.
 */
async function readInk(value: Float32Array, width: number, height: number, inverted: boolean, cells: number, look: { placement: Placement; secondLook: boolean }): Promise<Ink | null> {
  flattenIllumination(value, width, height, inverted, cells);
  const paper = borderMedian(value, width, height);
  // Ink is looked for in a smoothed copy: sensor noise, paper grain and JPEG blocks average out
  // while strokes (several pixels wide at the working size) survive.
  const smooth = await denoise(value, width, height);
  const ink = inkOf(smooth, paper, width, height, look.placement);
  const box = ink && inkBox(ink, width, height);
  if (!ink || !box) return null;
  const first = { ink, box };
  if (look.placement !== 'digit' || !look.secondLook) return first;
  return secondLook(smooth, first, width, height, cells) ?? first;
}

/** Below this longest side of its ink in working pixels, a digit of a picture larger than the working size is read again from the picture itself. */
const ZOOM_BELOW = 128;
/** Illumination cells per side of a zoomed region (about twice the digit): each is still mostly paper. */
const ZOOM_CELLS = 3;

/**
 * A digit that the working size shrank to a few dozen pixels (a phone photo of 3000 px and more,
 * with a digit of a hundred or two) read again from the picture: the region around the first
 * look's ink, decoded at up to WORKING_SIDE px from the full-resolution picture, at most at its
 * native scale. Null when the picture was not shrunk, the digit is large enough, or nothing is found.
 */
async function zoomIn(bytes: Buffer, maxPixels: number, source: Preprocessed['source'], box: NonNullable<Preprocessed['ink']>, width: number, height: number, inverted: boolean, look: { placement: Placement; secondLook: boolean }): Promise<(Ink & { width: number; height: number; region: { left: number; top: number; width: number } }) | null> {
  const sideways = source.orientation >= 5;
  const fullWidth = sideways ? source.height : source.width;
  const scale = fullWidth / width;
  if (scale < 1.25 || Math.max(box.width, box.height) >= ZOOM_BELOW) return null;
  // Half the ink's size around it, in working pixels, then in the picture's.
  const margin = Math.ceil(Math.max(box.width, box.height) / 2) + 2;
  const left = Math.max(0, box.left - margin);
  const top = Math.max(0, box.top - margin);
  const right = Math.min(width, box.left + box.width + margin);
  const bottom = Math.min(height, box.top + box.height + margin);
  const fullHeight = sideways ? source.width : source.height;
  const extract = {
    left: Math.floor(left * scale),
    top: Math.floor(top * scale),
    width: Math.min(fullWidth, Math.ceil(right * scale)) - Math.floor(left * scale),
    height: Math.min(fullHeight, Math.ceil(bottom * scale)) - Math.floor(top * scale),
  };
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(bytes, { limitInputPixels: maxPixels })
      .rotate()
      .extract(extract)
      .resize({ width: WORKING_SIDE, height: WORKING_SIDE, fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch {
    return null; // the first look's reading stands
  }
  const region = lumaOf(out.data, out.info.channels, false, out.info.width, out.info.height);
  const found = await readInk(region.grey, region.width, region.height, inverted, ZOOM_CELLS, look);
  return found ? { ...found, width: region.width, height: region.height, region: { left, top, width: right - left } } : null;
}

/**
 * MNIST's placement of a digit's ink: the box fitted to `fit` px (strokes evened out) and the
 * centre of mass at the centre of a `size` × `size` field.
 */
function placeDigit(ink: Uint8Array, width: number, height: number, box: NonNullable<Preprocessed['ink']>, options: { size: number; fit: number; evenStrokes: boolean; calibrateInk: boolean; thin: { above: number; to: number } }): Float32Array {
  const { size } = options;
  const pixels = new Float32Array(size * size);
  const { digit, w, h } = fitStrokes(ink, width, height, box, options.fit, options.evenStrokes, options.calibrateInk, options.thin);

  // Centre of mass in pixel-index coordinates, placed at (size / 2, size / 2):
  // that is where MNIST's own digits have it (≈ 14.3 over the test set), not at 13.5.
  let mass = 0, mx = 0, my = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = digit[y * w + x]!;
      mass += v;
      mx += v * x;
      my += v * y;
    }
  }
  const cx = mass > 0 ? mx / mass : (w - 1) / 2;
  const cy = mass > 0 ? my / mass : (h - 1) / 2;
  // Clamped so a lopsided digit is shifted as far as it can go rather than cut off.
  const ox = Math.min(size - w, Math.max(0, Math.round(size / 2 - cx)));
  const oy = Math.min(size - h, Math.max(0, Math.round(size / 2 - cy)));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) pixels[(oy + y) * size + ox + x] = digit[y * w + x]! / 255;
  }
  return pixels;
}

/**
 * The whole normalised picture in the size × size field, aspect kept and centred:
 * pixel for pixel when it fits (a 60×60 upload to a 60×60 model is not resampled),
 * scaled down with lanczos3 when it does not (resample.ts).
 */
function placeCanvas(ink: Uint8Array, width: number, height: number, size: number): Float32Array {
  const pixels = new Float32Array(size * size);
  let w = width;
  let h = height;
  let data: Uint8Array = ink;
  if (width > size || height > size) {
    const scale = size / Math.max(width, height);
    w = Math.max(1, Math.min(size, Math.round(width * scale)));
    h = Math.max(1, Math.min(size, Math.round(height * scale)));
    data = resizeGrey(ink, width, height, w, h);
  }
  const ox = (size - w) >> 1;
  const oy = (size - h) >> 1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) pixels[(oy + y) * size + ox + x] = data[y * w + x]! / 255;
  }
  return pixels;
}

const MNIST_SIDE = 28;

/**
 * How an upload is placed in a model's input. A model trained on a larger canvas
 * (translated or cluttered MNIST, per config.task, or any input wider than MNIST's
 * 28×28) reads the picture at its canvas's resolution with the digit where it is,
 * so its glimpses do the finding; an MNIST model reads the digit cropped and centred.
 */
export function inputPlacement(config: RamConfig): Placement {
  const task = (config['task'] as { task?: unknown } | undefined)?.task;
  if (task === 'translated' || task === 'cluttered') return 'canvas';
  if (task === 'mnist') return 'digit';
  return config.imageSize > MNIST_SIDE ? 'canvas' : 'digit';
}
