/** The bandit API suite (suite.ts) on the embedded SQLite store. */
import './suite.js';
