import * as tf from '@tensorflow/tfjs';
import { ActionNetwork } from './action-network.js';
import { BaselineNetwork } from './baseline-network.js';
import { createCore, type CoreNetwork } from './core-network.js';
import { GlimpseNetwork } from './glimpse-network.js';
import { glimpseSensor, type SensorSpec } from './glimpse-sensor.js';
import { drawLocations, LocationNetwork } from './location-network.js';
import { Parameters } from './parameters.js';
import type { ResolvedRamConfig } from './ram-config.js';
import type { Rng } from './rng.js';

export interface UnrollOptions {
  /** Glimpses to take; default config.glimpses. */
  glimpses?: number;
  /** 'sample' draws each next location from the Gaussian policy (training, Monte-Carlo); 'mean' uses its mean. */
  mode: 'sample' | 'mean';
  /** Source of the policy noise in 'sample' mode. */
  rng?: Rng;
  /** 'sample' mode: reuse these draws (Rollout.draws of an earlier unroll) instead of new noise. */
  replay?: Float32Array[];
}

export interface Rollout {
  /** [B, classes] from the last core state. */
  logits: tf.Tensor2D;
  /** Location of each glimpse t = 1..T as (x, y) pairs per image, plain numbers. */
  locations: Float32Array[];
  /** The unclipped Gaussian draws behind locations 2..T ('sample' mode), for replay. */
  draws: Float32Array[];
  /** log π(l_t | h_t) for every sampled location t = 1..T−1, [B, T−1]; null when T = 1. */
  logPi: tf.Tensor2D | null;
  /** b_t for the same steps, [B, T−1] ('sample' mode); null when T = 1 or in 'mean' mode. */
  baselines: tf.Tensor2D | null;
}

/**
 * A tensor with the same values and no link to the tape: the stop-gradient that
 * tfjs lacks. Used for the state the location and baseline networks read and
 * for the baseline inside the advantage.
 */
export function detach<T extends tf.Tensor>(t: T): T {
  return tf.tensor(t.dataSync(), t.shape, t.dtype) as T;
}

/** The RAM agent: one component per role of the paper, one unroll for training and inference. */
export class RamNetwork {
  readonly params: Parameters;
  readonly sensor: SensorSpec;
  readonly glimpse: GlimpseNetwork;
  readonly core: CoreNetwork;
  readonly location: LocationNetwork;
  readonly action: ActionNetwork;
  readonly baseline: BaselineNetwork;

  constructor(readonly config: ResolvedRamConfig, rng: Rng) {
    const c = config;
    this.params = new Parameters(rng);
    this.sensor = { patchSize: c.patchSize, scales: c.scales };
    const conv = c.glimpseConv ? { patchSize: c.patchSize, scales: c.scales, ...c.glimpseConv } : undefined;
    this.glimpse = new GlimpseNetwork(this.params, c.patchSize * c.patchSize * c.scales, c.glimpseHidden, c.locationHidden, c.glimpseOutput, conv);
    this.core = createCore(c.core, this.params, c.glimpseOutput, c.hiddenSize);
    this.location = new LocationNetwork(this.params, c.hiddenSize, c.locationStd, c.locationRange ?? 1);
    this.action = new ActionNetwork(this.params, c.hiddenSize, c.classes.length);
    this.baseline = new BaselineNetwork(this.params, c.hiddenSize);
  }

  /**
   * Glimpse, update the core, choose the next location — T times — then classify.
   * The first glimpse looks at the centre; each later one where the policy says.
   * Call inside tf.tidy (or tf.variableGrads).
   */
  unroll(images: tf.Tensor4D, options: UnrollOptions): Rollout {
    const steps = options.glimpses ?? this.config.glimpses;
    if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`glimpses must be a positive integer, got ${steps}`);
    if (options.mode === 'sample' && !options.rng && !options.replay) throw new Error("unroll: mode 'sample' needs an rng or a replay");
    const batch = images.shape[0];
    // Locations live in JS: they never carry a gradient (stop-gradient at l_t).
    let location = new Float32Array(batch * 2);
    let state = this.core.initial(batch);
    const locations: Float32Array[] = [];
    const draws: Float32Array[] = [];
    const logPis: tf.Tensor1D[] = [];
    const baselines: tf.Tensor1D[] = [];
    for (let t = 0; t < steps; t++) {
      locations.push(location);
      const retina = glimpseSensor(images, location, this.sensor);
      state = this.core.step(state, this.glimpse.apply(retina, tf.tensor2d(location, [batch, 2])));
      if (t === steps - 1) break;
      // The policy and the baseline read h_t without pushing gradients into the
      // core: the core learns from the classification loss only (stable, as in
      // kevinzakka's reimplementation); the policy learns from REINFORCE.
      const h = detach(state.h);
      const mean = this.location.apply(h);
      // The baseline only serves the REINFORCE loss: inference ('mean' mode) skips its ops.
      if (options.mode === 'sample') baselines.push(this.baseline.apply(h));
      const means = mean.dataSync();
      if (options.mode === 'mean') {
        location = Float32Array.from(means);
      } else {
        const { sample, next } = drawLocations(means, this.location.std, options.rng, options.replay?.[t]);
        draws.push(sample);
        // log π at the unclipped draw, the point the Gaussian actually produced.
        logPis.push(this.location.logProbability(mean, tf.tensor2d(sample, [batch, 2])));
        location = next;
      }
    }
    return {
      logits: this.action.apply(state.h),
      locations,
      draws,
      logPi: logPis.length ? (tf.stack(logPis, 1) as tf.Tensor2D) : null,
      baselines: baselines.length ? (tf.stack(baselines, 1) as tf.Tensor2D) : null,
    };
  }

  dispose(): void {
    this.params.dispose();
  }
}
