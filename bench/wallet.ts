// Test 10 of npm run bench: the hot-tenant load of test 3 (one tenant, one key, one model,
// single recordUsage calls) on a tenant whose every entry is debited from a funded wallet,
// against the same load on a tenant without a wallet, measured back to back in the same run.
// Each flush of the group committer locks and writes the wallet row once, so the ratio says
// what the debit costs a hot tenant. Afterwards the wallet must equal the grant minus the
// ledger's cost, to the last decimal, and its cached balance its movements.
import type pg from 'pg';

export interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

export interface WalletBenchDeps {
  base: string;
  operator: string;
  raw: pg.Pool;
  run: string;
  tenant(base: string, name: string): Promise<{ id: string; key: string }>;
  gql(base: string, key: string, query: string, variables?: unknown): Promise<Record<string, any>>;
  load(base: string, key: string, body: (i: number) => string): Promise<Load>;
  event(key: string, n: number, spread?: boolean): Record<string, unknown>;
  log(s: string): void;
  fmt(n: number, d?: number): string;
}

const RECORD = 'mutation($i: RecordUsageInput!) { recordUsage(input: $i) { outcome } }';
const GRANT = 'mutation($i: GrantCreditsInput!) { grantCredits(input: $i) { id } }';

export async function walletTest(d: WalletBenchDeps) {
  d.log('10/10 hot tenant with a funded wallet ...');
  const plain = await d.tenant(d.base, 'bench-hot-plain');
  const funded = await d.tenant(d.base, 'bench-hot-wallet');
  await d.gql(d.base, d.operator, GRANT, {
    i: { tenantId: funded.id, amount: '1000000000', idempotencyKey: `bench-${d.run}`, reason: 'bench' },
  });
  const body = (prefix: string) => (i: number) =>
    JSON.stringify({ query: RECORD, variables: { i: d.event(`${prefix}-${d.run}-${i}`, i, false) } });
  const without = await d.load(d.base, plain.key, body('wp'));
  const withWallet = await d.load(d.base, funded.key, body('ww'));
  const [check] = (
    await d.raw.query(
      `SELECT (SELECT count(*) FROM usage_events WHERE tenant_id = $1)::int AS entries,
              (SELECT 1000000000 - sum(cost) FROM usage_events WHERE tenant_id = $1)::text AS expected,
              (SELECT balance FROM wallets WHERE tenant_id = $1 AND subject IS NULL)::text AS balance,
              (SELECT sum(amount) FROM wallet_movements WHERE tenant_id = $1)::text AS movements,
              (SELECT count(DISTINCT at) FROM wallet_movements WHERE tenant_id = $1 AND kind = 'DEBIT')::int AS flushes`,
      [funded.id],
    )
  ).rows;
  if (check.expected !== check.balance || check.balance !== check.movements)
    throw new Error(`wallet not exact: ${JSON.stringify(check)}`);
  return [
    {
      test: '10. hot tenant, every entry debited from a funded wallet',
      figure: `${d.fmt(withWallet.rps)} events/s, p99 ${withWallet.p99} ms; ${d.fmt(check.entries)} entries, wallet written in ${d.fmt(check.flushes)} flushes, balance exact`,
      baseline: `same load, no wallet ${d.fmt(without.rps)} events/s, p99 ${without.p99} ms`,
      ratio: (withWallet.rps / without.rps).toFixed(2),
      target: '>= 0.8',
    },
  ];
}
