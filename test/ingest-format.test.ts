// The ingest path's hand-tuned encodings must say exactly what the plain versions say:
// the idempotency fingerprint text (stored fingerprints of earlier entries depend on it) and
// the JSON row the writer sends (its order must follow the INSERT's column list). And the
// compiled executor is chosen for exactly the hot ingest mutations.
import fc from 'fast-check';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { isHot } from '../server/src/graphql/jit';
import { isUuid, uuidV7Ids } from '../server/src/lib/ids';
import { Dec, MAX_AMOUNT } from '../server/src/lib/money';
import { costText, type Metered } from '../server/src/modules/pricing/cost';
import { INSERT_COLUMNS as COLUMNS, type NewEntry, wireRow } from '../server/src/modules/usage/usage.columns';
import { canonicalJson, fingerprintText, type NormalizedUsage } from '../server/src/modules/usage/usage.validation';
import { referenceCost } from './support/reference-cost';

/** The fingerprint text as first written: canonicalJson over the whole field list. */
function referenceText(u: NormalizedUsage, tenantId: string, apiKeyId: string | null): string {
  return canonicalJson([
    'record/v1',
    u.idempotencyKey,
    tenantId,
    apiKeyId,
    u.subject,
    u.kind,
    u.provider,
    u.model,
    u.modelSource,
    u.status,
    u.inputTokens,
    u.outputTokens,
    u.cachedInputTokens,
    u.cacheWriteInputTokens,
    u.reasoningTokens,
    u.durationMs,
    u.quantity ? u.quantity.toFixed(12) : null,
    u.cost ? u.cost.toFixed(12) : null,
    u.currency,
    u.latencyMs,
    u.sessionId,
    u.occurredAt ? u.occurredAt.toISOString() : null,
    u.metadata,
    u.reservationId,
  ]);
}

const text = fc.option(fc.string({ unit: 'binary', maxLength: 20 }), { nil: null });
const int = fc.integer({ min: 0, max: 2_147_483_647 });
const decimal = fc.option(
  fc
    .tuple(fc.bigInt({ min: 0n, max: 10n ** 20n }), fc.integer({ min: 0, max: 12 }))
    .map(([n, s]) => new Dec(n.toString()).div(new Dec(10).pow(s))),
  { nil: null },
);
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

const usage: fc.Arbitrary<NormalizedUsage> = fc.record({
  idempotencyKey: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
  tenantId: fc.constant(null),
  apiKeyId: fc.constant(null),
  subject: text,
  kind: fc.constantFrom('LLM', 'ASR', 'CALL'),
  provider: text,
  model: text,
  modelSource: fc.constantFrom('VENDOR', 'BYOK'),
  status: fc.constantFrom('SUCCEEDED', 'FAILED'),
  inputTokens: int,
  outputTokens: int,
  cachedInputTokens: int,
  cacheWriteInputTokens: int,
  reasoningTokens: int,
  durationMs: fc.option(int, { nil: null }),
  quantity: decimal,
  cost: decimal,
  currency: fc.option(fc.constantFrom('USD', 'EUR'), { nil: null }),
  latencyMs: fc.option(int, { nil: null }),
  sessionId: text,
  occurredAt: fc.option(fc.date({ noInvalidDate: true }), { nil: null }),
  metadata: fc.option(fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), json, { maxKeys: 5 }), {
    nil: null,
  }),
  reservationId: fc.option(fc.uuid(), { nil: null }),
});

describe('fingerprint text', () => {
  it('equals canonicalJson over the field list for any input (stored fingerprints stay valid)', () => {
    fc.assert(
      fc.property(usage, fc.uuid(), fc.option(fc.uuid(), { nil: null }), (u, tenantId, apiKeyId) => {
        expect(fingerprintText(u, tenantId, apiKeyId)).toBe(referenceText(u, tenantId, apiKeyId));
      }),
      { numRuns: 500 },
    );
  });

  it('does not depend on the order of metadata keys', () => {
    fc.assert(
      fc.property(usage, (u) => {
        const reversed = u.metadata && Object.fromEntries(Object.entries(u.metadata).reverse());
        expect(fingerprintText({ ...u, metadata: reversed }, 't', null)).toBe(fingerprintText(u, 't', null));
      }),
      { numRuns: 200 },
    );
  });
});

describe('ledger ids (UUIDv7)', () => {
  it('are RFC 9562 version 7 ids carrying the millisecond, unique, and ordered by time across batches', () => {
    const ms = Date.parse('2026-11-22T06:00:00.123Z');
    const ids = uuidV7Ids(2000, ms);
    for (const id of ids) {
      expect(isUuid(id)).toBe(true);
      expect(id[14]).toBe('7'); // version
      expect('89ab').toContain(id[19]); // variant 10xx
      expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
    }
    expect(new Set(ids).size).toBe(ids.length);
    const later = uuidV7Ids(10, ms + 1);
    for (const a of ids) for (const b of later) expect(a < b).toBe(true);
  });
});

describe('writer row', () => {
  it('carries every column of the INSERT at its position', () => {
    // Distinct values per field, so a swapped pair of columns cannot go unnoticed.
    const entry = Object.fromEntries(COLUMNS.map(([k], i) => [k, `${k}-${i}`])) as unknown as NewEntry;
    entry.fingerprint = Buffer.from('fp');
    entry.occurredAt = new Date('2026-01-02T03:04:05.678Z');
    const row = wireRow(entry, 'id-0');
    expect(row).toHaveLength(COLUMNS.length);
    const expected: Partial<Record<string, unknown>> = {
      id: 'id-0',
      fingerprint: Buffer.from('fp').toString('hex'),
      occurredAt: '2026-01-02T03:04:05.678Z',
    };
    COLUMNS.forEach(([k], i) => {
      expect(row[i], k).toBe(k in expected ? expected[k] : `${k}-${i}`);
    });
  });
});

describe('compiled execution (graphql-jit) for the hot operations', () => {
  it('is chosen only for operations made entirely of hot mutations or subscriptions', () => {
    const hot = (q: string, name?: string) => isHot(parse(q), name);
    expect(hot('mutation($i: RecordUsageInput!) { recordUsage(input: $i) { outcome } }')).toBe(true);
    expect(hot('mutation($i: [RecordUsageInput!]!) { a: recordUsageBatch(input: $i) { created } }')).toBe(true);
    expect(hot('mutation { authorizeUsage(input: { estimate: { cost: "1" } }) { allowed } }')).toBe(true);
    // Mixed with another mutation, a query, or a subscription: the standard executor.
    expect(
      hot('mutation($i: RecordUsageInput!) { recordUsage(input: $i) { outcome } revokeApiKey(id: "x") { id } }'),
    ).toBe(false);
    expect(hot('{ viewer { isOperator } }')).toBe(false);
    // Subscriptions: every push executes the selection again, so they are compiled too.
    expect(hot('subscription { quotaUpdated { blocked } }')).toBe(true);
    expect(hot('subscription { recordUsage: quotaAlerts { id } }')).toBe(true);
    // Several operations in one document: the one named decides.
    const doc =
      'query Q { viewer { isOperator } } mutation M($i: RecordUsageInput!) { recordUsage(input: $i) { outcome } }';
    expect(hot(doc, 'M')).toBe(true);
    expect(hot(doc, 'Q')).toBe(false);
    expect(hot(doc)).toBe(false);
  });
});

describe('cost', () => {
  // Rates and quantities as PostgreSQL prints numeric(38,12): up to 26 integer digits, 12 decimals.
  const dec12 = (maxInt: bigint) =>
    fc
      .tuple(fc.bigInt({ min: 0n, max: maxInt }), fc.bigInt({ min: 0n, max: 10n ** 12n - 1n }))
      .map(([i, f]) => `${i}.${f.toString().padStart(12, '0')}`);
  const rate = fc.option(fc.oneof(dec12(100n), dec12(10n ** 6n), fc.constantFrom('0.000000000001', '0.000000000000')), {
    nil: null,
  });
  const metered = fc
    .record({
      input: fc.integer({ min: 0, max: 2_000_000_000 }),
      cachedShare: fc.double({ min: 0, max: 1, noNaN: true }),
      writeShare: fc.double({ min: 0, max: 1, noNaN: true }),
      outputTokens: fc.integer({ min: 0, max: 2_000_000_000 }),
      durationMs: fc.option(fc.integer({ min: 0, max: 2_147_483_647 }), { nil: null }),
      quantity: fc.option(dec12(10n ** 9n), { nil: null }),
    })
    .map((m): Metered => {
      const cached = Math.floor(m.input * m.cachedShare);
      return {
        inputTokens: m.input,
        cachedInputTokens: cached,
        cacheWriteInputTokens: Math.floor((m.input - cached) * m.writeShare),
        outputTokens: m.outputTokens,
        durationMs: m.durationMs,
        quantity: m.quantity == null ? null : new Dec(m.quantity),
      };
    });
  const rates = fc.record({
    inputPerMillion: rate,
    outputPerMillion: rate,
    cachedInputPerMillion: rate,
    cacheWriteInputPerMillion: rate,
    perRequest: rate,
    perSecond: rate,
    perUnit: rate,
  });

  it('is exactly the decimal definition, rounded once half-even to 12 decimals (over MAX_AMOUNT: refused)', () => {
    fc.assert(
      fc.property(metered, rates, (u, p) => {
        const want = referenceCost(u, p);
        if (new Dec(want).gt(MAX_AMOUNT)) expect(() => costText(u, p)).toThrow(/more than one entry may cost/);
        else expect(costText(u, p)).toBe(want);
      }),
      { numRuns: 2000 },
    );
  });

  it('rounds ties to even at the 12th decimal', () => {
    const none = { inputPerMillion: null, outputPerMillion: null, cachedInputPerMillion: null };
    const zero = { ...none, cacheWriteInputPerMillion: null, perRequest: null, perSecond: null };
    const u = (outputTokens: number): Metered => ({
      inputTokens: 0,
      cachedInputTokens: 0,
      cacheWriteInputTokens: 0,
      outputTokens,
      durationMs: null,
      quantity: null,
    });
    // 1 token at 0.0000005/M is 5e-13: a tie that rounds down to the even 0; 3 tokens (1.5e-12) up to 2e-12.
    expect(costText(u(1), { ...zero, outputPerMillion: '0.000000500000', perUnit: null })).toBe('0.000000000000');
    expect(costText(u(3), { ...zero, outputPerMillion: '0.000000500000', perUnit: null })).toBe('0.000000000002');
    expect(costText(u(5), { ...zero, outputPerMillion: '0.000000500000', perUnit: null })).toBe('0.000000000002');
  });
});
