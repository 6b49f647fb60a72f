// npm start: database (embedded unless DATABASE_URL), migrations, operator key, server,
// and a clean stop on SIGINT/SIGTERM.
import { createApp } from './app';
import { loadConfig } from './config';
import { locateDatabase } from './db/connect';
import { openDatabase } from './db/database';
import { checkPortFree, serve } from './http';
import { exitOnStartupError } from './lib/startup-error';
import { createLogger } from './observability';
import { settleOperatorKey } from './operator-key';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  await checkPortFree(config.port, config.host);
  const location = await locateDatabase(config, (m) => logger.info(m));
  const db = await openDatabase(location.url, { poolSize: config.poolSize, appUrl: config.databaseAppUrl });
  logger.info('migrations applied');

  // One operator key for every instance of this database (its hash is kept there).
  const op = await settleOperatorKey(location.url, config.dataDir, config.operatorKey);
  if (op.generated) {
    const { key, file } = op.generated;
    process.stdout.write(
      `\n  Operator key (shown once; also kept in ${file}):\n\n    ${key}\n\n  Use it as: Authorization: Bearer ${key}\n\n`,
    );
  }
  if (op.replaced) logger.warn('TALLY_OPERATOR_KEY replaced the operator key kept in the database');
  const app = createApp({ db, config: { ...config, operatorKey: undefined, operatorKeyHash: op.hash }, logger });
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

// A reason the operator can act on is one line; anything else keeps its stack.
main().catch(exitOnStartupError);
