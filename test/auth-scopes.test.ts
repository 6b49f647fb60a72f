// Who may do what is declared once, on each GraphQL field (authScopes), and refused there with
// the FORBIDDEN message each operation has always given; services never check scopes.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../server/src/schema';
import { createHarness, type Harness, type SeededTenant } from './support/harness';

let h: Harness;
let t: SeededTenant;
const keys: Record<'READ' | 'INGEST' | 'ADMIN', string> = { READ: '', INGEST: '', ADMIN: '' };

beforeAll(async () => {
  h = await createHarness('auth_scopes');
  t = await h.seed.tenant('scoped');
  keys.ADMIN = t.adminKey;
  keys.READ = (await t.key(['READ'])).secret;
  keys.INGEST = (await t.key(['INGEST'])).secret;
});
afterAll(() => h?.close());

const DAY = 86_400_000;
const range = () => ({ from: new Date(Date.now() - DAY).toISOString(), to: new Date(Date.now() + DAY).toISOString() });
const ID = '00000000-0000-4000-8000-000000000000';
const needs = (scope: string) => `this operation needs a key with the ${scope} scope`;

// [operation, the key that lacks the scope, the query, its variables, the FORBIDDEN message]
const REFUSED: [string, keyof typeof keys, string, () => Record<string, unknown>, string][] = [
  [
    'usageSummary',
    'INGEST',
    'query($f: UsageFilter!) { usageSummary(filter: $f) { totals { cost } } }',
    () => ({ f: range() }),
    needs('READ'),
  ],
  [
    'usageEvents',
    'INGEST',
    'query($f: UsageFilter!) { usageEvents(filter: $f) { edges { cursor } } }',
    () => ({ f: range() }),
    needs('READ'),
  ],
  ['quotaStatus', 'INGEST', '{ quotaStatus { blocked } }', () => ({}), needs('READ')],
  ['quotaAlerts', 'INGEST', '{ quotaAlerts { edges { cursor } } }', () => ({}), needs('READ')],
  ['tenant', 'INGEST', 'query($id: ID!) { tenant(id: $id) { id } }', () => ({ id: t.id }), needs('READ')],
  ['prices', 'INGEST', '{ prices { id } }', () => ({}), needs('READ')],
  [
    'recordUsage',
    'READ',
    'mutation { recordUsage(input: { idempotencyKey: "a", kind: CALL }) { outcome } }',
    () => ({}),
    needs('INGEST'),
  ],
  [
    'recordUsageBatch',
    'READ',
    'mutation { recordUsageBatch(input: [{ idempotencyKey: "a", kind: CALL }]) { created } }',
    () => ({}),
    needs('INGEST'),
  ],
  [
    'reverseUsage',
    'READ',
    `mutation { reverseUsage(input: { eventId: "${ID}", idempotencyKey: "r" }) { outcome } }`,
    () => ({}),
    needs('INGEST'),
  ],
  [
    'authorizeUsage',
    'READ',
    'mutation { authorizeUsage(input: { estimate: { cost: "1" } }) { allowed } }',
    () => ({}),
    needs('INGEST'),
  ],
  ['releaseReservation', 'READ', `mutation { releaseReservation(id: "${ID}") }`, () => ({}), needs('INGEST')],
  [
    'setPrice',
    'READ',
    'mutation { setPrice(input: { provider: "p", model: "m", perRequest: "1" }) { id } }',
    () => ({}),
    needs('ADMIN'),
  ],
  [
    'setPrices',
    'READ',
    'mutation { setPrices(input: { prices: [{ provider: "p", model: "m", perRequest: "1" }] }) { created } }',
    () => ({}),
    needs('ADMIN'),
  ],
  [
    'setApiKeyLimits',
    'READ',
    `mutation { setApiKeyLimits(input: { apiKeyId: "${ID}", limits: [] }) { id } }`,
    () => ({}),
    needs('ADMIN'),
  ],
  [
    'createApiKey',
    'READ',
    'mutation { createApiKey(input: { name: "k", scopes: [READ] }) { secret } }',
    () => ({}),
    'creating API keys needs an ADMIN key',
  ],
  [
    'createSubjectToken',
    'READ',
    'mutation { createSubjectToken(input: { subject: "s" }) { token } }',
    () => ({}),
    'minting subject tokens needs an ADMIN key',
  ],
  [
    'revokeApiKey',
    'READ',
    `mutation { revokeApiKey(id: "${ID}") { id } }`,
    () => ({}),
    'revoking API keys needs an ADMIN key',
  ],
  [
    'upsertPlan',
    'ADMIN',
    'mutation { upsertPlan(input: { code: "c", name: "n", limits: [] }) { id } }',
    () => ({}),
    'only the operator manages plans',
  ],
  [
    'assignPlan',
    'ADMIN',
    `mutation { assignPlan(input: { tenantId: "${ID}", planCode: "c" }) { startsAt } }`,
    () => ({}),
    'only the operator assigns plans',
  ],
  [
    'createTenant',
    'ADMIN',
    'mutation { createTenant(input: { name: "x" }) { secret } }',
    () => ({}),
    'only the operator creates tenants',
  ],
  ['tenants', 'ADMIN', '{ tenants { edges { cursor } } }', () => ({}), 'only the operator lists tenants'],
  ['webhookEndpoints', 'READ', '{ webhookEndpoints { id } }', () => ({}), needs('ADMIN')],
  [
    'webhookDeliveries',
    'READ',
    `{ webhookDeliveries(endpointId: "${ID}") { edges { cursor } } }`,
    () => ({}),
    needs('ADMIN'),
  ],
  ['wallet', 'INGEST', '{ wallet { balance } }', () => ({}), needs('READ')],
  [
    'setWalletThreshold',
    'READ',
    'mutation { setWalletThreshold(input: { lowBalanceThreshold: "1" }) { balance } }',
    () => ({}),
    needs('ADMIN'),
  ],
  [
    'createWebhookEndpoint',
    'READ',
    'mutation { createWebhookEndpoint(input: { url: "https://example.com/h" }) { secret } }',
    () => ({}),
    needs('ADMIN'),
  ],
  [
    'updateWebhookEndpoint',
    'INGEST',
    `mutation { updateWebhookEndpoint(input: { id: "${ID}", enabled: false }) { id } }`,
    () => ({}),
    needs('ADMIN'),
  ],
  ['deleteWebhookEndpoint', 'READ', `mutation { deleteWebhookEndpoint(id: "${ID}") }`, () => ({}), needs('ADMIN')],
  [
    'rotateWebhookSecret',
    'READ',
    `mutation { rotateWebhookSecret(id: "${ID}") { secret } }`,
    () => ({}),
    needs('ADMIN'),
  ],
  [
    'redeliverWebhook',
    'INGEST',
    `mutation { redeliverWebhook(deliveryId: "${ID}") { id } }`,
    () => ({}),
    needs('ADMIN'),
  ],
  [
    'grantCredits',
    'ADMIN',
    `mutation { grantCredits(input: { tenantId: "${ID}", amount: "1", idempotencyKey: "k" }) { id } }`,
    () => ({}),
    'only the operator grants credits',
  ],
  [
    'voidCreditGrant',
    'ADMIN',
    `mutation { voidCreditGrant(id: "${ID}") { id } }`,
    () => ({}),
    'only the operator voids credit grants',
  ],
];

describe('authorization in one place', () => {
  it.each(REFUSED)('%s refuses a %s key with its own FORBIDDEN message', async (_, key, query, vars, message) => {
    const r = await h.gql(keys[key], query, vars());
    expect(r.errors?.map((e: any) => [e.extensions?.code, e.message])).toEqual([['FORBIDDEN', message]]);
    // Nothing answered (a nullable root field answers null, a non-null one nulls the data).
    expect(Object.values(r.data ?? {}).every((v) => v === null)).toBe(true);
  });

  it('a scoped field under an object answers its own message, and leaves the rest of the answer', async () => {
    const r = await h.gql(keys.INGEST, '{ viewer { isOperator tenant { id apiKeys { id } } } }');
    expect(r.errors?.map((e: any) => [e.extensions?.code, e.message, e.path])).toEqual([
      ['FORBIDDEN', 'this key lacks the scope for that field', ['viewer', 'tenant', 'apiKeys']],
    ]);
  });

  it.each([
    ['usageRecorded', 'subscription { usageRecorded { id } }'],
    ['quotaAlerts', 'subscription { quotaAlerts { id } }'],
    ['quotaUpdated', 'subscription { quotaUpdated { blocked } }'],
    ['walletUpdated', 'subscription { walletUpdated { balance } }'],
  ])('the %s subscription refuses an INGEST key on subscribe, with the READ message', async (_, query) => {
    const res = await h.app.yoga.fetch('http://tally.test/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        authorization: `Bearer ${keys.INGEST}`,
      },
      body: JSON.stringify({ query }),
    });
    const text = await res.text();
    const payload = JSON.parse((/^data: (.*)$/m.exec(text) as RegExpExecArray)[1] as string);
    expect(payload.errors.map((e: any) => [e.extensions?.code, e.message])).toEqual([['FORBIDDEN', needs('READ')]]);
  });

  it('every root field that refuses a key declares the scopes it needs in the schema', () => {
    const declared = (type: string) => {
      const t = schema.getType(type);
      if (!t || !isObjectType(t)) return {};
      return Object.fromEntries(
        Object.values(t.getFields()).map((f) => [f.name, (f.extensions as any)?.pothosOptions?.authScopes ?? null]),
      );
    };
    const all = { ...declared('Query'), ...declared('Mutation') };
    for (const [field] of REFUSED) expect(all[field], field).toBeTruthy();
    // The rest say so: any key may use them.
    for (const [field, scopes] of Object.entries(all))
      if (!REFUSED.some(([f]) => f === field)) expect(scopes, field).toEqual({ anyKey: true });
    const subs = declared('Subscription');
    for (const f of ['usageRecorded', 'quotaAlerts', 'quotaUpdated', 'walletUpdated'])
      expect(subs[f], f).toEqual({ read: true });
  });
});

describe('who the caller is, in one place', () => {
  it("no module reads the Principal: each takes scopeOf(ctx.principal) and asks auth/scope.ts's helpers", () => {
    const modules = join(__dirname, '..', 'server', 'src', 'modules');
    const offending: string[] = [];
    for (const m of readdirSync(modules))
      for (const f of readdirSync(join(modules, m)).filter((x) => x.endsWith('.ts'))) {
        const text = readFileSync(join(modules, m, f), 'utf8');
        // Every mention of ctx.principal is the argument of scopeOf(...).
        const bare = text.replaceAll('scopeOf(ctx.principal)', '');
        if (/ctx\.principal|\btenantOf\(/.test(bare)) offending.push(`${m}/${f}`);
      }
    expect(offending).toEqual([]);
    // The reader is not blind: the schemas do build scopes from the principal.
    const quota = readFileSync(join(modules, 'quota', 'quota.schema.ts'), 'utf8');
    expect(quota).toContain('scopeOf(ctx.principal)');
  });
});
