// Every statement the webhooks module runs, named, and nothing else: no rules. Each function
// takes the Sql to run on (a transaction's `tx`, or the database).
import type { Sql } from '../../db/database';
import type { Keyset } from '../../lib/keyset';
import type { WebhookEvent } from './ports';
import type { AttemptResult } from './webhooks.send';
import type { AttemptRow, ClaimedDelivery, DeliveryRow, DeliveryStatus, EndpointRow } from './webhooks.types';

const ENDPOINT_COLUMNS = `id, tenant_id AS "tenantId", url, event_types AS "eventTypes", enabled, created_at AS "createdAt"`;
const deliveryColumns = (d: string) => `${d}.id, ${d}.tenant_id AS "tenantId", ${d}.endpoint_id AS "endpointId",
  ${d}.event_id AS "eventId", ${d}.event_type AS "eventType", ${d}.status, ${d}.attempts, ${d}.last_attempt_at AS "lastAttemptAt",
  ${d}.next_attempt_at AS "nextAttemptAt", ${d}.last_response_status AS "lastResponseStatus", ${d}.created_at AS "createdAt"`;
const ATTEMPT_COLUMNS = `id, delivery_id AS "deliveryId", attempt, at, duration_ms AS "durationMs", outcome,
  response_status AS "responseStatus", error`;

// ------------------------------------------------------------------ endpoints

export async function insertEndpoint(
  sql: Sql,
  e: { tenantId: string; url: string; eventTypes: string[]; secret: string },
): Promise<EndpointRow> {
  const [row] = await sql.query<EndpointRow>(
    'createWebhookEndpoint:insert',
    `INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret) VALUES ($1, $2, $3, $4) RETURNING ${ENDPOINT_COLUMNS}`,
    [e.tenantId, e.url, e.eventTypes, e.secret],
  );
  return row as EndpointRow;
}

export function endpointsOf(sql: Sql, tenantId: string): Promise<EndpointRow[]> {
  return sql.query<EndpointRow>(
    'webhookEndpoints:list',
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY created_at, id`,
    [tenantId],
  );
}

/** The endpoint, when it exists, is not deleted, and belongs to `owner` (null: any tenant, the operator). */
export async function endpointById(sql: Sql, id: string, owner: string | null): Promise<EndpointRow | null> {
  const [row] = await sql.query<EndpointRow>(
    'webhookEndpoint:byId',
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints
      WHERE id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR tenant_id = $2)`,
    [id, owner],
  );
  return row ?? null;
}

export async function updateEndpoint(
  sql: Sql,
  id: string,
  owner: string | null,
  patch: { url: string | null; eventTypes: string[] | null; enabled: boolean | null },
): Promise<EndpointRow | null> {
  const [row] = await sql.query<EndpointRow>(
    'updateWebhookEndpoint:update',
    `UPDATE webhook_endpoints SET url = coalesce($3, url), event_types = coalesce($4, event_types),
            enabled = coalesce($5, enabled), updated_at = now()
      WHERE id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR tenant_id = $2)
      RETURNING ${ENDPOINT_COLUMNS}`,
    [id, owner, patch.url, patch.eventTypes, patch.enabled],
  );
  return row ?? null;
}

export async function deleteEndpoint(sql: Sql, id: string, owner: string | null): Promise<boolean> {
  const rows = await sql.query(
    'deleteWebhookEndpoint:delete',
    `UPDATE webhook_endpoints SET deleted_at = now(), enabled = false
      WHERE id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR tenant_id = $2) RETURNING id`,
    [id, owner],
  );
  return rows.length > 0;
}

export async function setSecret(
  sql: Sql,
  id: string,
  owner: string | null,
  secret: string,
): Promise<EndpointRow | null> {
  const [row] = await sql.query<EndpointRow>(
    'rotateWebhookSecret:update',
    `UPDATE webhook_endpoints SET secret = $3, updated_at = now()
      WHERE id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR tenant_id = $2) RETURNING ${ENDPOINT_COLUMNS}`,
    [id, owner, secret],
  );
  return row ?? null;
}

// ------------------------------------------------------------------ the outbox

/**
 * One statement: a delivery per event per enabled endpoint of its tenant that wants its type;
 * an (endpoint, type, key) already there makes none. Returns how many were made.
 */
export async function emit(tx: Sql, events: WebhookEvent[]): Promise<number> {
  const rows = await tx.query(
    'webhooks:emit',
    `INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_type, event_key, occurred_at, data, next_attempt_at)
     SELECT ep.tenant_id, ep.id, e.type, e.key, e.at, e.data, now()
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[]) AS e(tenant_id, type, key, at, data)
       JOIN webhook_endpoints ep ON ep.tenant_id = e.tenant_id AND ep.enabled AND ep.deleted_at IS NULL
        AND (cardinality(ep.event_types) = 0 OR e.type = ANY (ep.event_types))
     ON CONFLICT (tenant_id, endpoint_id, event_type, event_key) DO NOTHING
     RETURNING id`,
    [
      events.map((e) => e.tenantId),
      events.map((e) => e.type),
      events.map((e) => e.key),
      events.map((e) => e.at),
      events.map((e) => JSON.stringify(e.data)),
    ],
  );
  return rows.length;
}

/**
 * Claims up to `limit` due deliveries (SKIP LOCKED: rows another instance is claiming are
 * passed over), endpoint by endpoint: from each enabled endpoint with fewer than `perEndpoint`
 * attempts in flight here, its most overdue rows up to what it has left (an index probe per
 * endpoint, so a backlog of one endpoint is never scanned and never crowds out the others). A
 * claim moves next_attempt_at past the attempt's deadline (`leaseMs`), so no other instance
 * takes it while it is sent, and a crashed sender's row comes due again.
 */
export function claimDue(
  sql: Sql,
  limit: number,
  leaseMs: number,
  perEndpoint: number,
  busy: { endpointIds: string[]; inFlight: number[] },
): Promise<ClaimedDelivery[]> {
  return sql.query<ClaimedDelivery>(
    'webhooks:claim',
    `WITH room AS (
       SELECT ep.id, $3 - coalesce(b.n, 0) AS n
         FROM webhook_endpoints ep
         LEFT JOIN unnest($4::uuid[], $5::int[]) AS b(endpoint_id, n) ON b.endpoint_id = ep.id
        WHERE ep.enabled AND ep.deleted_at IS NULL AND coalesce(b.n, 0) < $3
     ), picked AS (
       SELECT d.id, d.next_attempt_at FROM room CROSS JOIN LATERAL (
         SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
          WHERE d.endpoint_id = room.id AND d.status = 'PENDING' AND d.next_attempt_at <= now()
          ORDER BY d.next_attempt_at LIMIT room.n
          FOR UPDATE SKIP LOCKED) d
        ORDER BY d.next_attempt_at LIMIT $1
     )
     UPDATE webhook_deliveries d
        SET claim = gen_random_uuid(), next_attempt_at = now() + $2 * interval '1 millisecond'
       FROM picked, webhook_endpoints ep
      WHERE d.id = picked.id AND ep.id = d.endpoint_id
      RETURNING d.id, d.claim, d.endpoint_id AS "endpointId", d.event_id AS "eventId", d.event_type AS "eventType",
                d.occurred_at AS "occurredAt", d.data, d.attempts, d.round_start AS "roundStart", ep.url, ep.secret`,
    [limit, leaseMs, perEndpoint, busy.endpointIds, busy.inFlight],
  );
}

/** One attempt's outcome, and the delivery's state after it (webhooks.worker.ts decides it). */
export interface AttemptRecord {
  d: { id: string; claim: string };
  result: AttemptResult;
  at: Date;
  next: { status: DeliveryStatus; nextAttemptAt: Date | null };
}

/**
 * Attempts' outcomes, in one statement (each delivery at most once): each logged, and counted
 * on its delivery. A delivery's state moves only while the claim is still the sender's (a
 * redeliver in between took it back: the attempt is logged and counted, and the redelivery
 * stands).
 */
export async function recordAttempts(sql: Sql, records: AttemptRecord[]): Promise<void> {
  await sql.query(
    'webhooks:recordAttempts',
    `WITH v AS (
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::int[], $5::text[], $6::timestamptz[],
                            $7::int[], $8::text[], $9::text[])
         AS v(id, claim, at, response_status, next_status, next_at, duration_ms, outcome, error)
     ), d AS (
       UPDATE webhook_deliveries w
          SET attempts = w.attempts + 1, last_attempt_at = v.at, last_response_status = v.response_status,
              status = CASE WHEN w.claim = v.claim THEN v.next_status ELSE w.status END,
              next_attempt_at = CASE WHEN w.claim = v.claim THEN v.next_at ELSE w.next_attempt_at END,
              claim = CASE WHEN w.claim = v.claim THEN NULL ELSE w.claim END
         FROM v WHERE w.id = v.id
        RETURNING w.id, w.tenant_id, w.attempts, v.at, v.duration_ms, v.outcome, v.response_status, v.error
     )
     INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, at, duration_ms, outcome, response_status, error)
     SELECT tenant_id, id, attempts, at, duration_ms, outcome, response_status, error FROM d`,
    [
      records.map((r) => r.d.id),
      records.map((r) => r.d.claim),
      records.map((r) => r.at),
      records.map((r) => r.result.status),
      records.map((r) => r.next.status),
      records.map((r) => r.next.nextAttemptAt),
      records.map((r) => r.result.durationMs),
      records.map((r) => r.result.outcome),
      records.map((r) => r.result.error),
    ],
  );
}

// ------------------------------------------------------------------ reads and redelivery

export function deliveriesPage(sql: Sql, endpointId: string, k: Keyset): Promise<DeliveryRow[]> {
  return sql.query<DeliveryRow>(
    'webhookDeliveries:page',
    `SELECT ${deliveryColumns('d')} FROM webhook_deliveries d
      WHERE endpoint_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
      ORDER BY created_at DESC, id DESC LIMIT $4`,
    [endpointId, k.afterInstant, k.afterId, k.limit],
  );
}

export function attemptsOf(sql: Sql, deliveryIds: readonly string[]): Promise<AttemptRow[]> {
  return sql.query<AttemptRow>(
    'webhookDeliveries:attempts',
    `SELECT ${ATTEMPT_COLUMNS} FROM webhook_attempts WHERE delivery_id = ANY ($1::uuid[]) ORDER BY delivery_id, attempt`,
    [deliveryIds],
  );
}

/**
 * Makes the delivery due now, as a new round of the schedule (the same webhook-id), when it
 * belongs to `owner` and its endpoint is not deleted; takes back any claim in flight.
 */
export async function redeliver(sql: Sql, id: string, owner: string | null): Promise<DeliveryRow | null> {
  const [row] = await sql.query<DeliveryRow>(
    'redeliverWebhook:update',
    `UPDATE webhook_deliveries d SET status = 'PENDING', next_attempt_at = now(), round_start = d.attempts, claim = NULL
       FROM webhook_endpoints ep
      WHERE d.id = $1 AND ep.id = d.endpoint_id AND ep.deleted_at IS NULL AND ($2::uuid IS NULL OR d.tenant_id = $2)
      RETURNING ${deliveryColumns('d')}`,
    [id, owner],
  );
  return row ?? null;
}
