import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createApp, type FocalApp } from './app.js';
import type { CapabilityFactory } from './capability.js';
import { CAPABILITIES } from './capabilities.js';
import type { Config } from './platform/config.js';
import type { Logger } from './platform/logger.js';
import { Metrics } from './platform/metrics.js';
import { selectTensorBackend } from './platform/tensor-backend.js';
import { closeDatabase, enableIncrementalVacuum, openDatabase, type Db } from './store/database.js';

export interface RunningServer {
  port: number;
  server: Server;
  focal: FocalApp;
  db: Db;
  /**
   * Graceful stop: refuse new connections, let requests in flight finish
   * (closing stragglers after config.shutdownTimeoutMs), flush capability
   * state, checkpoint and close the database. Safe to call twice.
   */
  stop(reason: string): Promise<void>;
}

/** Opens the store, builds the app and listens: everything main.ts does except signals. */
export async function startServer(config: Config, logger: Logger, capabilities?: readonly CapabilityFactory[]): Promise<RunningServer> {
  const choice = await selectTensorBackend(config.tfBackend);
  logger.info({ backend: choice.backend, skipped: choice.skipped }, `TensorFlow.js backend: ${choice.backend}`);

  const dbPath = join(config.dataDir, 'focal.db');
  const db = openDatabase({ path: dbPath, ...(config.maxDatabaseBytes !== undefined ? { maxBytes: config.maxDatabaseBytes } : {}) });
  logger.info({ dbPath, maxBytes: config.maxDatabaseBytes }, 'database open');
  // Retention hands freed space back to the file system by incremental vacuum, which a database made before it needs converting to.
  const started = Date.now();
  let vacuum: ReturnType<typeof enableIncrementalVacuum> | 'failed';
  try {
    vacuum = enableIncrementalVacuum(db);
  } catch (err) {
    // VACUUM needs about the file's size in free space: without it, Focal runs on as before and tries again next start.
    logger.warn({ err }, 'database could not be converted to incremental auto-vacuum (VACUUM failed); deleted events free pages for reuse but the file does not shrink');
    vacuum = 'failed';
  }
  if (vacuum === 'enabled') logger.info({ ms: Date.now() - started }, 'database converted to incremental auto-vacuum (one VACUUM)');
  else if (vacuum === 'too-large') {
    logger.warn({ dbPath }, 'database is too large to convert to incremental auto-vacuum at start-up: deleted events free pages for reuse but the file does not shrink; '
      + 'to convert, stop Focal and run: sqlite3 focal.db "PRAGMA auto_vacuum = INCREMENTAL; VACUUM;"');
  }

  const metrics = new Metrics();
  const focal = await createApp({ config, db, logger, metrics, backend: choice.backend, capabilities: capabilities ?? CAPABILITIES });
  const server = focal.app.listen(config.port, config.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  logger.info({ port, host: config.host }, `Focal listening on http://${config.host}:${port}`);

  let stopping: Promise<void> | undefined;
  const stop = (reason: string) => {
    stopping ??= (async () => {
      logger.info({ reason }, 'shutting down: no new connections, finishing requests in flight');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => {
        logger.warn('shutdown timeout: closing remaining connections');
        server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      await closed;
      clearTimeout(force);
      await focal.close();
      closeDatabase(db);
      logger.info('stopped cleanly');
    })();
    return stopping;
  };
  return { port, server, focal, db, stop };
}
