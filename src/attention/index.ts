export type { Classification, ClassifyOptions, GlimpseStep, LabelledImage, RamConfig, RamModel } from './types.js';
export { AttentionModel, createRamModel, loadRamModel } from './ram-model.js';
export { mnistRamConfig, resolveRamConfig, type LossWeights, type ResolvedRamConfig } from './ram-config.js';
export { glimpseSensor, patchSizes, type SensorSpec } from './glimpse-sensor.js';
export { renderTestSet, taskOfConfig, TEST_RENDER_SEED } from './evaluation.js';
export { taskSpec, type TaskName, type TaskSpec } from './mnist-dataset.js';
