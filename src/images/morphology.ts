/**
 * Grey-level morphology for evening out a digit's stroke width: `grow` is a max filter (white ink
 * on black gets thicker), `shrink` a min filter (thinner), each over a near-disc of the given
 * radius built from alternating 3×3 square and 3×3 cross passes (an octagon: the width changes by
 * about 2 px per step in every direction, diagonals included).
 *
 * Hand-written: sharp exposes libvips' morphology only as erode/dilate, which on 8-bit grey pixels
 * are not min and max filters: libvips treats a pixel as a bit pattern and returns the bitwise OR
 * (erode) or AND (dilate) of its square window (exact on 0/255 pictures only; see morphology.test.ts).
 * On a blurred or JPEG-softened photo, whose thick strokes are grey inside, thinning with them punched
 * holes in strokes and cut loops open (photograph-like set: 93.7% against 95.5% without thinning).
 * Their window is also a square, which thins a diagonal stroke √2 times as much as an upright one;
 * the near-disc here changes both alike. On a digit drawn at 4× its 20 px fit (≤ 80×80) a step
 * costs well under a millisecond.
 */

export type MorphologyDirection = 'grow' | 'shrink';

/** `img` (w × h grey values, 0 background) with its bright shapes grown or shrunk by `steps` px per side. */
export function morphGrey(img: Uint8Array, width: number, height: number, steps: number, direction: MorphologyDirection): Uint8Array {
  let src = Uint8Array.from(img);
  let dst = new Uint8Array(src.length);
  const pick = direction === 'grow' ? Math.max : Math.min;
  // Outside the picture is background: a shrinking digit is eaten from the border as from any edge.
  const outside = 0;
  const at = (a: Uint8Array, x: number, y: number): number => (x < 0 || y < 0 || x >= width || y >= height ? outside : a[y * width + x]!);
  for (let s = 0; s < steps; s++) {
    const square = s % 2 === 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let v = pick(src[y * width + x]!, at(src, x - 1, y), at(src, x + 1, y), at(src, x, y - 1), at(src, x, y + 1));
        if (square) v = pick(v, at(src, x - 1, y - 1), at(src, x + 1, y - 1), at(src, x - 1, y + 1), at(src, x + 1, y + 1));
        dst[y * width + x] = v;
      }
    }
    [src, dst] = [dst, src];
  }
  return src;
}

/**
 * Grey opening (a min filter, then a max filter) over a (2·radius + 1)² square: what is left of
 * `img` once every bright shape narrower than the square is gone. `img` minus its opening (the
 * top-hat) keeps the strokes and drops what is wider than them, such as paper texture and uneven
 * light at scales the illumination grid misses.
 * Hand-written for the reasons above (sharp has no grey min or max filter, and takes 8-bit pixels only
 * where this works on Float32 pictures); separable, with the running
 * extreme of each row and column kept in a monotonic queue, so the cost does not grow with radius.
 */
export function openingSquare(img: Float32Array, width: number, height: number, radius: number): Float32Array {
  return dilateSquare(erodeSquare(img, width, height, radius), width, height, radius);
}

/** Grey dilation (a max filter) over a (2·radius + 1)² square. */
export function dilateSquare(img: Float32Array, width: number, height: number, radius: number): Float32Array {
  return extremeFilter(extremeFilter(img, width, height, radius, true, false), width, height, radius, false, false);
}

/** Grey erosion (a min filter) over a (2·radius + 1)² square; outside the picture is ignored, not background. */
export function erodeSquare(img: Float32Array, width: number, height: number, radius: number): Float32Array {
  return extremeFilter(extremeFilter(img, width, height, radius, true, true), width, height, radius, false, true);
}

/** Min (or max) over a window of 2·radius + 1 along rows (or columns); outside the picture is ignored. */
function extremeFilter(src: Float32Array, width: number, height: number, radius: number, rows: boolean, min: boolean): Float32Array {
  const out = new Float32Array(src.length);
  const lines = rows ? height : width;
  const length = rows ? width : height;
  const step = rows ? 1 : width;
  const queue = new Int32Array(length);
  const better = min ? (a: number, b: number) => a <= b : (a: number, b: number) => a >= b;
  for (let line = 0; line < lines; line++) {
    const base = rows ? line * width : line;
    let head = 0;
    let tail = 0;
    // Window of output k: [k − radius, k + radius]; the queue holds indices whose values only worsen front to back.
    for (let i = 0, k = -radius; k < length; i++, k++) {
      if (i < length) {
        const v = src[base + i * step]!;
        while (tail > head && better(v, src[base + queue[tail - 1]! * step]!)) tail--;
        queue[tail++] = i;
      }
      if (k < 0) continue;
      while (queue[head]! < k - radius) head++;
      out[base + k * step] = src[base + queue[head]! * step]!;
    }
  }
  return out;
}
