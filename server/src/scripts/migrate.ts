// npm run migrate: applies pending migrations (forward-only) and exits.
import { loadConfig } from '../config';
import { locateDatabase } from '../db/connect';
import { openDatabase } from '../db/database';

const config = loadConfig();
const location = await locateDatabase(config, console.log);
const db = await openDatabase(location.url, { migrate: false, poolSize: 2 });
const applied = await db.dataSource.runMigrations({ transaction: 'each' });
console.log(applied.length ? `applied: ${applied.map((m) => m.name).join(', ')}` : 'no pending migrations');
await db.close();
await location.stop();
