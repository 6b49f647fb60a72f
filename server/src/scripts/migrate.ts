// npm run migrate: applies pending migrations (forward-only) and exits.
import { loadConfig } from '../config';
import { locateDatabase } from '../db/connect';
import { migrateAsOwner } from '../db/database';
import { exitOnStartupError } from '../lib/startup-error';

const config = loadConfig();
const location = await locateDatabase(config, console.log).catch(exitOnStartupError);
// Also grants the runtime role what it needs (see db/runtime-role.ts).
const { applied } = await migrateAsOwner(location.url, config.databaseAppUrl).catch(async (e) => {
  await location.stop();
  return exitOnStartupError(e);
});
console.log(applied.length ? `applied: ${applied.join(', ')}` : 'no pending migrations');
await location.stop();
