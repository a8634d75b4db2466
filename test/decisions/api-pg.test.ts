/**
 * The bandit API suite (suite.ts) on PostgreSQL (FOCAL_DATABASE_URL): one server for the whole run
 * (test/pg-server.ts; it fails, never skips, without one), a fresh database per harness. The two cases about SQLite
 * itself are not registered here (harness.ts, SQLITE_ONLY).
 */
import './on-postgres.js';
import './suite.js';
