/**
 * The bandit API suite (suite.ts) on PostgreSQL (FOCAL_DATABASE_URL): one server for the whole run
 * (test/pg-server.ts; it fails, never skips, without one), a fresh database per harness. The cases still waiting
 * for a feature on PostgreSQL run as `todo` (harness.ts, NOT_YET_ON_POSTGRES).
 */
import './on-postgres.js';
import './suite.js';
