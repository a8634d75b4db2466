import type { FromSchema as Derive, JSONSchema } from 'json-schema-to-ts';
import type { Features, LearnerConfig, StrategyConfig } from './bandit/index.js';
type Titled = [
  { pattern: { title: 'Features' }; output: Features },
  { pattern: { title: 'Strategy' }; output: StrategyConfig },
  { pattern: { title: 'Learner' }; output: LearnerConfig },
];
export type FromSchema<S extends JSONSchema> = Derive<S, { deserialize: Titled }>;
