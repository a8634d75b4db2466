/**
 * The bandit API suite: the decisions capability's in-process cases, in modules of their own (each test process
 * pays for importing the whole app, TensorFlow.js included). api.test.ts runs them on SQLite, api-pg.test.ts on
 * PostgreSQL (harness.ts: `runOnPostgres`).
 */
import './models.cases.js';
import './decide.cases.js';
import './reward.cases.js';
import './group-commit.cases.js';
import './strategies.cases.js';
import './payload.cases.js';
import './lean-lane.cases.js';
import './config-roundtrip.cases.js';
import './sweep.cases.js';
import './learning-errors.cases.js';
import './openapi-responses.cases.js';
import './config-bounds.cases.js';
import './off-policy.cases.js';
import './modes.cases.js';
import './timeseries.cases.js';
import './events.cases.js';
import './snapshot-format.cases.js';
