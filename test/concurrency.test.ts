// Concurrency over a real HTTP server: 64 parallel clients send 2,000 recordUsage calls for
// one tenant, 20% of them retries of earlier idempotency keys with the same payload and 2%
// reuses of earlier keys with a different payload. Afterwards the ledger, the hourly
// rollups, usageSummary and an independent client-side computation (decimal.js, from the
// rates alone) must agree exactly, and reconcile() must find nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dec } from '../server/src/lib/money';
import { reconcile } from '../server/src/modules/usage/usage.reconcile';
import { createHarness, type Harness, SUMMARY } from './support/harness';

// ---------------------------------------------------------------------------------------
// helpers

/** mulberry32: a small deterministic PRNG, so every run sends exactly the same traffic. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

/** Fisher-Yates with the deterministic generator. */
function shuffle<T>(xs: T[], rng: Rng): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

/** A random decimal string with up to `scale` decimals, e.g. "12.000340". */
function decimalString(rng: Rng, maxInt: number, scale: number): string {
  const whole = rng.int(0, maxInt);
  if (scale === 0) return String(whole);
  let frac = '';
  for (let i = 0; i < scale; i++) frac += String(rng.int(0, 9));
  return `${whole}.${frac}`;
}

const MILLION = new Dec(1_000_000);
/** Exact cost under the rates, rounded once half-even to 12 decimals (the contract's rule). */
const round12 = (d: InstanceType<typeof Dec>) => d.toDecimalPlaces(12, Dec.ROUND_HALF_EVEN);

// The price book of this test, written out once and used both to seed and to compute costs.
const RATES = {
  gpt: {
    provider: 'openai-conc',
    model: 'gpt-conc',
    inputPerMillion: '0.15',
    outputPerMillion: '0.6',
    cachedInputPerMillion: '0.075',
    // no cacheWriteInputPerMillion: cache writes fall back to the input rate
  },
  claude: {
    provider: 'anthropic-conc',
    model: 'claude-conc',
    inputPerMillion: '3',
    outputPerMillion: '15',
    cachedInputPerMillion: '0.3',
    cacheWriteInputPerMillion: '3.75',
    perRequest: '0.0001',
  },
  asr: { provider: 'speech-conc', model: 'asr-conc', perSecond: '0.0001', perRequest: '0.0005' },
  // 12 decimals times a quantity with up to 3 decimals: most CALL costs need rounding to 12 places
  tool: { provider: 'tools-conc', model: 'tool-conc', perUnit: '0.002000000007' },
} as const;

interface Expected {
  cost: InstanceType<typeof Dec>;
  requests: number;
  failed: number;
  input: number;
  output: number;
  cached: number;
  cacheWrite: number;
  reasoning: number;
  asrMs: number;
  quantity: InstanceType<typeof Dec>;
}

type Input = Record<string, unknown> & { idempotencyKey: string };

/** Builds one random usage payload and its expected ledger effect, from the rates above. */
function makeEvent(rng: Rng, key: string, occurredAt: string, subjects: string[]): { input: Input; exp: Expected } {
  const exp: Expected = {
    cost: new Dec(0),
    requests: 1,
    failed: 0,
    input: 0,
    output: 0,
    cached: 0,
    cacheWrite: 0,
    reasoning: 0,
    asrMs: 0,
    quantity: new Dec(0),
  };
  const base: Input = { idempotencyKey: key, occurredAt, subject: rng.pick(subjects) };
  if (rng.next() < 0.05) {
    base.status = 'FAILED';
    exp.failed = 1;
  }
  const shape = rng.int(0, 99);
  let input: Input;
  if (shape < 45) {
    // LLM, priced from the book (two models with different rate sets)
    const claude = rng.next() < 0.4;
    const r = claude ? RATES.claude : RATES.gpt;
    const inTok = rng.int(0, 200_000);
    const cached = rng.int(0, Math.floor(inTok / 2));
    const cacheWrite = rng.next() < 0.5 ? rng.int(0, inTok - cached) : 0;
    const outTok = rng.int(0, 20_000);
    const reasoning = rng.next() < 0.3 ? rng.int(0, outTok) : 0;
    input = {
      ...base,
      kind: 'LLM',
      provider: r.provider,
      model: r.model,
      inputTokens: inTok,
      outputTokens: outTok,
      cachedInputTokens: cached,
      cacheWriteInputTokens: cacheWrite,
      reasoningTokens: reasoning,
    };
    const inRate = new Dec(r.inputPerMillion);
    const cachedRate = new Dec(r.cachedInputPerMillion);
    const writeRate = 'cacheWriteInputPerMillion' in r ? new Dec(r.cacheWriteInputPerMillion) : inRate;
    const perRequest = 'perRequest' in r ? new Dec(r.perRequest) : new Dec(0);
    exp.cost = round12(
      new Dec(inTok - cached - cacheWrite)
        .times(inRate)
        .div(MILLION)
        .plus(new Dec(cached).times(cachedRate).div(MILLION))
        .plus(new Dec(cacheWrite).times(writeRate).div(MILLION))
        .plus(new Dec(outTok).times(r.outputPerMillion).div(MILLION))
        .plus(perRequest),
    );
    Object.assign(exp, { input: inTok, output: outTok, cached, cacheWrite, reasoning });
  } else if (shape < 60) {
    // ASR, priced per second of audio plus per request
    const ms = rng.int(1, 600_000);
    input = { ...base, kind: 'ASR', provider: RATES.asr.provider, model: RATES.asr.model, durationMs: ms };
    exp.cost = round12(new Dec(ms).div(1000).times(RATES.asr.perSecond).plus(RATES.asr.perRequest));
    exp.asrMs = ms;
  } else if (shape < 80) {
    // CALL, priced per unit; a quarter of them without quantity (counts 1)
    const q = rng.next() < 0.25 ? null : decimalString(rng, 40, rng.int(0, 3));
    input = { ...base, kind: 'CALL', provider: RATES.tool.provider, model: RATES.tool.model };
    if (q != null) input.quantity = q;
    const units = new Dec(q ?? 1);
    exp.cost = round12(units.times(RATES.tool.perUnit));
    exp.quantity = units;
  } else if (shape < 95) {
    // caller-supplied cost, any kind
    const cost = decimalString(rng, 3, rng.int(0, 12));
    const kind = rng.pick(['LLM', 'ASR', 'CALL'] as const);
    input = { ...base, kind, cost };
    if (kind === 'LLM') {
      const inTok = rng.int(0, 5000);
      const outTok = rng.int(0, 5000);
      Object.assign(input, { model: 'upstream-model', inputTokens: inTok, outputTokens: outTok });
      Object.assign(exp, { input: inTok, output: outTok });
    } else if (kind === 'ASR') {
      const ms = rng.int(0, 100_000);
      input.durationMs = ms;
      exp.asrMs = ms;
    } else {
      const q = decimalString(rng, 9, 2);
      input.quantity = q;
      exp.quantity = new Dec(q);
    }
    exp.cost = new Dec(cost);
  } else {
    // BYOK: tokens count, cost is 0
    const inTok = rng.int(0, 10_000);
    const outTok = rng.int(0, 10_000);
    input = {
      ...base,
      kind: 'LLM',
      provider: RATES.gpt.provider,
      model: RATES.gpt.model,
      modelSource: 'BYOK',
      inputTokens: inTok,
      outputTokens: outTok,
    };
    Object.assign(exp, { input: inTok, output: outTok });
  }
  return { input, exp };
}

/** The same key with a different payload (several ways the fingerprint can change). */
function conflicting(rng: Rng, original: Input, otherKey: string): { input: Input; keyOverride?: string } {
  const way = rng.int(0, 3);
  if (way === 0) return { input: { ...original, subject: `${String(original.subject)}-changed` } };
  if (way === 1)
    return {
      input: { ...original, occurredAt: new Date(Date.parse(String(original.occurredAt)) - 1000).toISOString() },
    };
  if (way === 2) return { input: { ...original, latencyMs: 12345 } };
  // Identical body from another key of the tenant: the resolved apiKeyId is part of the payload.
  return { input: { ...original }, keyOverride: otherKey };
}

interface Op {
  i: number;
  type: 'new' | 'retry' | 'conflict';
  key: string; // idempotency key
  secret: string; // API key secret used to send it
  input: Input;
  originalOp?: number; // for retries and conflicts: the op that first sent this key
}

interface Reply {
  status: number;
  data?: { recordUsage: { outcome: string; event: { id: string; cost: string } } } | null;
  errors?: { message: string; extensions?: { code?: string; field?: string[] } }[];
}

const RECORD_DOC = `mutation Record($input: RecordUsageInput!) {
  recordUsage(input: $input) { outcome event { id cost } }
}`;

// ---------------------------------------------------------------------------------------

let h: Harness;
beforeAll(async () => {
  h = await createHarness('concurrency', { poolSize: 16 });
});
afterAll(async () => h?.close());

describe('recordUsage under concurrency over HTTP', () => {
  it('64 clients, 2,000 calls with retries and conflicts: outcomes exact, ledger = rollups = expectation', async () => {
    const TOTAL = 2000;
    const RETRIES = 400; // 20%
    const CONFLICTS = 40; // 2%
    const CLIENTS = 64;

    const t = await h.seed.tenant('concurrency');
    const ingestA = await t.key(['INGEST'], 'gw-a');
    const ingestB = await t.key(['INGEST'], 'gw-b');
    const secrets = [t.adminKey, ingestA.secret, ingestB.secret];
    for (const r of Object.values(RATES)) await h.seed.price({ ...r });

    const rng = prng(0x7a11e5);
    const now = Date.now();
    const subjects = ['alice', 'bob', 'carol', 'dave', 'erin'];

    // Op types in a reproducible order; the first op is always new so reuses have a source.
    const types = shuffle(
      [
        ...Array<Op['type']>(TOTAL - RETRIES - CONFLICTS - 1).fill('new'),
        ...Array<Op['type']>(RETRIES).fill('retry'),
        ...Array<Op['type']>(CONFLICTS).fill('conflict'),
      ],
      rng,
    );
    types.unshift('new');

    const ops: Op[] = [];
    const newOps: Op[] = [];
    const expected = new Map<string, Expected>();
    for (const [i, type] of types.entries()) {
      if (type === 'new') {
        const key = `req-${i.toString().padStart(5, '0')}`;
        // spread over the last 48 hours (whole seconds), so many hourly rollup rows are hit
        const occurredAt = new Date(Math.floor((now - rng.int(0, 48 * 3600) * 1000) / 1000) * 1000).toISOString();
        const { input, exp } = makeEvent(rng, key, occurredAt, subjects);
        const op: Op = { i, type, key, secret: rng.pick(secrets), input };
        ops.push(op);
        newOps.push(op);
        expected.set(key, exp);
      } else {
        const orig = rng.pick(newOps);
        if (type === 'retry') {
          // the very same payload, from the same API key
          ops.push({ i, type, key: orig.key, secret: orig.secret, input: { ...orig.input }, originalOp: orig.i });
        } else {
          const other = secrets.find((s) => s !== orig.secret) as string;
          const c = conflicting(rng, orig.input, other);
          ops.push({
            i,
            type,
            key: orig.key,
            secret: c.keyOverride ?? orig.secret,
            input: c.input,
            originalOp: orig.i,
          });
        }
      }
    }
    expect(ops).toHaveLength(TOTAL);
    expect(ops.filter((o) => o.type === 'retry')).toHaveLength(RETRIES);
    expect(ops.filter((o) => o.type === 'conflict')).toHaveLength(CONFLICTS);

    // --- send: 64 clients pull from one queue; a reuse waits for its original's answer first
    const server = await h.listen();
    const url = `http://127.0.0.1:${server.port}/graphql`;
    const replies: Promise<Reply>[] = new Array(TOTAL);
    const send = async (op: Op): Promise<Reply> => {
      if (op.originalOp != null) await replies[op.originalOp];
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${op.secret}` },
        body: JSON.stringify({ query: RECORD_DOC, variables: { input: op.input } }),
      });
      return { ...((await res.json()) as object), status: res.status };
    };
    let next = 0;
    const client = async () => {
      while (next < ops.length) {
        const op = ops[next++] as Op;
        replies[op.i] = send(op);
        await replies[op.i];
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    const got = await Promise.all(replies);

    // --- outcomes
    const distinctKeys = new Set(newOps.map((o) => o.key));
    const createdIdByKey = new Map<string, string>();
    const unexpected: string[] = [];
    for (const op of ops) {
      const r = got[op.i] as Reply;
      if (op.type === 'conflict') {
        if (r.errors?.[0]?.extensions?.code !== 'IDEMPOTENCY_CONFLICT' || r.data?.recordUsage)
          unexpected.push(`conflict op ${op.i}: ${JSON.stringify(r)}`);
        continue;
      }
      if (r.errors?.length || !r.data?.recordUsage) {
        unexpected.push(`${op.type} op ${op.i}: ${JSON.stringify(r)}`);
        continue;
      }
      const { outcome, event } = r.data.recordUsage;
      if (op.type === 'new') {
        if (outcome !== 'CREATED') unexpected.push(`new op ${op.i} got ${outcome}`);
        createdIdByKey.set(op.key, event.id);
        const exp = expected.get(op.key) as Expected;
        if (event.cost !== exp.cost.toFixed(12))
          unexpected.push(`op ${op.i} cost ${event.cost} != ${exp.cost.toFixed(12)}`);
      }
    }
    expect(unexpected).toEqual([]);
    const outcomes = got.map((r) => r.data?.recordUsage?.outcome ?? r.errors?.[0]?.extensions?.code);
    expect(outcomes.filter((o) => o === 'CREATED')).toHaveLength(distinctKeys.size);
    expect(outcomes.filter((o) => o === 'IDEMPOTENCY_CONFLICT')).toHaveLength(CONFLICTS);
    expect(outcomes.filter((o) => o === 'DUPLICATE')).toHaveLength(RETRIES);
    for (const op of ops.filter((o) => o.type === 'retry')) {
      const r = got[op.i] as Reply;
      expect(r.data?.recordUsage.outcome, `retry op ${op.i}`).toBe('DUPLICATE');
      expect(r.data?.recordUsage.event.id, `retry op ${op.i}`).toBe(createdIdByKey.get(op.key));
    }

    // the ledger holds exactly the originals, under the ids that were answered
    const rows = await h.sql<{ k: string; id: string; cost: string }>(
      'SELECT idempotency_key AS k, id, cost::text AS cost FROM usage_events WHERE tenant_id = $1',
      [t.id],
    );
    expect(rows).toHaveLength(distinctKeys.size);
    for (const row of rows) {
      expect(createdIdByKey.get(row.k), row.k).toBe(row.id);
      expect(row.cost, row.k).toBe((expected.get(row.k) as Expected).cost.toFixed(12));
    }

    // --- sums: client expectation vs ledger vs rollups vs usageSummary
    const exp = [...expected.values()].reduce(
      (a, e) => ({
        cost: a.cost.plus(e.cost),
        requests: a.requests + e.requests,
        failed: a.failed + e.failed,
        input: a.input + e.input,
        output: a.output + e.output,
        cached: a.cached + e.cached,
        cacheWrite: a.cacheWrite + e.cacheWrite,
        reasoning: a.reasoning + e.reasoning,
        asrMs: a.asrMs + e.asrMs,
        quantity: a.quantity.plus(e.quantity),
      }),
      {
        cost: new Dec(0),
        requests: 0,
        failed: 0,
        input: 0,
        output: 0,
        cached: 0,
        cacheWrite: 0,
        reasoning: 0,
        asrMs: 0,
        quantity: new Dec(0),
      },
    );
    const want = {
      cost: exp.cost.toFixed(12),
      requests: String(exp.requests),
      failed: String(exp.failed),
      input: String(exp.input),
      output: String(exp.output),
      cached: String(exp.cached),
      cache_write: String(exp.cacheWrite),
      reasoning: String(exp.reasoning),
      asr_ms: String(exp.asrMs),
      quantity: exp.quantity.toFixed(12),
    };
    // non-trivial traffic: every measure is exercised
    expect(Number(want.failed)).toBeGreaterThan(0);
    expect(Number(want.cache_write)).toBeGreaterThan(0);
    expect(Number(want.reasoning)).toBeGreaterThan(0);
    expect(Number(want.asr_ms)).toBeGreaterThan(0);

    const [ledger] = await h.sql(
      `SELECT sum(cost)::text AS cost, sum(requests)::text AS requests,
              sum(CASE WHEN status = 'FAILED' THEN requests ELSE 0 END)::text AS failed,
              sum(input_tokens)::text AS input, sum(output_tokens)::text AS output,
              sum(cached_input_tokens)::text AS cached, sum(cache_write_input_tokens)::text AS cache_write,
              sum(reasoning_tokens)::text AS reasoning,
              sum(CASE WHEN kind = 'ASR' THEN duration_ms ELSE 0 END)::text AS asr_ms,
              sum(CASE WHEN kind = 'CALL' THEN quantity ELSE 0 END)::numeric(38,12)::text AS quantity
         FROM usage_events WHERE tenant_id = $1`,
      [t.id],
    );
    const [rollups] = await h.sql(
      `SELECT sum(cost)::text AS cost, sum(requests)::text AS requests, sum(failed_requests)::text AS failed,
              sum(input_tokens)::text AS input, sum(output_tokens)::text AS output,
              sum(cached_input_tokens)::text AS cached, sum(cache_write_input_tokens)::text AS cache_write,
              sum(reasoning_tokens)::text AS reasoning, sum(asr_ms)::text AS asr_ms,
              sum(quantity)::numeric(38,12)::text AS quantity
         FROM usage_rollups_hourly WHERE tenant_id = $1`,
      [t.id],
    );
    expect(ledger).toEqual(want);
    expect(rollups).toEqual(want);

    const filter = {
      from: new Date(now - 3 * 86_400_000).toISOString(),
      to: new Date(now + 86_400_000).toISOString(),
    };
    const s = await h.ok(t.adminKey, SUMMARY, { filter });
    expect(s.usageSummary.totals).toEqual({
      requests: exp.requests,
      failedRequests: exp.failed,
      inputTokens: exp.input,
      outputTokens: exp.output,
      cachedInputTokens: exp.cached,
      cacheWriteInputTokens: exp.cacheWrite,
      reasoningTokens: exp.reasoning,
      totalTokens: exp.input + exp.output,
      asrMilliseconds: exp.asrMs,
      quantity: want.quantity,
      cost: want.cost,
      currency: 'USD',
    });

    expect(await reconcile(h.db, t.id)).toEqual([]);
  });
});

describe('in-flight retries over HTTP', () => {
  it('the same key sent by several clients at once: one CREATED, the rest DUPLICATE of it, sums exact', async () => {
    const t = await h.seed.tenant('inflight');
    const server = await h.listen();
    const url = `http://127.0.0.1:${server.port}/graphql`;
    const rng = prng(42);
    const KEYS = 120;
    const COPIES = 4;
    const inputs = Array.from({ length: KEYS }, (_, i) => ({
      idempotencyKey: `inflight-${i}`,
      kind: 'CALL',
      quantity: decimalString(rng, 5, 2),
      cost: decimalString(rng, 2, 12),
    }));
    // every copy of every key, interleaved, all started together
    const sends = inputs.flatMap((input) => Array.from({ length: COPIES }, () => input));
    const replies = await Promise.all(
      shuffle(sends, rng).map(async (input) => {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminKey}` },
          body: JSON.stringify({ query: RECORD_DOC, variables: { input } }),
        });
        return { key: input.idempotencyKey, body: (await res.json()) as Reply };
      }),
    );
    expect(replies.filter((r) => r.body.errors)).toEqual([]);
    const byKey = new Map<string, { outcome: string; id: string }[]>();
    for (const r of replies) {
      const rec = r.body.data?.recordUsage as { outcome: string; event: { id: string } };
      byKey.set(r.key, [...(byKey.get(r.key) ?? []), { outcome: rec.outcome, id: rec.event.id }]);
    }
    for (const [key, rs] of byKey) {
      expect(
        rs.filter((x) => x.outcome === 'CREATED'),
        key,
      ).toHaveLength(1);
      expect(
        rs.filter((x) => x.outcome === 'DUPLICATE'),
        key,
      ).toHaveLength(COPIES - 1);
      expect(new Set(rs.map((x) => x.id)).size, key).toBe(1);
    }
    const want = inputs.reduce((a, i) => a.plus(i.cost), new Dec(0)).toFixed(12);
    const [ledger] = await h.sql(
      'SELECT count(*)::int AS n, sum(cost)::text AS cost FROM usage_events WHERE tenant_id = $1',
      [t.id],
    );
    const [rollups] = await h.sql(
      'SELECT sum(requests)::int AS n, sum(cost)::text AS cost FROM usage_rollups_hourly WHERE tenant_id = $1',
      [t.id],
    );
    expect(ledger).toEqual({ n: KEYS, cost: want });
    expect(rollups).toEqual({ n: KEYS, cost: want });
    expect(await reconcile(h.db, t.id)).toEqual([]);
  });
});
