// npm start: database (embedded unless DATABASE_URL), migrations, operator key, server,
// and a clean stop on SIGINT/SIGTERM.
import { createApp } from './app';
import { loadConfig } from './config';
import { locateDatabase } from './db/connect';
import { openDatabase } from './db/database';
import { serve } from './http';
import { StartupError } from './lib/startup-error';
import { createLogger } from './observability';
import { operatorKey } from './operator-key';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const location = await locateDatabase(config, (m) => logger.info(m));
  const db = await openDatabase(location.url, { poolSize: config.poolSize });
  logger.info('migrations applied');

  const op = operatorKey(config.dataDir, config.operatorKey);
  if (op.generated) {
    process.stdout.write(
      `\n  Operator key (shown once; also kept in ${op.file}):\n\n    ${op.key}\n\n  Use it as: Authorization: Bearer ${op.key}\n\n`,
    );
  }
  const app = createApp({ db, config: { ...config, operatorKey: op.key }, logger });
  const server = await serve(app, db, {
    port: config.port,
    host: config.host,
    maxBodyBytes: config.maxBodyBytes,
  }).catch(async (err) => {
    await app.close();
    await db.close();
    if (!location.reused) await location.stop(); // a cluster another run started stays up
    throw err;
  });
  logger.info(
    { port: server.port, embeddedDatabase: location.embedded },
    `Tally listening on http://localhost:${server.port}/graphql`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new requests, finishing in-flight ones');
    await server.stop(config.shutdownGraceMs);
    await app.close();
    await db.close();
    await location.stop();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  if (err instanceof StartupError) console.error(`tally cannot start: ${err.message}`);
  else console.error(err);
  process.exit(1);
});
