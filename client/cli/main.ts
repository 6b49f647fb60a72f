// tally: the command line for operators and for checking things by hand, built on the typed
// client. Connection: --url / --api-key, or TALLY_URL / TALLY_API_KEY.
import { readFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { createTallyClient, type TallyClient, TallyError } from '../src/index';
import { dec, table } from './format';
import { planImport } from './litellm';
import { diffPlan, reportJson, reportText, type Sent, sendPlan } from './price-import';

const program = new Command('tally')
  .description('Tally: usage metering, quotas and billing for AI APIs')
  .addOption(new Option('--url <url>', 'GraphQL endpoint').env('TALLY_URL').default('http://localhost:4000/graphql'))
  .addOption(new Option('--api-key <secret>', 'API key (or the operator key)').env('TALLY_API_KEY'))
  .option('--json', 'print JSON instead of tables', false)
  .showHelpAfterError();

function client(): TallyClient {
  const o = program.opts<{ url: string; apiKey?: string }>();
  if (!o.apiKey) throw new TallyError('UNAUTHENTICATED', 'give --api-key or set TALLY_API_KEY');
  return createTallyClient({ url: o.url, apiKey: o.apiKey });
}
const json = () => program.opts<{ json: boolean }>().json;
const out = (value: unknown, text: () => string) => console.log(json() ? JSON.stringify(value, null, 2) : text());
const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** "COST:DAY:10" with optional ":BLOCK|ALERT", ":80,100" and ":TENANT|API_KEY|SUBJECT". */
function parseLimit(spec: string) {
  const [metric, period, amount, action = 'BLOCK', thresholds = '80,100', scope = 'TENANT'] = spec.split(':');
  if (!metric || !period || !amount)
    throw new TallyError('BAD_USER_INPUT', `limit "${spec}": use METRIC:PERIOD:AMOUNT[:ACTION[:THRESHOLDS[:SCOPE]]]`);
  return {
    metric: metric.toUpperCase(),
    period: period.toUpperCase(),
    amount,
    action: action.toUpperCase(),
    thresholds: list(thresholds).map(Number),
    scope: scope.toUpperCase(),
  } as never;
}
const collect = (v: string, prev: string[] = []) => [...prev, v];

const tenants = program.command('tenants').description('tenants (operator)');
tenants
  .command('create')
  .requiredOption('--name <name>')
  .option('--timezone <zone>', 'IANA zone for days and months', 'UTC')
  .option('--plan <code>', 'start on this plan')
  .action(async (o) => {
    const r = await client().createTenant({ name: o.name, timezone: o.timezone, planCode: o.plan });
    out(r, () =>
      [
        `tenant   ${r.apiKey.tenant.id}`,
        `key      ${r.apiKey.prefix} (${r.apiKey.scopes.join(', ')})`,
        `secret   ${r.secret}   (shown once)`,
      ].join('\n'),
    );
  });

const keys = program.command('keys').description('API keys');
keys
  .command('create')
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
  .option('--tenant <id>', "the tenant (default: the key's own)")
  .option('--include-revoked', 'also revoked keys', false)
  .action(async (o) => {
    const c = client();
    const tenantId = o.tenant ?? (await c.viewer()).tenant?.id;
    if (!tenantId) throw new TallyError('BAD_USER_INPUT', 'operator keys must name --tenant');
    const rows = await c.apiKeys(tenantId, { includeRevoked: o.includeRevoked });
    out(rows, () =>
      table(
        ['id', 'name', 'prefix', 'scopes', 'created', 'last used', 'revoked'],
        rows.map((k) => [k.id, k.name, k.prefix, k.scopes.join(','), k.createdAt, k.lastUsedAt, k.revokedAt]),
      ),
    );
  });
keys.command('revoke <id>').action(async (id) => {
  const k = await client().revokeApiKey(id);
  out(k, () => `revoked ${k.prefix} (${k.name}) at ${k.revokedAt}`);
});

program
  .command('plans')
  .description('plans (operator)')
  .command('set')
  .requiredOption('--code <code>')
  .requiredOption('--name <name>')
  .option(
    '--limit <spec>',
    'METRIC:PERIOD:AMOUNT[:ACTION[:THRESHOLDS[:SCOPE]]], repeatable, e.g. COST:DAY:10:BLOCK:80,100',
    collect,
    [],
  )
  .action(async (o) => {
    const p = await client().upsertPlan({ code: o.code, name: o.name, limits: o.limit.map(parseLimit) });
    out(p, () => `plan ${p.code} (${p.name})\n${limitsTable(p.limits)}`);
  });

program
  .command('limits')
  .description("a key's own limits")
  .command('set')
  .requiredOption('--key <id>', 'the API key')
  .option('--limit <spec>', 'METRIC:PERIOD:AMOUNT[:ACTION[:THRESHOLDS]], repeatable; none clears them', collect, [])
  .action(async (o) => {
    const k = await client().setApiKeyLimits({ apiKeyId: o.key, limits: o.limit.map(parseLimit) });
    out(k, () => `limits of ${k.prefix} (${k.name})\n${limitsTable(k.limits)}`);
  });

function limitsTable(
  limits: { metric: string; period: string; scope: string; amount: string; action: string; thresholds: number[] }[],
) {
  return table(
    ['metric', 'period', 'scope', 'amount', 'action', 'thresholds %'],
    limits.map((l) => [l.metric, l.period, l.scope, dec(l.amount), l.action, l.thresholds.join(',')]),
  );
}

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
        ['provider', 'model', 'tenant', 'from', 'to', 'rates'],
        rows.map((p) => [
          p.provider,
          p.model,
          p.tenantId ?? 'platform',
          p.effectiveFrom,
          p.effectiveTo ?? '',
          rates(p),
        ]),
      ),
    );
  });

function rates(p: Record<string, unknown>) {
  const names: [string, string][] = [
    ['inputPerMillion', 'input/M'],
    ['cachedInputPerMillion', 'cached/M'],
    ['cacheWriteInputPerMillion', 'cache-write/M'],
    ['outputPerMillion', 'output/M'],
    ['perRequest', 'request'],
    ['perSecond', 'second'],
    ['perUnit', 'unit'],
  ];
  return names
    .filter(([k]) => p[k] != null)
    .map(([k, n]) => `${n} ${dec(p[k] as string)}`)
    .join(', ');
}

program
  .command('usage')
  .description('a usage summary')
  .requiredOption('--from <instant>', 'inclusive, e.g. 2026-11-01T00:00:00Z')
  .requiredOption('--to <instant>', 'exclusive')
  .option('--group-by <dims>', 'comma-separated: api_key, subject, model, provider, kind', '')
  .addOption(new Option('--granularity <g>', 'bucket size').choices(['hour', 'day', 'week', 'month']))
  .option('--tenant <id>', 'operator: the tenant')
  .action(async (o) => {
    const groupBy = list(o.groupBy).map((d) => d.toUpperCase()) as never;
    const s = await client().usageSummary({
      filter: { tenantId: o.tenant, from: o.from, to: o.to },
      groupBy,
      granularity: o.granularity?.toUpperCase() as never,
    });
    out(s, () => {
      const dims = (list(o.groupBy) as string[]).map((d) => d.toLowerCase());
      const head = [
        ...(o.granularity ? ['start'] : []),
        ...dims,
        'requests',
        'input tok',
        'output tok',
        'asr ms',
        'quantity',
        'cost',
        'currency',
      ];
      const row = (b: (typeof s.buckets)[number] | null, t: typeof s.totals) => [
        ...(o.granularity ? [b ? (b.start ?? '') : 'total'] : []),
        ...dims.map((d) => {
          if (!b) return o.granularity ? '' : 'total';
          if (d === 'api_key') return b.apiKey?.name ?? b.apiKey?.id ?? '';
          return (b as Record<string, unknown>)[d] as string;
        }),
        t.requests,
        t.inputTokens,
        t.outputTokens,
        t.asrMilliseconds,
        dec(t.quantity),
        dec(t.cost),
        t.currency,
      ];
      return table(head, [...s.buckets.map((b) => row(b, b.totals)), row(null, s.totals)]);
    });
  });

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

program.parseAsync().catch((e: unknown) => {
  if (e instanceof TallyError) {
    console.error(`error: ${e.code}: ${e.message}${e.field ? ` (field ${e.field.join('.')})` : ''}`);
    process.exit(e.code === 'UNAUTHENTICATED' || e.code === 'FORBIDDEN' ? 3 : 1);
  }
  console.error(`error: ${(e as Error).message ?? e}`);
  process.exit(1);
});
