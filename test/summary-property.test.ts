// Property: usageSummary (hourly UTC rollups for clean hours + the ledger for edge hours and
// hours cut by a local bucket boundary) equals a plain GROUP BY over usage_events, for any
// tenant zone (whole, half and quarter hour offsets, 30-minute DST, southern-hemisphere DST),
// any [from, to) with arbitrary minutes/seconds/milliseconds, any groupBy subset, any
// granularity and any filter; and totals are exactly the sum of the buckets.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarize } from '../server/src/modules/usage/usage.summary';
import { createHarness, type Harness, OPERATOR_KEY, SUMMARY } from './support/harness';

const ZONES = [
  'UTC',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'America/St_Johns',
  'America/New_York',
  'Europe/Berlin',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
] as const;
type Zone = (typeof ZONES)[number];
const KINDS = ['LLM', 'ASR', 'CALL'] as const;
const MODELS = ['gpt-4o', 'claude-3', 'whisper-1'] as const;
const PROVIDERS = ['openai', 'anthropic'] as const;
const SUBJECTS = ['alice', 'bob', 'carol'] as const;
const DIMS = ['API_KEY', 'SUBJECT', 'MODEL', 'PROVIDER', 'KIND'] as const;
type Dim = (typeof DIMS)[number];
const GRANULARITIES = [null, 'HOUR', 'DAY', 'WEEK', 'MONTH'] as const;
type Gran = (typeof GRANULARITIES)[number];

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const iso = (ms: number) => new Date(ms).toISOString();

// Two event windows, each around the DST changes of every zone above and a few month ends:
// A: US / St John's spring forward (Mar 8), Berlin (Mar 29), Lord Howe and Chatham fall back (Apr 5).
// B: Chatham (Sep 27) and Lord Howe (Oct 4) spring forward, Berlin (Oct 25), US / St John's (Nov 1).
const WINDOWS: readonly [number, number][] = [
  [Date.parse('2026-02-25T00:00:00Z'), Date.parse('2026-04-12T00:00:00Z')],
  [Date.parse('2026-09-22T00:00:00Z'), Date.parse('2026-11-08T00:00:00Z')],
];
const SPAN_START = (WINDOWS[0] as [number, number])[0] - 3 * DAY_MS;
const SPAN_END = (WINDOWS[1] as [number, number])[1] + 3 * DAY_MS;

// ---------------------------------------------------------------------------------------
// Arbitraries

/** A decimal string with 0 to 12 fractional digits, e.g. "17", "0.5", "3.000000000001". */
const decimalArb = (maxInt: number) =>
  fc
    .tuple(
      fc.integer({ min: 0, max: maxInt }),
      fc.integer({ min: 0, max: 12 }),
      fc.bigInt({ min: 0n, max: 10n ** 12n - 1n }),
    )
    .map(([i, digits, frac]) =>
      digits === 0 ? String(i) : `${i}.${frac.toString().padStart(12, '0').slice(0, digits)}`,
    );

/** An instant near a boundary: a UTC hour start plus 0/15/30/45 minutes (local hour starts of every zone) plus a tiny or random offset. */
const nearBoundaryArb = (lo: number, hi: number) =>
  fc
    .tuple(
      fc.integer({ min: 0, max: Math.floor((hi - lo) / HOUR_MS) }),
      fc.constantFrom(0, 15, 30, 45),
      fc.oneof(fc.constantFrom(0, -1, 1, -1000, 1000, 59_999), fc.integer({ min: -3_599_999, max: 3_599_999 })),
    )
    .map(([h, q, d]) => Math.floor(lo / HOUR_MS) * HOUR_MS + h * HOUR_MS + q * 60_000 + d);

/** Uniform instant (millisecond resolution) in [lo, hi). */
const uniformArb = (lo: number, hi: number) =>
  fc
    .tuple(fc.integer({ min: 0, max: Math.floor((hi - lo) / 1000) - 1 }), fc.integer({ min: 0, max: 999 }))
    .map(([s, ms]) => lo + s * 1000 + ms);

const windowInstantArb = fc
  .constantFrom(...WINDOWS)
  .chain(([lo, hi]) => fc.oneof(uniformArb(lo, hi), nearBoundaryArb(lo, hi)))
  .filter((t) => t >= SPAN_START && t < SPAN_END);

interface EventSpec {
  /** 0..2: one of the tenant's keys; 3: recorded by the operator (no API key). */
  key: number;
  kind: (typeof KINDS)[number];
  model: string | null;
  provider: string | null;
  subject: string | null;
  status: 'SUCCEEDED' | 'FAILED';
  modelSource: 'VENDOR' | 'BYOK';
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteInputTokens: number;
  reasoningTokens: number;
  durationMs: number | null;
  quantity: string | null;
  cost: string | null;
  occurredAt: number;
  reverse: boolean;
}

const eventArb = (timeArb: fc.Arbitrary<number>): fc.Arbitrary<EventSpec> =>
  fc
    .record({
      key: fc.integer({ min: 0, max: 3 }),
      kind: fc.constantFrom(...KINDS),
      model: fc.option(fc.constantFrom(...MODELS), { nil: null, freq: 4 }),
      provider: fc.option(fc.constantFrom(...PROVIDERS), { nil: null, freq: 3 }),
      subject: fc.option(fc.constantFrom(...SUBJECTS), { nil: null, freq: 3 }),
      status: fc.constantFrom('SUCCEEDED' as const, 'SUCCEEDED' as const, 'FAILED' as const),
      byok: fc.boolean(),
      input: fc.integer({ min: 0, max: 1_000_000_000 }),
      output: fc.integer({ min: 0, max: 1_000_000_000 }),
      cachedFrac: fc.integer({ min: 0, max: 100 }),
      writeFrac: fc.integer({ min: 0, max: 100 }),
      reasoningFrac: fc.integer({ min: 0, max: 100 }),
      durationMs: fc.option(fc.integer({ min: 0, max: 50_000_000 }), { nil: null, freq: 2 }),
      quantity: fc.option(decimalArb(5000), { nil: null, freq: 2 }),
      cost: fc.option(decimalArb(999), { nil: null, freq: 6 }),
      occurredAt: timeArb,
      reverse: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    })
    .map((r): EventSpec => {
      const cached = Math.floor((r.input * r.cachedFrac) / 100);
      const write = Math.floor(((r.input - cached) * r.writeFrac) / 100);
      return {
        key: r.key,
        kind: r.kind,
        model: r.kind === 'LLM' && !r.model ? 'gpt-4o' : r.model,
        provider: r.provider,
        subject: r.subject,
        status: r.status,
        // Without a price book a VENDOR event needs a caller cost; BYOK may omit it (cost 0).
        modelSource: r.cost === null || r.byok ? 'BYOK' : 'VENDOR',
        inputTokens: r.input,
        outputTokens: r.output,
        cachedInputTokens: cached,
        cacheWriteInputTokens: write,
        reasoningTokens: Math.floor((r.output * r.reasoningFrac) / 100),
        durationMs: r.kind === 'ASR' && r.durationMs === null ? 1234 : r.durationMs,
        quantity: r.quantity,
        cost: r.cost,
        occurredAt: r.occurredAt,
        reverse: r.reverse,
      };
    });

interface FilterSpec {
  key: number | null;
  subject: string | null;
  model: string | null;
  provider: string | null;
  kind: string | null;
}
/** Mostly null: a filter on every dimension at once would leave little to compare. */
const rarely = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: arb, weight: 1 });
const filterArb: fc.Arbitrary<FilterSpec> = fc.record({
  key: rarely(fc.integer({ min: 0, max: 2 })),
  subject: rarely(fc.constantFrom(...SUBJECTS)),
  model: rarely(fc.constantFrom(...MODELS)),
  provider: rarely(fc.constantFrom(...PROVIDERS)),
  kind: rarely(fc.constantFrom(...KINDS)),
});
const noFilter: FilterSpec = { key: null, subject: null, model: null, provider: null, kind: null };

/** [from, to) with arbitrary minutes/seconds/ms, from 1 ms up to the 400-day maximum. */
const rangeArb = (lo: number, hi: number, fromArb = fc.oneof(uniformArb(lo, hi), nearBoundaryArb(lo, hi))) =>
  fc
    .tuple(
      fromArb,
      fc.oneof(
        fc.integer({ min: 1, max: 3 * HOUR_MS }),
        fc.integer({ min: 3 * 3600, max: 20 * 86_400 }).map((s) => s * 1000 + 137),
        fc.integer({ min: 20 * 86_400, max: 400 * 86_400 }).map((s) => s * 1000),
        fc.constant(400 * DAY_MS),
      ),
    )
    .map(([from, d]) => ({ from, to: from + Math.min(d, 400 * DAY_MS) }));

/** Ranges over the pool: `from` mostly inside an event window (else anywhere in the span). */
const poolRangeArb = rangeArb(
  SPAN_START,
  SPAN_END,
  fc.oneof(
    { arbitrary: windowInstantArb, weight: 3 },
    { arbitrary: fc.oneof(uniformArb(SPAN_START, SPAN_END), nearBoundaryArb(SPAN_START, SPAN_END)), weight: 1 },
  ),
);

// ---------------------------------------------------------------------------------------
// Normalised results, oracle and comparison

interface Totals {
  requests: number;
  failedRequests: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteInputTokens: number;
  reasoningTokens: number;
  totalTokens: number;
  asrMilliseconds: number;
  quantity: string;
  cost: string;
  currency: string;
}
interface Bucket {
  start: number | null;
  apiKeyId: string | null;
  subject: string | null;
  model: string | null;
  provider: string | null;
  kind: string | null;
  totals: Totals;
}
const COUNTERS = [
  'requests',
  'failedRequests',
  'inputTokens',
  'outputTokens',
  'cachedInputTokens',
  'cacheWriteInputTokens',
  'reasoningTokens',
  'totalTokens',
  'asrMilliseconds',
] as const;

/** "12.340000000000" -> 12340000000000n (exact; every Decimal on the wire has 12 places). */
const scaled = (s: string): bigint => {
  const m = /^(-?)(\d+)\.(\d{12})$/.exec(s);
  if (!m) throw new Error(`not a 12-place decimal: ${s}`);
  const v = BigInt(`${m[2]}${m[3]}`);
  return m[1] ? -v : v;
};
const unscaled = (v: bigint): string => {
  const abs = (v < 0n ? -v : v).toString().padStart(13, '0');
  return `${v < 0n ? '-' : ''}${abs.slice(0, -12)}.${abs.slice(-12)}`;
};
function sumTotals(list: readonly Totals[]): Totals {
  const out: Totals = {
    requests: 0,
    failedRequests: 0,
    inputTokens: 0,
    outputTokens: 0,
    cachedInputTokens: 0,
    cacheWriteInputTokens: 0,
    reasoningTokens: 0,
    totalTokens: 0,
    asrMilliseconds: 0,
    quantity: '0.000000000000',
    cost: '0.000000000000',
    currency: 'USD',
  };
  let q = 0n;
  let c = 0n;
  for (const t of list) {
    for (const k of COUNTERS) out[k] += t[k];
    q += scaled(t.quantity);
    c += scaled(t.cost);
  }
  for (const k of COUNTERS) expect(Number.isSafeInteger(out[k]), k).toBe(true);
  out.quantity = unscaled(q);
  out.cost = unscaled(c);
  return out;
}

interface GqlBucket {
  start: string | null;
  apiKey: { id: string } | null;
  subject: string | null;
  model: string | null;
  provider: string | null;
  kind: string | null;
  totals: Totals;
}
const fromGql = (b: GqlBucket): Bucket => ({
  start: b.start == null ? null : Date.parse(b.start),
  apiKeyId: b.apiKey?.id ?? null,
  subject: b.subject,
  model: b.model,
  provider: b.provider,
  kind: b.kind,
  totals: b.totals,
});
const keyOf = (b: Bucket) => JSON.stringify([b.start, b.apiKeyId, b.subject, b.model, b.provider, b.kind]);
const sortBuckets = (bs: Bucket[]) => [...bs].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));

const BUCKET_SQL: Record<Exclude<Gran, null>, string> = {
  HOUR: `(occurred_at - ((occurred_at AT TIME ZONE $2::text) - date_trunc('hour', occurred_at AT TIME ZONE $2::text)))`,
  DAY: `date_trunc('day', occurred_at, $2::text)`,
  WEEK: `date_trunc('week', occurred_at, $2::text)`,
  MONTH: `date_trunc('month', occurred_at, $2::text)`,
};
const DIM_SQL: Record<Dim, [string, string]> = {
  API_KEY: ['api_key_id', 'uuid'],
  SUBJECT: ['subject', 'text'],
  MODEL: ['model', 'text'],
  PROVIDER: ['provider', 'text'],
  KIND: ['kind', 'text'],
};

interface TenantCtx {
  id: string;
  zone: Zone;
  adminKey: string;
  keyIds: string[];
}

/** The oracle: a direct GROUP BY over the ledger. */
async function oracle(
  h: Harness,
  t: TenantCtx,
  from: number,
  to: number,
  f: FilterSpec,
  groupBy: readonly Dim[],
  gran: Gran,
): Promise<Bucket[]> {
  const bucket = gran ? BUCKET_SQL[gran] : 'NULL::timestamptz';
  const dims = DIMS.map((d) => {
    const [col, type] = DIM_SQL[d];
    return groupBy.includes(d) ? col : `NULL::${type}`;
  });
  const rows = await h.sql(
    `SELECT ${bucket} AS start,
            ${dims.map((d, i) => `${d} AS d${i}`).join(', ')},
            count(*) AS n,
            sum(requests)::bigint::text AS requests,
            coalesce(sum(requests) FILTER (WHERE status = 'FAILED'), 0)::bigint::text AS failed,
            sum(input_tokens)::bigint::text AS input,
            sum(output_tokens)::bigint::text AS output,
            sum(cached_input_tokens)::bigint::text AS cached,
            sum(cache_write_input_tokens)::bigint::text AS cache_write,
            sum(reasoning_tokens)::bigint::text AS reasoning,
            coalesce(sum(duration_ms) FILTER (WHERE kind = 'ASR'), 0)::bigint::text AS asr,
            coalesce(sum(quantity) FILTER (WHERE kind = 'CALL'), 0)::numeric(38,12)::text AS quantity,
            sum(cost)::numeric(38,12)::text AS cost,
            min(currency) AS currency
       FROM usage_events
      WHERE tenant_id = $1 AND $2::text IS NOT NULL AND occurred_at >= $3 AND occurred_at < $4
        AND ($5::uuid IS NULL OR api_key_id = $5) AND ($6::text IS NULL OR subject = $6)
        AND ($7::text IS NULL OR model = $7) AND ($8::text IS NULL OR provider = $8)
        AND ($9::text IS NULL OR kind = $9)
      GROUP BY ${[bucket, ...dims].join(', ')}`,
    [t.id, t.zone, iso(from), iso(to), f.key == null ? null : t.keyIds[f.key], f.subject, f.model, f.provider, f.kind],
  );
  return rows.map((r) => ({
    start: r.start == null ? null : (r.start as Date).getTime(),
    apiKeyId: r.d0,
    subject: r.d1,
    model: r.d2,
    provider: r.d3,
    kind: r.d4,
    totals: {
      requests: Number(r.requests),
      failedRequests: Number(r.failed),
      inputTokens: Number(r.input),
      outputTokens: Number(r.output),
      cachedInputTokens: Number(r.cached),
      cacheWriteInputTokens: Number(r.cache_write),
      reasoningTokens: Number(r.reasoning),
      totalTokens: Number(r.input) + Number(r.output),
      asrMilliseconds: Number(r.asr),
      quantity: r.quantity,
      cost: r.cost,
      currency: r.currency,
    },
  }));
}

const filterVars = (t: TenantCtx, from: number, to: number, f: FilterSpec) => ({
  from: iso(from),
  to: iso(to),
  ...(f.key != null ? { apiKeyId: t.keyIds[f.key] } : {}),
  ...(f.subject ? { subject: f.subject } : {}),
  ...(f.model ? { model: f.model } : {}),
  ...(f.provider ? { provider: f.provider } : {}),
  ...(f.kind ? { kind: f.kind } : {}),
});

/** Asks usageSummary and checks it against the oracle; returns the summary's totals. */
async function checkSummary(
  h: Harness,
  t: TenantCtx,
  from: number,
  to: number,
  f: FilterSpec,
  groupBy: readonly Dim[],
  gran: Gran,
): Promise<Totals> {
  const ctx = JSON.stringify({ zone: t.zone, from: iso(from), to: iso(to), f, groupBy, gran });
  const d = await h.ok(t.adminKey, SUMMARY, { filter: filterVars(t, from, to, f), groupBy, granularity: gran });
  const got: Bucket[] = d.usageSummary.buckets.map(fromGql);
  const want = await oracle(h, t, from, to, f, groupBy, gran);

  // Bucket for bucket: start, dimensions and every total.
  expect(sortBuckets(got), ctx).toEqual(sortBuckets(want));
  // Ordered by start; one bucket per (start, group).
  const starts = got.map((b) => b.start ?? 0);
  expect(
    starts.every((s, i) => i === 0 || (starts[i - 1] as number) <= s),
    `${ctx} buckets not ordered by start`,
  ).toBe(true);
  expect(new Set(got.map(keyOf)).size, ctx).toBe(got.length);
  if (!gran) expect(got.every((b) => b.start === null)).toBe(true);
  // totals is exactly the sum of the buckets.
  const totals: Totals = d.usageSummary.totals;
  expect(totals, ctx).toEqual(sumTotals(got.map((b) => b.totals)));
  return totals;
}

const TOTALS_FIELDS =
  'requests failedRequests inputTokens outputTokens cachedInputTokens cacheWriteInputTokens reasoningTokens totalTokens asrMilliseconds quantity cost currency';
const USAGE_FIELDS = `query($from: DateTime!, $to: DateTime!) { viewer { tenant {
  usage(from: $from, to: $to) { ${TOTALS_FIELDS} }
  apiKeys { id usage(from: $from, to: $to) { ${TOTALS_FIELDS} } } } } }`;

const BATCH = `mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) {
  created rejected results { index outcome event { id } error { code message field } } } }`;
const REVERSE = `mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { outcome event { id } } }`;

/** Records specs for a tenant (clock moved so every occurredAt is valid) and reverses the flagged ones. */
async function recordAll(h: Harness, t: TenantCtx, specs: readonly EventSpec[], prefix: string) {
  const indexed = specs.map((s, i) => ({ s, i })).sort((a, b) => a.s.occurredAt - b.s.occurredAt);
  // Chunks spanning under 30 days, each recorded with the clock just after its last event.
  const chunks: (typeof indexed)[] = [];
  for (const e of indexed) {
    const cur = chunks[chunks.length - 1];
    if (cur && e.s.occurredAt - (cur[0] as (typeof indexed)[number]).s.occurredAt < 30 * DAY_MS && cur.length < 1000)
      cur.push(e);
    else chunks.push([e]);
  }
  const ids = new Map<number, string>();
  for (const chunk of chunks) {
    h.clock.set(iso((chunk[chunk.length - 1] as (typeof indexed)[number]).s.occurredAt + 60_000));
    for (const operator of [false, true]) {
      const part = chunk.filter((e) => (e.s.key === 3) === operator);
      if (!part.length) continue;
      const input = part.map(({ s, i }) => ({
        idempotencyKey: `${prefix}-${i}`,
        ...(operator ? { tenantId: t.id } : { apiKeyId: t.keyIds[s.key] }),
        kind: s.kind,
        model: s.model,
        provider: s.provider,
        subject: s.subject,
        status: s.status,
        modelSource: s.modelSource,
        inputTokens: s.inputTokens,
        outputTokens: s.outputTokens,
        cachedInputTokens: s.cachedInputTokens,
        cacheWriteInputTokens: s.cacheWriteInputTokens,
        reasoningTokens: s.reasoningTokens,
        durationMs: s.durationMs,
        quantity: s.quantity,
        cost: s.cost,
        occurredAt: iso(s.occurredAt),
      }));
      const d = await h.ok(operator ? OPERATOR_KEY : t.adminKey, BATCH, { input });
      const b = d.recordUsageBatch;
      expect(b.rejected, JSON.stringify(b.results.filter((r: { error: unknown }) => r.error))).toBe(0);
      expect(b.created).toBe(part.length);
      b.results.forEach((r: { index: number; event: { id: string } }) => {
        ids.set((part[r.index] as (typeof part)[number]).i, r.event.id);
      });
    }
  }
  for (const [i, s] of specs.entries()) {
    if (!s.reverse) continue;
    const r = await h.ok(t.adminKey, REVERSE, { input: { eventId: ids.get(i), idempotencyKey: `${prefix}-rev-${i}` } });
    expect(r.reverseUsage.outcome).toBe('CREATED');
  }
}

// ---------------------------------------------------------------------------------------

let h: Harness;
const tenants = new Map<Zone, TenantCtx>();
let seq = 0;

async function newTenant(zone: Zone, name: string): Promise<TenantCtx> {
  const s = await h.seed.tenant(name, zone);
  expect(s.timezone).toBe(zone);
  const k1 = await s.key(['INGEST', 'READ'], 'second');
  const k2 = await s.key(['INGEST'], 'third');
  return { id: s.id, zone, adminKey: s.adminKey, keyIds: [s.adminKeyId, k1.id, k2.id] };
}

// One pool of events, generated reproducibly and recorded once for a tenant in every zone.
const POOL: EventSpec[] = fc.sample(eventArb(windowInstantArb), { seed: 20260308, numRuns: 700 });

beforeAll(async () => {
  h = await createHarness('summary_property');
  for (const zone of ZONES) {
    const t = await newTenant(zone, `pool-${zone}`);
    await recordAll(h, t, POOL, 'pool');
    tenants.set(zone, t);
  }
  const [{ n }] = await h.sql('SELECT count(*)::int AS n FROM usage_events');
  expect(n).toBe(ZONES.length * (POOL.length + POOL.filter((e) => e.reverse).length));
});
afterAll(async () => h?.close());

describe('usageSummary equals a GROUP BY over the ledger', () => {
  it('the shared pool holds what the property needs (every kind, key, reversal, both windows)', () => {
    expect(new Set(POOL.map((e) => e.kind)).size).toBe(3);
    expect(new Set(POOL.map((e) => e.key)).size).toBe(4);
    expect(POOL.filter((e) => e.reverse).length).toBeGreaterThan(20);
    for (const [lo, hi] of WINDOWS)
      expect(POOL.filter((e) => e.occurredAt >= lo && e.occurredAt < hi).length).toBeGreaterThan(200);
  });

  it('for any zone, range, groupBy, granularity and filter over a shared pool', async () => {
    let nonEmpty = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ZONES),
        poolRangeArb,
        fc.subarray([...DIMS]),
        fc.constantFrom(...GRANULARITIES),
        fc.oneof(fc.constant(noFilter), filterArb),
        async (zone, { from, to }, groupBy, gran, f) => {
          const t = tenants.get(zone) as TenantCtx;
          const totals = await checkSummary(h, t, from, to, f, groupBy, gran);
          if (totals.requests > 0) nonEmpty++;
        },
      ),
      { numRuns: 40, seed: 424242 },
    );
    // The runs were not vacuous: most ranges held usage.
    expect(nonEmpty).toBeGreaterThanOrEqual(20);
  });

  it('always covers each zone with every granularity at least once (fixed sweep)', async () => {
    // A deterministic sweep on top of the random property: every zone x granularity, over a
    // range with odd offsets that spans both windows, grouped by everything.
    const from = Date.parse('2026-02-26T07:13:41.517Z');
    const to = Date.parse('2026-11-05T22:47:03.091Z');
    for (const zone of ZONES)
      for (const gran of GRANULARITIES) {
        const totals = await checkSummary(h, tenants.get(zone) as TenantCtx, from, to, noFilter, [...DIMS], gran);
        expect(totals.requests).toBeGreaterThan(0);
      }
  });

  it('Tenant.usage and ApiKey.usage equal the ledger over any partial-hour range', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ZONES), poolRangeArb, async (zone, { from, to }) => {
        const t = tenants.get(zone) as TenantCtx;
        const ctx = JSON.stringify({ zone, from: iso(from), to: iso(to) });
        const d = await h.ok(t.adminKey, USAGE_FIELDS, { from: iso(from), to: iso(to) });
        const all = await oracle(h, t, from, to, noFilter, [], null);
        expect(d.viewer.tenant.usage, ctx).toEqual(sumTotals(all.map((b) => b.totals)));
        const byKey = await oracle(h, t, from, to, noFilter, ['API_KEY'], null);
        const keys: { id: string; usage: Totals }[] = d.viewer.tenant.apiKeys;
        expect(keys.map((k) => k.id).sort()).toEqual([...t.keyIds].sort());
        for (const k of keys)
          expect(k.usage, `${ctx} key ${k.id}`).toEqual(
            sumTotals(byKey.filter((b) => b.apiKeyId === k.id).map((b) => b.totals)),
          );
      }),
      { numRuns: 25, seed: 777 },
    );
  });
});

describe('the two paths the property compares', () => {
  it('clean hours come from the rollups and edge hours from the ledger (so the oracle is independent)', async () => {
    // A rollup row with no ledger entry behind it (written here on purpose, for this tenant
    // only) shows which path served an hour: it is counted only when its hour is clean.
    const t = await newTenant('UTC', 'paths');
    await recordAll(
      h,
      t,
      [{ ...(POOL[0] as EventSpec), occurredAt: Date.parse('2026-03-10T10:20:00Z'), reverse: false }],
      'paths',
    );
    // Planted in both rollup levels (with and without subject): either may serve a summary.
    for (const table of ['usage_rollups_hourly', 'usage_rollups_hourly_keys'])
      await h.sql(
        `INSERT INTO ${table} (tenant_id, hour, kind, currency, status, requests, cost)
         VALUES ($1, '2026-03-10T12:00:00Z', 'CALL', 'USD', 'SUCCEEDED', 5, 0)`,
        [t.id],
      );
    const ask = async (to: string) =>
      (await h.ok(t.adminKey, SUMMARY, { filter: { from: '2026-03-10T10:00:00Z', to } })).usageSummary.totals.requests;
    expect(await ask('2026-03-10T13:00:00Z')).toBe(6); // hour 12:00 clean: rollup
    expect(await ask('2026-03-10T12:59:59.999Z')).toBe(1); // hour 12:00 cut by `to`: ledger
  });

  it('whole local days come from the daily level, in the tenant zone only, and never by subject', async () => {
    // Kolkata's days start at 18:30 UTC, off the UTC hour: the day of 2026-03-11 local is
    // [2026-03-10T18:30Z, 2026-03-11T18:30Z).
    const t = await newTenant('Asia/Kolkata', 'daily');
    await recordAll(
      h,
      t,
      [{ ...(POOL[0] as EventSpec), occurredAt: Date.parse('2026-03-11T02:00:00Z'), reverse: false }],
      'daily',
    );
    await h.sql(
      `INSERT INTO usage_rollups_daily_keys (tenant_id, day, kind, currency, status, requests, cost)
       VALUES ($1, '2026-03-10T18:30:00Z', 'CALL', 'USD', 'SUCCEEDED', 7, 0)`,
      [t.id],
    );
    const ask = async (from: string, to: string, extra: Record<string, unknown> = {}) =>
      (await h.ok(t.adminKey, SUMMARY, { filter: { from, to, ...extra } })).usageSummary.totals.requests;
    expect(await ask('2026-03-10T18:30:00Z', '2026-03-11T18:30:00Z')).toBe(8); // the whole day: daily row
    expect(await ask('2026-03-10T00:00:00Z', '2026-03-13T00:00:00Z')).toBe(8); // a range holding it
    expect(await ask('2026-03-10T18:30:00Z', '2026-03-11T18:29:59.999Z')).toBe(1); // not whole: hourly + ledger
    expect(await ask('2026-03-10T18:30:00Z', '2026-03-11T18:30:00Z', { subject: 'nobody' })).toBe(0);
    // Daily rows are cut in the tenant's zone: a summary in another zone does not use them.
    const rows = await summarize(
      h.db,
      {
        tenantId: t.id,
        timezone: 'Asia/Kathmandu',
        from: new Date('2026-03-10T00:00:00Z'),
        to: new Date('2026-03-13T00:00:00Z'),
      },
      [],
      null,
    );
    expect(rows.reduce((n, r) => n + r.requests, 0n)).toBe(1n);
  });
});

describe('usageSummary with generated events', () => {
  // Days around which the generated events cluster: DST changes of the zones, month and week ends.
  const ANCHORS = [
    '2026-03-08T07:00:00Z',
    '2026-03-29T01:00:00Z',
    '2026-04-04T15:00:00Z',
    '2026-04-04T14:00:00Z',
    '2026-09-26T14:00:00Z',
    '2026-10-03T15:30:00Z',
    '2026-10-25T01:00:00Z',
    '2026-11-01T06:00:00Z',
    '2026-03-31T18:30:00Z',
    '2026-05-31T22:00:00Z',
  ].map(Date.parse);

  it('for generated events (with reversals) in any zone, every query matches the ledger and the events', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ZONES),
        fc.constantFrom(...ANCHORS).chain((anchor) => {
          const lo = anchor - 40 * HOUR_MS;
          const hi = anchor + 40 * HOUR_MS;
          return fc.record({
            anchor: fc.constant(anchor),
            events: fc.array(eventArb(fc.oneof(uniformArb(lo, hi), nearBoundaryArb(lo, hi))), {
              minLength: 1,
              maxLength: 25,
            }),
            queries: fc.array(
              fc.record({
                range: rangeArb(lo - 2 * HOUR_MS, hi),
                // Snap from and/or to onto event instants, so [from, to) inclusivity is exercised.
                snap: fc.record({ from: fc.option(fc.nat(), { freq: 2 }), to: fc.option(fc.nat(), { freq: 2 }) }),
                // duplicates in groupBy are allowed and mean the same as once
                groupBy: fc.oneof(fc.subarray([...DIMS]), fc.array(fc.constantFrom(...DIMS), { maxLength: 7 })),
                gran: fc.constantFrom(...GRANULARITIES),
                filter: fc.oneof(fc.constant(noFilter), filterArb),
              }),
              { minLength: 1, maxLength: 4 },
            ),
          });
        }),
        async (zone, { events, queries }) => {
          const t = await newTenant(zone, `gen-${++seq}`);
          await recordAll(h, t, events, 'gen');
          for (const q of queries) {
            const at = (i: number) => (events[i % events.length] as EventSpec).occurredAt;
            let from = q.snap.from == null ? q.range.from : at(q.snap.from);
            let to = q.snap.to == null ? q.range.to : at(q.snap.to);
            if (to <= from) [from, to] = to < from ? [to, from] : [from, from + HOUR_MS];
            to = Math.min(to, from + 400 * DAY_MS);
            const totals = await checkSummary(h, t, from, to, q.filter, q.groupBy, q.gran);
            if (q.filter === noFilter) {
              // Independent of SQL: the totals are the generated events inside [from, to),
              // reversed ones netting to zero.
              const inside = events.filter((e) => !e.reverse && e.occurredAt >= from && e.occurredAt < to);
              expect(totals.requests).toBe(inside.length);
              expect(totals.failedRequests).toBe(inside.filter((e) => e.status === 'FAILED').length);
              expect(totals.totalTokens).toBe(inside.reduce((a, e) => a + e.inputTokens + e.outputTokens, 0));
              expect(totals.asrMilliseconds).toBe(
                inside.reduce((a, e) => a + (e.kind === 'ASR' ? (e.durationMs ?? 0) : 0), 0),
              );
              expect(totals.cost).toBe(unscaled(inside.reduce((a, e) => a + (e.cost ? scaledInput(e.cost) : 0n), 0n)));
              expect(totals.quantity).toBe(
                unscaled(inside.reduce((a, e) => a + (e.kind === 'CALL' ? scaledInput(e.quantity ?? '1') : 0n), 0n)),
              );
            }
          }
        },
      ),
      { numRuns: 30, seed: 99 },
    );
  });
});

/** A caller decimal ("1.5") scaled to 12 places. */
function scaledInput(s: string): bigint {
  const [i = '0', f = ''] = s.split('.');
  return BigInt(`${i}${f.padEnd(12, '0')}`);
}
