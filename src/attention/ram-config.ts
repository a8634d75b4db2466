import type { GlimpseConvConfig } from './conv-glimpse.js';
import type { CoreType } from './core-network.js';
import { SHIFT_OFFSETS } from './test-shifts.js';
import type { RamConfig } from './types.js';

/** Weights of the hybrid loss's three terms. */
export interface LossWeights {
  classification: number;
  baseline: number;
  reinforce: number;
}

/** Every hyperparameter of the network, with the defaults filled in. */
export interface ResolvedRamConfig extends RamConfig {
  glimpseHidden: number;
  locationHidden: number;
  glimpseOutput: number;
  hiddenSize: number;
  core: CoreType;
  lossWeights: LossWeights;
  /**
   * The convolutional "what" pathway (conv-glimpse.ts), e.g. { channels: [16, 32] }; absent (the key is left out,
   * whether the config had none, undefined or null) for the plain Dense over the retina of the shipped models.
   */
  glimpseConv?: GlimpseConvConfig;
  /**
   * The location policy's mean is locationRange·tanh(·) (location-network.ts): below 1 its limit lies inside the
   * canvas, so a saturated policy still looks at the digit. Absent (left out, as for the shipped models) means 1.
   */
  locationRange?: number;
  /**
   * The deterministic reading (location means) averages the class probabilities over this many one-pixel shifts
   * of the input (src/attention/test-shifts.ts: 5 or 9; models/README.md rule 28), as POST /classify-image and
   * eval:ram/eval:photos read the model. Absent (left out, as for models read once) means 1.
   */
  shifts?: number;
}

export const defaultLossWeights: LossWeights = { classification: 1, baseline: 1, reinforce: 1 };

/** Sizes from the paper / kevinzakka's reimplementation: h_g, h_l 128, g and h 256. */
export function resolveRamConfig(config: RamConfig): ResolvedRamConfig {
  const num = (key: string, fallback: number): number => {
    const v = config[key];
    return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
  };
  const core = config['core'] === 'lstm' ? 'lstm' : 'rnn';
  const weights = (config['lossWeights'] ?? {}) as Partial<LossWeights>;
  const resolved: ResolvedRamConfig = {
    ...config,
    glimpseHidden: num('glimpseHidden', 128),
    locationHidden: num('locationHidden', 128),
    glimpseOutput: num('glimpseOutput', 256),
    hiddenSize: num('hiddenSize', 256),
    core,
    lossWeights: { ...defaultLossWeights, ...weights },
  };
  // Left out rather than null: a config without the pathway resolves (and saves) exactly as before it existed.
  delete resolved.glimpseConv;
  delete resolved.locationRange;
  delete resolved.shifts;
  validate(resolved);
  const range = config['locationRange'];
  if (range !== undefined && range !== null) {
    if (typeof range !== 'number' || !(range > 0 && range <= 1)) throw new RangeError(`RamConfig.locationRange must be a number in (0, 1], got ${JSON.stringify(range)}`);
    if (range !== 1) resolved.locationRange = range;
  }
  const shifts = config['shifts'];
  if (shifts !== undefined && shifts !== null) {
    if (typeof shifts !== 'number' || SHIFT_OFFSETS[shifts] === undefined) {
      throw new RangeError(`RamConfig.shifts must be one of ${Object.keys(SHIFT_OFFSETS).join(', ')}, got ${JSON.stringify(shifts)}`);
    }
    if (shifts !== 1) resolved.shifts = shifts;
  }
  const conv = resolveGlimpseConv(config['glimpseConv'], resolved.patchSize);
  if (conv) resolved.glimpseConv = conv;
  return resolved;
}

/** RamConfig.glimpseConv checked and copied: null/undefined → undefined, else { channels: [C1, C2] } (and stride: 2 when given so; 1 is left out). */
function resolveGlimpseConv(value: unknown, patchSize: number): GlimpseConvConfig | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new RangeError(`RamConfig.glimpseConv must be null or an object { channels: [C1, C2] }, got ${JSON.stringify(value)}`);
  }
  const unknown = Object.keys(value).filter((k) => k !== 'channels' && k !== 'stride');
  if (unknown.length) throw new RangeError(`RamConfig.glimpseConv has unknown keys ${unknown.join(', ')} (it takes channels: [C1, C2] and stride)`);
  const channels = (value as { channels?: unknown }).channels;
  if (!Array.isArray(channels) || channels.length !== 2) {
    throw new RangeError(`RamConfig.glimpseConv.channels must be an array of two channel counts [C1, C2], got ${JSON.stringify(channels)}`);
  }
  channels.forEach((c: unknown, i) => {
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 1) throw new RangeError(`RamConfig.glimpseConv.channels[${i}] must be a positive integer, got ${typeof c === 'number' ? c : JSON.stringify(c)}`);
  });
  const stride = (value as { stride?: unknown }).stride ?? 1;
  if (stride !== 1 && stride !== 2) throw new RangeError(`RamConfig.glimpseConv.stride (the second convolution's) must be 1 or 2, got ${JSON.stringify(stride)}`);
  if (patchSize < 5) throw new RangeError(`RamConfig.glimpseConv needs patchSize ≥ 5 (two 3×3 'valid' convolutions shrink the patch by 4), got ${patchSize}`);
  return { channels: [channels[0] as number, channels[1] as number], ...(stride === 2 ? { stride } : {}) };
}

function validate(c: ResolvedRamConfig): void {
  const positiveInts: [string, number][] = [
    ['imageSize', c.imageSize],
    ['glimpses', c.glimpses],
    ['patchSize', c.patchSize],
    ['scales', c.scales],
    ['glimpseHidden', c.glimpseHidden],
    ['locationHidden', c.locationHidden],
    ['glimpseOutput', c.glimpseOutput],
    ['hiddenSize', c.hiddenSize],
  ];
  for (const [name, value] of positiveInts) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`RamConfig.${name} must be a positive integer, got ${value}`);
  }
  if (!(c.locationStd > 0)) throw new RangeError(`RamConfig.locationStd must be > 0, got ${c.locationStd}`);
  if (!Array.isArray(c.classes) || c.classes.length < 2) throw new RangeError('RamConfig.classes needs at least two labels');
}

/** The MNIST configuration of the shipped model. */
export function mnistRamConfig(overrides: Partial<RamConfig> = {}): RamConfig {
  return {
    imageSize: 28,
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    glimpses: 6,
    patchSize: 8,
    scales: 3,
    locationStd: 0.15,
    glimpseHidden: 128,
    locationHidden: 128,
    glimpseOutput: 256,
    hiddenSize: 256,
    core: 'rnn',
    lossWeights: { ...defaultLossWeights },
    ...overrides,
  };
}
