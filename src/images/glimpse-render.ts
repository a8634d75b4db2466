import sharp from 'sharp';
import type { GlimpseStep } from '../attention/index.js';

/**
 * Draws where the model looked: the preprocessed input, upscaled with hard
 * pixel edges, with each glimpse's patches as boxes and its step number, on a
 * margin wide enough that the largest patch is never clipped.
 */

export interface RenderOptions {
  /** Output pixels per input pixel. */
  scale?: number;
}

/** Distinct hues so consecutive glimpses can be told apart. */
/** Label corners in turn: top-left, top-right, bottom-right, bottom-left. */
const CORNERS: readonly [number, number][] = [[-1, -1], [1, -1], [1, 1], [-1, 1]];
const COLOURS = ['#ff4d4d', '#ffa64d', '#ffe14d', '#5cd65c', '#4dd2ff', '#6b8cff', '#c36bff', '#ff6bd0'];

export function renderedSide(size: number, glimpses: readonly GlimpseStep[], scale: number): number {
  return (size + 2 * margin(glimpses)) * scale;
}

function margin(glimpses: readonly GlimpseStep[]): number {
  const largest = Math.max(0, ...glimpses.flatMap((g) => g.sizes));
  return Math.ceil(largest / 2);
}

export async function renderGlimpses(pixels: Float32Array, size: number, glimpses: readonly GlimpseStep[], options: RenderOptions = {}): Promise<Buffer> {
  const scale = options.scale ?? 10;
  const pad = margin(glimpses);
  const side = (size + 2 * pad) * scale;
  const grey = Buffer.alloc(size * size);
  for (let i = 0; i < grey.length; i++) grey[i] = Math.round(Math.min(1, Math.max(0, pixels[i] ?? 0)) * 255);
  const input = await sharp(grey, { raw: { width: size, height: size, channels: 1 } })
    .resize(size * scale, size * scale, { kernel: 'nearest' })
    .png()
    .toBuffer();

  const shapes: string[] = [];
  // The input's own border, so the margin reads as outside the image.
  shapes.push(`<rect x="${pad * scale}" y="${pad * scale}" width="${size * scale}" height="${size * scale}" fill="none" stroke="#888" stroke-width="1"/>`);
  const centres = glimpses.map((g) => ({ x: (pad + ((g.x + 1) / 2) * size) * scale, y: (pad + ((g.y + 1) / 2) * size) * scale }));
  if (centres.length > 1) {
    shapes.push(`<polyline points="${centres.map((c) => `${c.x.toFixed(1)},${c.y.toFixed(1)}`).join(' ')}" fill="none" stroke="#ffffff" stroke-opacity="0.5" stroke-width="2"/>`);
  }
  glimpses.forEach((g, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const c = centres[i]!;
    g.sizes.forEach((s, k) => {
      const half = (s * scale) / 2;
      // Outer patches fainter: the fovea is what the eye should find first.
      const opacity = (1 / (k + 1)).toFixed(2);
      shapes.push(`<rect x="${(c.x - half).toFixed(1)}" y="${(c.y - half).toFixed(1)}" width="${(2 * half).toFixed(1)}" height="${(2 * half).toFixed(1)}" fill="none" stroke="${colour}" stroke-opacity="${opacity}" stroke-width="2"/>`);
    });
    const smallest = ((Math.min(...g.sizes) * scale) / 2);
    shapes.push(`<circle cx="${c.x.toFixed(1)}" cy="${c.y.toFixed(1)}" r="3" fill="${colour}"/>`);
    // Trained models often settle on one spot for several steps: each step's number takes the next corner of its fovea.
    const [sx, sy] = CORNERS[i % CORNERS.length]!;
    const tx = c.x + sx * (smallest - 10) - 4;
    const ty = c.y + sy * (smallest - 10) + 5;
    shapes.push(`<text x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" font-family="sans-serif" font-size="14" font-weight="bold" fill="${colour}">${g.step}</text>`);
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}">${shapes.join('')}</svg>`;

  return sharp({ create: { width: side, height: side, channels: 3, background: '#202020' } })
    .composite([{ input, left: pad * scale, top: pad * scale }, { input: Buffer.from(svg), left: 0, top: 0 }])
    .png()
    .toBuffer();
}
