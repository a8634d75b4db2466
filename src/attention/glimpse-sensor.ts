import * as tf from '@tensorflow/tfjs';

export interface SensorSpec {
  /** Side g of every patch after resizing. */
  patchSize: number;
  /** Number k of patches; patch i covers g·2^i input pixels. */
  scales: number;
}

/** Patch sides in input pixels: g, 2g, 4g, … */
export function patchSizes(spec: SensorSpec): number[] {
  return Array.from({ length: spec.scales }, (_, i) => spec.patchSize * 2 ** i);
}

/**
 * The weight-free retina ρ(x, l): k square patches centred at l ∈ [-1,1]² (x, y;
 * (-1,-1) is the top-left corner of the image), the first g×g, each next twice as
 * wide, each reduced to g×g and concatenated → [B, k·g·g].
 *
 * One batched cropAndResize per scale (no per-sample loop). Each patch is first
 * sampled at input resolution (one sample per pixel, bilinear for sub-pixel
 * centres, 0 outside the image) and then average-pooled, so coarse scales are a
 * true area average rather than an aliased point sample. The cost depends on
 * g, k and the batch only, not on the input size.
 *
 * `locations` are plain numbers (x0, y0, x1, y1, …): the location never carries a
 * gradient (the paper's stop-gradient at the sampled location), and building the
 * boxes in JS saves a dozen tiny kernels per glimpse.
 */
export function glimpseSensor(images: tf.Tensor4D, locations: ArrayLike<number>, spec: SensorSpec): tf.Tensor2D {
  const [batch, height, width] = images.shape;
  if (locations.length !== batch * 2) throw new RangeError(`glimpseSensor: ${batch} images but ${locations.length / 2} locations`);
  return tf.tidy(() => {
    const boxIndices = tf.range(0, batch, 1, 'int32') as tf.Tensor1D;
    const patches: tf.Tensor2D[] = [];
    for (const side of patchSizes(spec)) {
      const half = (side - 1) / 2;
      const boxes = new Float32Array(batch * 4);
      for (let i = 0; i < batch; i++) {
        // Centre in pixel-centre coordinates (pixel j has its centre at j);
        // cropAndResize maps normalised u to pixel u·(size−1).
        const cx = ((locations[2 * i]! + 1) * width) / 2 - 0.5;
        const cy = ((locations[2 * i + 1]! + 1) * height) / 2 - 0.5;
        boxes[4 * i] = (cy - half) / Math.max(height - 1, 1);
        boxes[4 * i + 1] = (cx - half) / Math.max(width - 1, 1);
        boxes[4 * i + 2] = (cy + half) / Math.max(height - 1, 1);
        boxes[4 * i + 3] = (cx + half) / Math.max(width - 1, 1);
      }
      let crop: tf.Tensor4D = tf.image.cropAndResize(images, tf.tensor2d(boxes, [batch, 4]), boxIndices, [side, side], 'bilinear', 0);
      const factor = side / spec.patchSize;
      if (factor > 1) crop = tf.avgPool(crop, factor, factor, 'valid');
      patches.push(crop.reshape([batch, spec.patchSize * spec.patchSize]));
    }
    return patches.length === 1 ? patches[0]! : tf.concat(patches, 1);
  });
}
