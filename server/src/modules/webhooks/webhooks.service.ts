// Webhooks: the module's face to the rest of the server.
//   webhooks.outbox.ts   the outbox port (ports.ts) other modules emit through
//   webhooks.ledger.ts   usage.reversed, as a participant in ledger writes
//   webhooks.worker.ts   the delivery worker (claims, sends, records, retries)
//   webhooks.send.ts     one signed attempt; webhooks.address.ts: where it may connect
//   webhooks.store.ts    every statement the module runs, named
//   webhooks.input.ts    its input checks
// Endpoints and deliveries are read and changed only for the caller's tenant: an id of another
// tenant's is NOT_FOUND, as is one that does not exist.
import { randomBytes } from 'node:crypto';
import { ownerOf, type TenantScope, tenantIn } from '../../auth/scope';
import type { Database } from '../../db/database';
import { notFound } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { connection, keyset } from '../../lib/keyset';
import type { TenantsService } from '../tenants/tenants.service';
import type { LedgerParticipant } from '../usage/ports';
import type { WebhookOutbox } from './ports';
import { checkEventTypes, checkUrl } from './webhooks.input';
import { webhooksLedgerParticipant } from './webhooks.ledger';
import { DEFAULT_WEBHOOKS, type WebhookOptions } from './webhooks.options';
import { Outbox } from './webhooks.outbox';
import * as store from './webhooks.store';
import type { AttemptRow, DeliveryRow, EndpointRow } from './webhooks.types';
import { DeliveryWorker } from './webhooks.worker';

/** whsec_ and the base64 of 32 random bytes (Standard Webhooks' secret format). */
export const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

export interface DeliveryView extends DeliveryRow {
  endpoint: EndpointRow;
}

export class WebhooksService {
  readonly outbox: Outbox;
  readonly worker: DeliveryWorker;
  /** Registered with usage beside quota's: emits usage.reversed, wakes the worker after commits. */
  readonly ledgerParticipant: LedgerParticipant<unknown>;

  constructor(
    private readonly db: Database,
    private readonly tenants: Pick<TenantsService, 'exists'>,
    readonly options: WebhookOptions = DEFAULT_WEBHOOKS,
  ) {
    this.worker = new DeliveryWorker(db, options);
    this.outbox = new Outbox(() => this.worker.wake());
    this.ledgerParticipant = webhooksLedgerParticipant(this.outbox) as LedgerParticipant<unknown>;
  }

  /** The port other modules are given (never the service). */
  get port(): WebhookOutbox {
    return this.outbox;
  }

  async endpoints(s: TenantScope, tenantId: string | null | undefined): Promise<EndpointRow[]> {
    const tenant = tenantIn(s, tenantId, ['tenantId']);
    return store.endpointsOf(this.db, tenant);
  }

  async create(
    s: TenantScope,
    input: { tenantId?: string | null; url: string; eventTypes?: readonly string[] | null },
  ): Promise<{ endpoint: EndpointRow; secret: string }> {
    const tenantId = tenantIn(s, input.tenantId, ['input', 'tenantId']);
    const url = checkUrl(input.url, ['input', 'url']);
    const eventTypes = checkEventTypes(input.eventTypes ?? [], ['input', 'eventTypes']);
    if (!(await this.tenants.exists(tenantId))) throw notFound('tenant', ['input', 'tenantId']);
    const secret = newSecret();
    const endpoint = await store.insertEndpoint(this.db, { tenantId, url, eventTypes, secret });
    return { endpoint, secret };
  }

  async update(
    s: TenantScope,
    input: { id: string; url?: string | null; eventTypes?: readonly string[] | null; enabled?: boolean | null },
  ): Promise<EndpointRow> {
    const id = this.idOf(input.id, ['input', 'id']);
    const url = input.url == null ? null : checkUrl(input.url, ['input', 'url']);
    const eventTypes = input.eventTypes == null ? null : checkEventTypes(input.eventTypes, ['input', 'eventTypes']);
    const row = await store.updateEndpoint(this.db, id, ownerOf(s), {
      url,
      eventTypes,
      enabled: input.enabled ?? null,
    });
    if (!row) throw notFound('webhook endpoint', ['input', 'id']);
    return row;
  }

  async remove(s: TenantScope, idArg: string): Promise<boolean> {
    const id = this.idOf(idArg, ['id']);
    if (!(await store.deleteEndpoint(this.db, id, ownerOf(s)))) throw notFound('webhook endpoint', ['id']);
    return true;
  }

  async rotate(s: TenantScope, idArg: string): Promise<{ endpoint: EndpointRow; secret: string }> {
    const id = this.idOf(idArg, ['id']);
    const secret = newSecret();
    const endpoint = await store.setSecret(this.db, id, ownerOf(s), secret);
    if (!endpoint) throw notFound('webhook endpoint', ['id']);
    return { endpoint, secret };
  }

  async deliveries(s: TenantScope, args: { endpointId: string; first?: number | null; after?: string | null }) {
    const id = this.idOf(args.endpointId, ['endpointId']);
    const first = args.first ?? 50;
    const k = keyset(first, args.after);
    const endpoint = await store.endpointById(this.db, id, ownerOf(s));
    if (!endpoint) throw notFound('webhook endpoint', ['endpointId']);
    const rows = await store.deliveriesPage(this.db, id, k);
    return connection(
      rows.map((r): DeliveryView => ({ ...r, endpoint })),
      first,
      (r) => r.createdAt,
    );
  }

  async redeliver(s: TenantScope, idArg: string): Promise<DeliveryView> {
    const id = this.idOf(idArg, ['deliveryId'], 'webhook delivery');
    const row = await store.redeliver(this.db, id, ownerOf(s));
    if (!row) throw notFound('webhook delivery', ['deliveryId']);
    const endpoint = await store.endpointById(this.db, row.endpointId, null);
    if (!endpoint) throw notFound('webhook delivery', ['deliveryId']);
    this.worker.wake();
    return { ...row, endpoint };
  }

  /** Every attempt of each delivery, in order (the per-request loader's batch). */
  async attemptsOf(deliveryIds: readonly string[]): Promise<AttemptRow[][]> {
    const rows = await store.attemptsOf(this.db, deliveryIds);
    const by = new Map<string, AttemptRow[]>();
    for (const r of rows) {
      const list = by.get(r.deliveryId);
      if (list) list.push(r);
      else by.set(r.deliveryId, [r]);
    }
    return deliveryIds.map((id) => by.get(id) ?? []);
  }

  startWorker(): void {
    this.worker.start();
  }

  close(): Promise<void> {
    return this.worker.close();
  }

  private idOf(id: string, field: string[], what = 'webhook endpoint'): string {
    if (!isUuid(id)) throw notFound(what, field);
    return id;
  }
}
