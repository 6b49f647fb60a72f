// tally: the command line for operators and for checking things by hand, built on the typed
// client. Connection: --url / --api-key, or TALLY_URL / TALLY_API_KEY. Each command group has
// its file (tenants.ts, plans.ts, usage.ts, export.ts, tokens.ts, credits.ts); output fitting is format.ts,
// failures failure.ts.
import { readFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { client, current, endpoint, json, list, out, program, tenantOf } from './context';
import { describe } from './failure';
import { dec, table } from './format';
import { showInstant } from './time';
import './tenants';
import './plans';
import './usage';
import './export';
import './tokens';
import './credits';
import { planImport } from './litellm';
import { RATES } from './price-diff';
import { diffPlan, reportJson, reportText, type Sent, sendPlan } from './price-import';

const keys = program.command('keys').description('API keys');
keys
  .command('create')
  .description('a key with its scopes (the secret is shown once)')
  .requiredOption('--name <name>')
  .requiredOption('--scopes <list>', 'comma-separated: INGEST,READ,ADMIN')
  .option('--tenant <id>', 'operator: the tenant')
  .action(async (o) => {
    const r = await client().createApiKey({
      tenantId: o.tenant,
      name: o.name,
      scopes: list(o.scopes).map((s) => s.toUpperCase()) as never,
    });
    out(r, () =>
      [
        `key      ${r.apiKey.id}`,
        `prefix   ${r.apiKey.prefix}`,
        `scopes   ${r.apiKey.scopes.join(', ')}`,
        `secret   ${r.secret}   (shown once)`,
      ].join('\n'),
    );
  });
keys
  .command('list')
  .description("a tenant's keys; dates in its zone")
  .option('--tenant <id>', "the tenant (default: the key's own)")
  .option('--include-revoked', 'also revoked keys', false)
  .action(async (o) => {
    const t = await tenantOf(o.tenant);
    const rows = await client().apiKeys(t.id, { includeRevoked: o.includeRevoked });
    const day = (iso: string | null) => showInstant(iso, t.timezone, 'day');
    out(rows, () =>
      table(
        [
          'id',
          'name',
          { head: 'prefix', fit: 'keep' },
          { head: 'scopes', fit: 'wrap', min: 7 },
          { head: 'last used', fit: 'keep' },
          ...(o.includeRevoked ? [{ head: 'revoked', fit: 'keep' as const }] : []),
        ],
        rows.map((k) => [
          k.id,
          k.name,
          k.prefix,
          k.scopes.join(','),
          day(k.lastUsedAt) || 'never',
          ...(o.includeRevoked ? [day(k.revokedAt)] : []),
        ]),
      ),
    );
  });
keys
  .command('revoke <id>')
  .description('ends a key now; its secret stops working')
  .action(async (id) => {
    const k = await client().revokeApiKey(id);
    out(k, () => `revoked ${k.prefix} (${k.name}) at ${k.revokedAt}`);
  });

const prices = program.command('prices').description('the price book');
prices
  .command('set')
  .requiredOption('--provider <name>')
  .requiredOption('--model <name>')
  .option('--tenant <id>', "a tenant's override (operator); tenant ADMIN keys set their own")
  .option('--currency <code>', 'ISO 4217', 'USD')
  .option('--input <perMillion>')
  .option('--output <perMillion>')
  .option('--cached-input <perMillion>')
  .option('--cache-write <perMillion>')
  .option('--per-request <amount>')
  .option('--per-second <amount>')
  .option('--per-unit <amount>')
  .option('--from <instant>', 'effective from (default now)')
  .action(async (o) => {
    const p = await client().setPrice({
      tenantId: o.tenant,
      provider: o.provider,
      model: o.model,
      currency: o.currency,
      inputPerMillion: o.input,
      outputPerMillion: o.output,
      cachedInputPerMillion: o.cachedInput,
      cacheWriteInputPerMillion: o.cacheWrite,
      perRequest: o.perRequest,
      perSecond: o.perSecond,
      perUnit: o.perUnit,
      effectiveFrom: o.from,
    });
    out(p, () => `price ${p.provider}/${p.model} from ${p.effectiveFrom}: ${rates(p)}`);
  });
prices
  .command('import <file>')
  .description("LiteLLM's model_prices_and_context_window.json: adds what is new, changes what changed, nothing else")
  .option('--tenant <id>', "import as a tenant's overrides")
  .option('--provider <name>', 'only this litellm_provider')
  .option('--from <instant>', 'effective from (default now)')
  .option('--dry-run', 'print what would change (added, changed old → new, unchanged, skipped) and set nothing', false)
  .option('--verbose', 'list added, unchanged and skipped prices by name, and every cost field not imported', false)
  .option('--concurrency <n>', 'batches (of 100 prices) sent at once', '2')
  .action(async (file, o) => {
    const c = client();
    const plan = planImport(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>, {
      provider: o.provider,
    });
    const from = o.from ?? new Date().toISOString();
    const diff = diffPlan(plan, await c.prices({ at: from, tenantId: o.tenant }), o.tenant ?? null);
    let sent: Sent | undefined;
    if (!o.dryRun) {
      const bar = new SingleBar({
        format: 'importing |{bar}| {value}/{total} prices',
        stream: process.stderr,
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 1000,
      });
      bar.start(plan.prices.length, 0);
      sent = await sendPlan(c, plan, {
        tenantId: o.tenant,
        from,
        concurrency: Number(o.concurrency),
        progress: (n) => bar.update(n),
      });
      bar.stop();
      if (sent.refused.length) process.exitCode = 1;
    }
    out(reportJson(plan, diff, sent), () => reportText(plan, diff, { verbose: o.verbose, from, sent }));
  });
prices
  .command('list')
  .option('--provider <name>')
  .option('--model <name>')
  .option('--at <instant>', 'only versions in force then')
  .option('--tenant <id>', "operator: include this tenant's overrides")
  .action(async (o) => {
    const rows = await client().prices({ provider: o.provider, model: o.model, at: o.at, tenantId: o.tenant });
    out(rows, () =>
      table(
        [
          'provider',
          { head: 'model', min: 10 },
          { head: 'tenant', fit: 'keep' },
          { head: 'from (UTC)', fit: 'keep' },
          { head: 'to (UTC)', fit: 'keep' },
          { head: 'rates', fit: 'keep' },
        ],
        rows.map((p) => [
          p.provider,
          p.model,
          p.tenantId ?? 'platform',
          showInstant(p.effectiveFrom, 'UTC', 'minute'),
          showInstant(p.effectiveTo, 'UTC', 'minute'),
          rateList(p),
        ]),
      ),
    );
  });

/** One "name rate" per set rate: "input/M 0.15". */
function rateList(p: Record<string, unknown>): string[] {
  return RATES.filter(([k]) => p[k] != null).map(([k, n]) => `${n} ${dec(p[k] as string)}`);
}

const rates = (p: Record<string, unknown>) => rateList(p).join(', ');

program
  .command('quota')
  .description('usage against every limit that applies')
  .option('--tenant <id>')
  .option('--key <id>', 'also the limits of this API key')
  .option('--subject <s>', 'also the limits of this end user')
  .action(async (o) => {
    const q = await client().quotaStatus({ tenantId: o.tenant, apiKeyId: o.key, subject: o.subject });
    out(q, () => `${q.blocked ? 'BLOCKED' : 'ok'} (tenant ${q.tenantId})\n${quotaTable(q.items)}`);
  });

function quotaTable(
  items: {
    scopeId: string | null;
    periodStart: string | null;
    used: string;
    reserved: string;
    remaining: string;
    exceeded: boolean;
    limit: { metric: string; period: string; scope: string; amount: string; action: string };
  }[],
) {
  return table(
    ['metric', 'period', 'scope', 'amount', 'used', 'reserved', 'remaining', 'action', 'state'],
    items.map((i) => [
      i.limit.metric,
      i.limit.period,
      i.scopeId ? `${i.limit.scope} ${i.scopeId}` : i.limit.scope,
      dec(i.limit.amount),
      dec(i.used),
      dec(i.reserved),
      dec(i.remaining),
      i.limit.action,
      i.exceeded ? 'EXCEEDED' : 'ok',
    ]),
  );
}

program
  .command('watch')
  .description('live quota alerts and updates (Ctrl-C to stop)')
  .option('--tenant <id>')
  .action(async (o) => {
    const c = client();
    const stop = () => void c.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    const alerts = (async () => {
      for await (const a of c.quotaAlerts({ tenantId: o.tenant }))
        console.log(
          json()
            ? JSON.stringify({ alert: a })
            : `${a.crossedAt}  ALERT  ${a.limit.metric} ${a.limit.period} reached ${a.threshold}% (used ${dec(a.used)} of ${dec(a.limit.amount)})`,
        );
    })();
    const updates = (async () => {
      for await (const q of c.quotaUpdated({ tenantId: o.tenant }))
        console.log(
          json()
            ? JSON.stringify({ quota: q })
            : `${new Date().toISOString()}  QUOTA  ${q.blocked ? 'BLOCKED' : 'ok'}  ${q.items
                .map((i) => `${i.limit.metric}/${i.limit.period} ${dec(i.used)}/${dec(i.limit.amount)}`)
                .join('  ')}`,
        );
    })();
    await Promise.all([alerts, updates]);
  });

// No GraphQL field reconciles: --rebuild deletes and rewrites rollup rows, which only the
// tables' owner may do (the service runs as a role that cannot), and the CLI ships in the client
// package, which carries no server code or database driver. So it says where reconcile runs.
program
  .command('reconcile')
  .description('checks the rollups against the ledger: runs on the server host, not over GraphQL')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(() => {
    throw new Error(
      'reconcile reads and rewrites the rollup tables as their owner, which no API key may do: ' +
        'run `npm run reconcile [-- --tenant <id>] [--rebuild]` where the server runs, with its DATABASE_URL',
    );
  });

program.parseAsync().catch((e: unknown) => {
  let url = program.opts<{ url: string }>().url;
  try {
    url = endpoint();
  } catch {}
  const f = describe(e, url, current.command);
  if (f.message) console.error(`error: ${f.message}`);
  process.exit(f.code);
});
