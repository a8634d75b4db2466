import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createApp } from './app.js';
import { ConfigError, helpText, loadConfig } from './platform/config.js';
import { createLogger } from './platform/logger.js';
import { Metrics } from './platform/metrics.js';
import { selectTensorBackend } from './platform/tensor-backend.js';
import { closeDatabase, openDatabase } from './store/database.js';

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(helpText());
    return;
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });

  const choice = await selectTensorBackend(config.tfBackend);
  logger.info({ backend: choice.backend, skipped: choice.skipped }, `TensorFlow.js backend: ${choice.backend}`);

  const dbPath = join(config.dataDir, 'focal.db');
  const db = openDatabase({ path: dbPath });
  logger.info({ dbPath }, 'database open');

  const metrics = new Metrics();
  const focal = await createApp({ config, db, logger, metrics, backend: choice.backend });
  const server = focal.app.listen(config.port, config.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  logger.info({ port, host: config.host }, `Focal listening on http://${config.host}:${port}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
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
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      stop(signal).catch((err: unknown) => {
        logger.fatal({ err }, 'shutdown failed');
        process.exit(1);
      });
    });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
