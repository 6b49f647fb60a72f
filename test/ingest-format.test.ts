// The ingest path's hand-tuned encodings must say exactly what the plain versions say:
// the idempotency fingerprint text (stored fingerprints of earlier entries depend on it) and
// the JSON row the writer sends (its order must follow the INSERT's column list). And the
// compiled executor is chosen for exactly the hot ingest mutations.
import fc from 'fast-check';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { isHot } from '../server/src/graphql/jit';
import { Dec } from '../server/src/lib/money';
import { canonicalJson, fingerprintText, type NormalizedUsage } from '../server/src/modules/usage/usage.validation';
import { COLUMNS, type NewEntry, wireRow } from '../server/src/modules/usage/usage.writer';

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

describe('writer row', () => {
  it('carries every column of the INSERT at its position', () => {
    // Distinct values per field, so a swapped pair of columns cannot go unnoticed.
    const entry = Object.fromEntries(COLUMNS.map(([k], i) => [k, `${k}-${i}`])) as unknown as NewEntry;
    entry.fingerprint = Buffer.from('fp');
    const row = wireRow(entry);
    expect(row).toHaveLength(COLUMNS.length);
    COLUMNS.forEach(([k], i) => {
      expect(row[i], k).toBe(k === 'fingerprint' ? Buffer.from('fp').toString('hex') : `${k}-${i}`);
    });
  });
});

describe('compiled execution (graphql-jit) for the ingest mutations', () => {
  it('is chosen only for operations made entirely of the hot mutations', () => {
    const hot = (q: string, name?: string) => isHot(parse(q), name);
    expect(hot('mutation($i: RecordUsageInput!) { recordUsage(input: $i) { outcome } }')).toBe(true);
    expect(hot('mutation($i: [RecordUsageInput!]!) { a: recordUsageBatch(input: $i) { created } }')).toBe(true);
    expect(hot('mutation { authorizeUsage(input: { estimate: { cost: "1" } }) { allowed } }')).toBe(true);
    // Mixed with another mutation, a query, or a subscription: the standard executor.
    expect(
      hot('mutation($i: RecordUsageInput!) { recordUsage(input: $i) { outcome } revokeApiKey(id: "x") { id } }'),
    ).toBe(false);
    expect(hot('{ viewer { isOperator } }')).toBe(false);
    expect(hot('subscription { quotaUpdated { blocked } }')).toBe(false);
    // Several operations in one document: the one named decides.
    const doc =
      'query Q { viewer { isOperator } } mutation M($i: RecordUsageInput!) { recordUsage(input: $i) { outcome } }';
    expect(hot(doc, 'M')).toBe(true);
    expect(hot(doc, 'Q')).toBe(false);
    expect(hot(doc)).toBe(false);
  });
});
