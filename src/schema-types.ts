import type { FromSchema as Derive, JSONSchema } from 'json-schema-to-ts';
import type { Features, LearnerConfig, StrategyConfig } from './bandit/index.js';
type Titled = [
  { pattern: { title: 'Features' }; output: Features },
  { pattern: { title: 'Strategy' }; output: StrategyConfig },
  { pattern: { title: 'Learner' }; output: LearnerConfig },
];
/** A request as its handler sees it: validated, with the schema's defaults filled in (a property with a `default` is present). */
export type FromSchema<S extends JSONSchema> = Derive<S, { deserialize: Titled }>;
/** A request as a caller sends it, before validation fills in defaults (a property with a `default` stays optional): what a service takes. */
export type FromSchemaAsSent<S extends JSONSchema> = Derive<S, { deserialize: Titled; keepDefaultedPropertiesOptional: true }>;
