// The one statement usage answers pricing's port with (pricing/ports.ts, usage.reader.ts):
// for each check, the latest occurredAt of an entry priced by one of its versions, named, no rules.
import type { Sql } from '../../db/database';
import type { PricedEntriesCheck } from '../pricing/ports';

export function latestPriced(sql: Sql, checks: readonly PricedEntriesCheck[]) {
  return sql.query<{ ord: number; latest: Date }>(
    'setPrices:pricedEntries',
    `WITH c AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS c(ord int, tenant_id uuid, from_at timestamptz, to_at timestamptz, price_ids uuid[])
     ), e AS (
       SELECT e.tenant_id, e.price_id, e.occurred_at FROM tenants t
        CROSS JOIN LATERAL (
          SELECT e.tenant_id, e.price_id, e.occurred_at FROM usage_events e
           WHERE e.tenant_id = t.id AND e.occurred_at >= (SELECT min(from_at) FROM c)) e
        WHERE (EXISTS (SELECT 1 FROM c WHERE c.tenant_id IS NULL) OR t.id IN (SELECT tenant_id FROM c))
          AND e.price_id IN (SELECT unnest(price_ids) FROM c)
     )
     SELECT c.ord, max(e.occurred_at) AS latest FROM c JOIN e
         ON e.price_id = ANY(c.price_ids) AND e.occurred_at >= c.from_at AND (c.to_at IS NULL OR e.occurred_at < c.to_at)
        AND (c.tenant_id IS NULL OR e.tenant_id = c.tenant_id)
      GROUP BY c.ord`,
    [
      JSON.stringify(
        checks.map((c, ord) => ({
          ord,
          tenant_id: c.tenantId,
          from_at: c.from.toISOString(),
          to_at: c.to?.toISOString() ?? null,
          price_ids: c.priceIds,
        })),
      ),
    ],
  );
}
