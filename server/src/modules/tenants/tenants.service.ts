// Tenants: the unit of isolation. Owns the tenants table. Creating a tenant also creates
// its first ADMIN key in the same transaction, so a tenant never exists without a way in.
// A tenant is billed in one currency, set at creation and never changed (the database
// refuses a change once the tenant has ledger entries), so it is cached here for good.

import { OPERATOR } from '../../auth/scope';
import type { Database, Sql } from '../../db/database';
import type { TenantRow } from '../../db/entities';
import { badInput, containsNul, notFound } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { clip } from '../../lib/input';
import { connection, keyset } from '../../lib/keyset';
import { CURRENCY_RE } from '../../lib/money';
import type { ApiKeysService, NewApiKey } from '../api-keys/api-keys.service';
import * as store from './tenants.store';

/** How often, at most, a zone name not in the list read makes it read again. */
export const ZONES_REREAD_MS = 60_000;

export class TenantsService {
  /** tenant id -> currency, for tenants this process has read (a currency never changes). */
  private readonly currencyCache = new Map<string, string>();

  constructor(
    private readonly db: Database,
    private readonly apiKeys: ApiKeysService,
    /** Starts a membership inside createTenant's transaction (the quota module's, given at wiring). */
    private readonly assignPlan: (tx: Sql, tenantId: string, planCode: string) => Promise<unknown>,
  ) {}

  /** Operator only (the field's authScopes). */
  async create(input: {
    name: string;
    timezone?: string | null;
    planCode?: string | null;
    currency?: string | null;
  }): Promise<NewApiKey> {
    const name = input.name.trim();
    if (name.length < 1 || name.length > 200 || containsNul(name))
      throw badInput(['input', 'name'], 'must be 1 to 200 characters, without NUL');
    const timezone = input.timezone ?? 'UTC';
    if (!(await this.isZone(timezone)))
      throw badInput(['input', 'timezone'], `"${clip(timezone)}" is not an IANA time zone (e.g. Europe/Berlin)`);
    const currency = input.currency ?? 'USD';
    if (!CURRENCY_RE.test(currency))
      throw badInput(['input', 'currency'], 'must be a 3-letter ISO 4217 code such as USD');
    return this.db.transaction('createTenant', async (tx) => {
      const tenant = await store.insertTenant(tx, { name, timezone, currency });
      if (input.planCode) await this.assignPlan(tx, tenant.id, input.planCode);
      return this.apiKeys.create(OPERATOR, { tenantId: tenant.id, name: 'admin', scopes: ['ADMIN'] }, tx);
    });
  }

  /** Operator only (the field's authScopes): every tenant, newest first, a page at a time. */
  async page(first: number, after: string | null | undefined) {
    const rows = await store.tenantsPage(this.db, keyset(first, after));
    return connection(rows, first, (t) => t.createdAt);
  }

  /**
   * PostgreSQL does the calendar math, so its zone database is the one that decides. Its list
   * is read once (reading it costs 30 to 60 ms of PostgreSQL, every time); a name not in it is
   * looked up again in a fresh list at most once a ZONES_REREAD_MS, so a zone a tzdata update
   * added is seen without a restart, and unknown names cannot make it read the list each time.
   */
  async isZone(zone: string): Promise<boolean> {
    if (zone.length > 64 || containsNul(zone)) return false;
    if ((await this.zoneNames(false)).has(zone)) return true;
    return (await this.zoneNames(true)).has(zone);
  }

  private zones: { names: Promise<Set<string>>; at: number } | null = null;

  private zoneNames(fresh: boolean): Promise<Set<string>> {
    const now = performance.now();
    if (!this.zones || (fresh && now - this.zones.at >= ZONES_REREAD_MS)) {
      const names = store.zoneNames(this.db).then((l) => new Set(l));
      const zones = { names, at: now };
      this.zones = zones;
      // A failed read is not kept: the next creation reads again.
      names.catch(() => {
        if (this.zones === zones) this.zones = null;
      });
    }
    return this.zones.names;
  }

  async byIds(ids: readonly string[]): Promise<TenantRow[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return [];
    const rows = await store.tenantsByIds(this.db, valid);
    for (const t of rows) this.currencyCache.set(t.id, t.currency);
    return rows;
  }

  /** The billing currency of each tenant found (missing ids are absent); reads only tenants not seen before. */
  async currencies(ids: readonly string[]): Promise<Map<string, string>> {
    const missing = [...new Set(ids)].filter((id) => !this.currencyCache.has(id));
    if (missing.length) await this.byIds(missing);
    const out = new Map<string, string>();
    for (const id of ids) {
      const c = this.currencyCache.get(id);
      if (c) out.set(id, c);
    }
    return out;
  }

  /** Whether a tenant exists (a tenant is never deleted once it has usage; one read is enough). */
  async exists(id: string): Promise<boolean> {
    if (this.currencyCache.has(id)) return true;
    return (await this.byIds([id])).length > 0;
  }

  async get(id: string, field: string[] = ['id']): Promise<TenantRow> {
    const [row] = await this.byIds([id]);
    if (!row) throw notFound('tenant', field);
    return row;
  }
}
