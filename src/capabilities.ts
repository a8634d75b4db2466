import type { CapabilityFactory } from './capability.js';
import { createDecisionsCapability } from './decisions/index.js';
import { createImagesCapability } from './images/index.js';
import { createPersonalizerCapability } from './personalizer/index.js';
import { createDashboardCapability } from './dashboard/index.js';

/**
 * Every capability Focal mounts, in order. Each is a vertical slice with its
 * own routes, service and store (see its folder).
 */
export const CAPABILITIES: readonly CapabilityFactory[] = [
  createDecisionsCapability,
  createImagesCapability,
  // After decisions: a thin layer over its service and evaluation jobs.
  createPersonalizerCapability,
  createDashboardCapability,
];
