// npm run reconcile [-- --tenant <id>] [--rebuild]
// Compares the hourly rollups with the ledger, and wallet balances and grant remainders with
// their movements, and prints every difference (exit 1 when any); --rebuild recomputes the
// rollups from the ledger and the balances and remainders from the movements.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { locateDatabase } from '../db/connect';
import { migrateAsOwner, openDatabase } from '../db/database';
import { exitOnStartupError } from '../lib/startup-error';
import { rebuildCredits, reconcileCredits } from '../modules/credits/credits.reconcile';
import { rebuild, reconcile } from '../modules/usage/usage.reconcile';

const { values } = parseArgs({ options: { tenant: { type: 'string' }, rebuild: { type: 'boolean', default: false } } });
const config = loadConfig();
const location = await locateDatabase(config).catch(exitOnStartupError);
// An operator command: it runs as DATABASE_URL's user (the owner), since --rebuild deletes and
// rewrites rollup rows, which the service's own role may not.
await migrateAsOwner(location.url, config.databaseAppUrl).catch(async (e) => {
  await location.stop();
  return exitOnStartupError(e);
});
const db = await openDatabase(location.url, { poolSize: 2, migrate: false });
let code = 0;
try {
  const tenant = values.tenant ?? null;
  const diffs = await reconcile(db, tenant);
  for (const d of diffs) {
    const k = d.key;
    const what = Object.entries(d.measures)
      .map(([m, [l, r]]) => `${m}: ledger ${l ?? '-'} rollup ${r ?? '-'}`)
      .join('; ');
    console.log(
      `DIFF ${d.table} tenant=${k.tenant_id} hour=${k.hour} kind=${k.kind} key=${k.api_key_id ?? '-'} model=${k.model ?? '-'} subject=${k.subject ?? '-'}: ${what}`,
    );
  }
  const credits = await reconcileCredits(db, tenant);
  for (const d of credits)
    console.log(`DIFF ${d.table} tenant=${d.tenantId} id=${d.id}: movements ${d.value[0]} cached ${d.value[1]}`);
  console.log(`reconcile: ${diffs.length + credits.length} difference(s)${tenant ? ` for tenant ${tenant}` : ''}`);
  if (values.rebuild) {
    const n = await rebuild(db, tenant);
    console.log(`reconcile: rebuilt ${n} rollup row(s) from the ledger`);
    const m = await rebuildCredits(db, tenant);
    console.log(`reconcile: rebuilt ${m} wallet and grant row(s) from their movements`);
    const after = (await reconcile(db, tenant)).length + (await reconcileCredits(db, tenant)).length;
    console.log(`reconcile: ${after} difference(s) after rebuild`);
    code = after ? 1 : 0;
  } else code = diffs.length + credits.length ? 1 : 0;
} finally {
  await db.close();
  await location.stop();
}
process.exit(code);
