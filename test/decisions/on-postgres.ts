import { after } from 'node:test';
import { runOnPostgres, stopPostgres } from './harness.js';

// Imported before the cases: every harness of this process keeps its bandit log in PostgreSQL (one server).
runOnPostgres();
after(stopPostgres);
