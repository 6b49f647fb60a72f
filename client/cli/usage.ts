// tally usage | events list | record | reverse: reading the ledger in a window of the tenant's
// calendar, and writing one entry (or its reversal) by hand.
import { randomUUID } from 'node:crypto';
import { Option } from 'commander';
import { TallyError } from '../src/index';
import { client, json, moreAfter, out, program, tenantOf } from './context';
import {
  bucketOptions,
  defaultWindow,
  dimensionsOf,
  type FilterOptions,
  filterOf,
  filterOptions,
  heading,
  windowOptions,
} from './filters';
import { type Column, dec, fields, table } from './format';
import { count } from './tenants';
import { showInstant, type WindowOptions, windowOf } from './time';

const usage = program
  .command('usage')
  .description("usage totals in a window (default the last 7 days), dates in the tenant's zone");
windowOptions(usage, '7d; 1h with --granularity minute');
filterOptions(usage);
bucketOptions(usage).action(async (o: WindowOptions & FilterOptions & { groupBy: string; granularity?: string }) => {
  const t = await tenantOf(o.tenant);
  const w = windowOf(o, t.timezone, Date.now(), defaultWindow(o.granularity));
  const dims = dimensionsOf(o.groupBy);
  const s = await client().usageSummary({
    filter: filterOf(o, w),
    groupBy: dims.map((d) => d.toUpperCase()) as never,
    granularity: o.granularity?.toUpperCase() as never,
  });
  if (json()) return out({ from: w.from, to: w.to, timezone: t.timezone, ...s }, () => '');
  const unit = o.granularity === 'hour' || o.granularity === 'minute' ? 'minute' : 'day';
  const startOf = (iso: string | null | undefined) =>
    o.granularity === 'month' ? showInstant(iso, t.timezone, 'day').slice(0, 7) : showInstant(iso, t.timezone, unit);
  const all = [...s.buckets.map((b) => b.totals), s.totals];
  const any = (f: (x: (typeof all)[number]) => string | number) => all.some((x) => Number(f(x)) !== 0);
  const showAsr = any((x) => x.asrMilliseconds);
  const showQty = any((x) => x.quantity);
  const head: (string | Column)[] = [
    ...(o.granularity ? [{ head: o.granularity, fit: 'keep' as const }] : []),
    ...dims.map((d) => ({ head: d.replace('_', ' '), min: 8 })),
    'requests',
    'in tok',
    'out tok',
    ...(showAsr ? ['asr s'] : []),
    ...(showQty ? ['quantity'] : []),
    `cost ${s.totals.currency}`,
  ];
  const row = (b: (typeof s.buckets)[number] | null, x: typeof s.totals) => [
    ...(o.granularity ? [b ? startOf(b.start) : 'total'] : []),
    ...dims.map((d, i) => {
      if (!b) return !o.granularity && i === 0 ? 'total' : '';
      if (d === 'api_key') return b.apiKey?.name ?? b.apiKey?.id ?? '';
      return (b as unknown as Record<string, string | null>)[d] ?? '';
    }),
    x.requests,
    x.inputTokens,
    x.outputTokens,
    ...(showAsr ? [dec((Number(x.asrMilliseconds) / 1000).toFixed(3))] : []),
    ...(showQty ? [dec(x.quantity)] : []),
    dec(x.cost),
  ];
  const rows = [...s.buckets.map((b) => row(b, b.totals))];
  if (s.buckets.length !== 1 || dims.length || o.granularity) rows.push(row(null, s.totals));
  console.log(`${heading(t.name, t.timezone, w)}\n${table(head, rows)}`);
});

const events = program.command('events').description('ledger entries');
const eventsList = events
  .command('list')
  .description("ledger entries, newest first (default the last 7 days), times in the tenant's zone");
windowOptions(eventsList, '7d');
filterOptions(eventsList);
eventsList
  .option('--limit <n>', 'at most this many', '20')
  .option('--after <cursor>', 'continue after this cursor (printed when there are more)')
  .action(async (o: WindowOptions & FilterOptions & { limit: string; after?: string }) => {
    const limit = count(o.limit, '--limit');
    const t = await tenantOf(o.tenant);
    const w = windowOf(o, t.timezone, Date.now());
    const filter = filterOf(o, w);
    const c = client();
    type Page = Awaited<ReturnType<typeof c.usageEvents>>;
    const nodes: Page['edges'][number]['node'][] = [];
    let after = o.after;
    let more = false;
    let cursor: string | null = null;
    while (nodes.length < limit) {
      const page: Page = await c.usageEvents({ filter, first: Math.min(500, limit - nodes.length), after });
      nodes.push(...page.edges.map((e) => e.node));
      more = page.pageInfo.hasNextPage;
      cursor = page.pageInfo.endCursor ?? null;
      if (!more || !cursor) break;
      after = cursor;
    }
    const next = more ? cursor : null;
    moreAfter(next);
    out({ from: w.from, to: w.to, timezone: t.timezone, events: nodes, hasNextPage: more, endCursor: next }, () => {
      const text = table(
        [
          'id',
          { head: 'occurred', fit: 'keep' },
          'kind',
          { head: 'model', min: 10 },
          { head: 'subject', min: 8 },
          'status',
          'in tok',
          'out tok',
          `cost`,
        ],
        nodes.map((e) => [
          e.id,
          showInstant(e.occurredAt, t.timezone),
          e.kind,
          [e.provider, e.model].filter(Boolean).join('/'),
          e.subject,
          e.reverses ? 'REVERSAL' : e.status,
          e.inputTokens,
          e.outputTokens,
          `${dec(e.cost)} ${e.currency}`,
        ]),
      );
      return `${heading(t.name, t.timezone, w)}\n${nodes.length ? text : '(no entries)'}`;
    });
  });

/** A whole number of at least 0 from an option, or a usage error naming it. */
export const int = (option: string) => (s: string) => {
  const n = Number(s);
  if (!/^\d{1,10}$/.test(s.trim()) || !Number.isSafeInteger(n))
    throw new TallyError('BAD_USER_INPUT', `${option} "${s}": use a whole number`);
  return n;
};

program
  .command('record')
  .description('records one usage entry (for trying things and tests; gateways use the client)')
  .addOption(
    new Option('--kind <kind>', 'LLM, ASR or CALL')
      .choices(['llm', 'asr', 'call', 'LLM', 'ASR', 'CALL'])
      .makeOptionMandatory(),
  )
  .option('--provider <name>')
  .option('--model <name>', 'required for LLM')
  .option('--input-tokens <n>', 'all input tokens, cached ones included', int('--input-tokens'))
  .option('--output-tokens <n>', 'output tokens, reasoning included', int('--output-tokens'))
  .option('--cached-tokens <n>', 'part of the input read from the cache', int('--cached-tokens'))
  .option('--cache-write-tokens <n>', 'part of the input written to the cache', int('--cache-write-tokens'))
  .option('--reasoning-tokens <n>', 'part of the output spent reasoning', int('--reasoning-tokens'))
  .option('--duration-ms <n>', 'audio length, required for ASR', int('--duration-ms'))
  .option('--quantity <units>', 'CALL units (default 1)')
  .option('--cost <amount>', "the upstream's own cost instead of the price book's")
  .option('--currency <code>', "of --cost (default the tenant's)")
  .option('--subject <s>', 'the end user')
  .addOption(new Option('--status <status>').choices(['succeeded', 'failed', 'SUCCEEDED', 'FAILED']))
  .addOption(new Option('--model-source <source>').choices(['vendor', 'byok', 'VENDOR', 'BYOK']))
  .option('--at <instant>', 'when it happened, ISO 8601 (default now)')
  .option('--metadata <json>', 'a JSON object')
  .option('--session <id>', 'session id')
  .option('--idempotency-key <key>', 'default: a new random one (printed)')
  .option('--reservation <id>', 'settles this reservation')
  .option('--key <id>', 'attribute to another key of the tenant')
  .option('--tenant <id>', 'operator: the tenant')
  .action(async (o) => {
    let metadata: unknown;
    if (o.metadata !== undefined) {
      try {
        metadata = JSON.parse(o.metadata);
      } catch {
        throw new TallyError('BAD_USER_INPUT', '--metadata is not JSON, e.g. {"route":"/v1/chat"}');
      }
    }
    const r = await client().recordUsage({
      idempotencyKey: o.idempotencyKey ?? `cli-${randomUUID()}`,
      kind: o.kind.toUpperCase(),
      tenantId: o.tenant,
      apiKeyId: o.key,
      provider: o.provider,
      model: o.model,
      inputTokens: o.inputTokens,
      outputTokens: o.outputTokens,
      cachedInputTokens: o.cachedTokens,
      cacheWriteInputTokens: o.cacheWriteTokens,
      reasoningTokens: o.reasoningTokens,
      durationMs: o.durationMs,
      quantity: o.quantity,
      cost: o.cost,
      currency: o.currency,
      subject: o.subject,
      status: o.status?.toUpperCase(),
      modelSource: o.modelSource?.toUpperCase(),
      occurredAt: o.at,
      metadata,
      sessionId: o.session,
      reservationId: o.reservation,
    });
    out(r, () => entry(r.outcome, r.event, r.reservation ?? undefined));
  });

program
  .command('reverse <eventId>')
  .description('appends the entry that cancels another (counts and cost negated); never deletes')
  .option('--reason <text>', 'why, kept on the reversal')
  .option('--idempotency-key <key>', 'default reverse-<eventId>, so repeating the command is harmless')
  .action(async (eventId: string, o) => {
    const r = await client().reverseUsage({
      eventId,
      idempotencyKey: o.idempotencyKey ?? `reverse-${eventId}`,
      reason: o.reason,
    });
    out(r, () => entry(r.outcome, r.event));
  });

function entry(
  outcome: string,
  e: {
    id: string;
    idempotencyKey: string;
    kind: string;
    provider: string | null;
    model: string | null;
    subject: string | null;
    inputTokens: number;
    outputTokens: number;
    durationMs: number | null;
    quantity: string | null;
    cost: string;
    currency: string;
    occurredAt: string;
    reverses: { id: string } | null;
  },
  reservation?: string,
) {
  return fields([
    ['outcome', outcome],
    ['event', e.id],
    ['key', e.idempotencyKey],
    ...(e.reverses ? [['reverses', e.reverses.id] as [string, string]] : []),
    ['kind', [e.kind, [e.provider, e.model].filter(Boolean).join('/')].filter(Boolean).join(' ')],
    ...(e.subject ? [['subject', e.subject] as [string, string]] : []),
    ...(e.kind === 'LLM' || e.inputTokens || e.outputTokens
      ? [['tokens', `${e.inputTokens} in, ${e.outputTokens} out`] as [string, string]]
      : []),
    ...(e.durationMs != null ? [['audio', `${e.durationMs / 1000} s`] as [string, string]] : []),
    ...(e.quantity != null && e.kind === 'CALL' ? [['quantity', dec(e.quantity)] as [string, string]] : []),
    ['cost', `${dec(e.cost)} ${e.currency}`],
    ['occurred', e.occurredAt],
    ...(reservation ? [['reservation', reservation] as [string, string]] : []),
  ]);
}
