// The credits scenarios' plumbing: raw GraphQL documents for wallets and grants (until the
// typed client has them), as the operator or a tenant's key.
import { OPERATOR_KEY } from '../support/harness';
import type { World } from '../support/world';

export const WALLET_FIELDS = `tenantId subject currency balance reserved available lowBalanceThreshold
  lowBalanceSince depletedSince asOf grants(includeSpent: true) { id amount remaining priority effectiveAt expiresAt reason voidedAt }`;
export const GRANT = `mutation($input: GrantCreditsInput!) { grantCredits(input: $input) {
  id amount remaining priority effectiveAt expiresAt reason createdAt voidedAt } }`;
export const WALLET = `query($tenantId: ID, $subject: String) { wallet(tenantId: $tenantId, subject: $subject) { ${WALLET_FIELDS} } }`;
export const VOID = 'mutation($id: ID!) { voidCreditGrant(id: $id) { id amount remaining voidedAt } }';
export const THRESHOLD = `mutation($input: SetWalletThresholdInput!) { setWalletThreshold(input: $input) { ${WALLET_FIELDS} } }`;

let n = 0;
export const key = (p = 'g') => `${p}-${++n}-${Math.random().toString(36).slice(2, 8)}`;

export interface GrantArgs {
  subject?: string | null;
  amount: string;
  priority?: number;
  effectiveAt?: string;
  expiresAt?: string;
  reason?: string;
  idempotencyKey?: string;
  currency?: string;
}

export function credits(world: World) {
  const h = world.h;
  return {
    async grant(tenantId: string, g: GrantArgs) {
      const d = await h.ok(OPERATOR_KEY, GRANT, { input: { tenantId, idempotencyKey: key(), ...g } });
      return d.grantCredits;
    },
    async grantRaw(tenantId: string, g: Partial<GrantArgs>, as = OPERATOR_KEY) {
      return h.gql(as, GRANT, { input: { tenantId, idempotencyKey: key(), ...g } });
    },
    async wallet(tenantId: string, subject: string | null = null, as = OPERATOR_KEY) {
      return (await h.ok(as, WALLET, { tenantId, subject })).wallet;
    },
    async movements(tenantId: string) {
      return h.sql(
        `SELECT m.kind, m.amount::text AS amount, m.grant_id AS "grantId", m.event_id AS "eventId", w.subject
           FROM wallet_movements m JOIN wallets w ON w.id = m.wallet_id WHERE m.tenant_id = $1 ORDER BY m.id`,
        [tenantId],
      );
    },
  };
}

/** The code and field of the first error. */
export const refusal = (r: { errors?: { extensions?: { code?: string; field?: string[] } }[] }) => ({
  code: r.errors?.[0]?.extensions?.code,
  field: r.errors?.[0]?.extensions?.field?.join('.'),
});
