// Plans and their limits, memberships (a history per tenant) and a key's own limits.
// Limits are never edited in place: identical ones keep their id (so alert history keeps
// its limit), others are retired and new ones added.

import { ownerOf, subjectIn, type TenantScope, tenantIn } from '../../auth/scope';
import type { Database, Sql } from '../../db/database';
import { notFound } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { clip, namedSubject } from '../../lib/input';
import { connection, keyset } from '../../lib/keyset';
import { Dec } from '../../lib/money';
import type { TenantsService } from '../tenants/tenants.service';
import * as check from './quota.input';
import * as leaseStore from './quota.leases-store';
import type { KeyOwners } from './quota.status';
import * as store from './quota.store';
import type { LimitInput, LimitRow, MembershipRow, NewLimit, PlanRow } from './quota.types';

export class QuotaPlans {
  constructor(
    private readonly db: Database,
    private readonly tenants: TenantsService,
    private readonly keys: KeyOwners,
    private readonly now: () => Date,
  ) {}

  /** Keeps identical active limits (their ids, so alert history continues), adds new ones, retires the rest. */
  private async replaceLimits(
    tx: Sql,
    owner: { planId: string | null; apiKeyId: string | null; tenantId: string | null },
    wanted: NewLimit[],
  ): Promise<void> {
    const current = await store.activeLimitsForUpdate(tx, owner);
    const same = (a: LimitRow, b: NewLimit) =>
      a.metric === b.metric &&
      a.period === b.period &&
      a.scope === b.scope &&
      new Dec(a.amount).eq(b.amount) &&
      a.action === b.action &&
      a.thresholds.join() === b.thresholds.join();
    const kept = new Set<string>();
    for (const w of wanted) {
      const match = current.find((c) => !kept.has(c.id) && same(c, w));
      if (match) {
        kept.add(match.id);
        await store.repositionLimit(tx, match.id, w.position);
      } else await store.insertLimit(tx, owner, w);
    }
    const retire = current.filter((c) => !kept.has(c.id)).map((c) => c.id);
    if (retire.length) await store.retireLimits(tx, retire);
  }

  /** Operator only (the field's authScopes). */
  async upsertPlan(input: { code: string; name: string; limits: LimitInput[] }): Promise<PlanRow> {
    const code = check.planCode(input.code, ['input', 'code']);
    const name = check.planName(input.name, ['input', 'name']);
    const limits = check.limits(input.limits, ['input', 'limits'], false);
    return this.db.transaction('upsertPlan', async (tx) => {
      const plan = await store.upsertPlan(tx, code, name);
      await this.replaceLimits(tx, { planId: plan.id, apiKeyId: null, tenantId: null }, limits);
      // Leases granted on the old limits go (docs/authorize-leases.md).
      await leaseStore.forgetPlan(tx, plan.id);
      return plan;
    });
  }

  async plans(p: TenantScope): Promise<PlanRow[]> {
    if (p.operator) return store.allPlans(this.db);
    // A tenant sees the plan it is on; a subject token also its subject's own plan.
    const now = this.now();
    const [own, subject] = await Promise.all([
      this.membershipAt(p.tenantId, now),
      p.subject === null ? null : store.membershipAt(this.db, p.tenantId, now, p.subject),
    ]);
    const ids = [own?.planId, subject?.planId].filter((x): x is string => !!x);
    return ids.length ? this.plansByIds([...new Set(ids)]) : [];
  }

  plansByIds(ids: readonly string[]): Promise<PlanRow[]> {
    return store.plansByIds(this.db, ids);
  }

  limitsByIds(ids: readonly string[]): Promise<LimitRow[]> {
    return store.limitsByIds(this.db, ids.filter(isUuid));
  }

  /** Active limits per owner (plan ids and key ids), in one statement. */
  async limitsOf(owners: readonly string[]): Promise<Map<string, LimitRow[]>> {
    const rows = await store.limitsOfOwners(this.db, owners);
    const out = new Map<string, LimitRow[]>(owners.map((o) => [o, []]));
    for (const r of rows) out.get((r.planId ?? r.apiKeyId) as string)?.push(r);
    return out;
  }

  /** Operator only (the field's authScopes). With a subject, that subject's own plan. */
  async assignPlan(input: {
    tenantId: string;
    planCode: string;
    startsAt?: Date | null;
    subject?: string | null;
  }): Promise<MembershipRow> {
    const subject = namedSubject(input.subject, ['input', 'subject']);
    const tenant = await this.tenants.get(input.tenantId, ['input', 'tenantId']);
    return this.db.transaction('assignPlan', (tx) =>
      this.assignIn(tx, tenant.id, input.planCode, input.startsAt ?? this.now(), subject),
    );
  }

  /**
   * Starts a membership at `startsAt` (of the tenant, or of one of its subjects), ending the
   * one in force then. Used by createTenant too.
   */
  async assignIn(
    tx: Sql,
    tenantId: string,
    planCode: string,
    startsAt: Date,
    subject: string | null = null,
  ): Promise<MembershipRow> {
    const plan = await store.planByCode(tx, planCode);
    if (!plan) throw notFound(`plan "${clip(planCode)}"`, ['input', 'planCode']);
    await store.lockTenants(tx, [tenantId]);
    if (await store.membershipStartsAtOrAfter(tx, tenantId, subject, startsAt))
      throw check.badStart(['input', 'startsAt']);
    // Leases granted on the limits this replaces go (docs/authorize-leases.md).
    await leaseStore.forgetTenants(tx, [tenantId]);
    await store.endMembershipAt(tx, tenantId, subject, startsAt);
    return store.insertMembership(tx, { tenantId, planId: plan.id, subject, startsAt });
  }

  /** The tenant's own membership at `at`. */
  membershipAt(tenantId: string, at: Date, sql: Sql = this.db): Promise<MembershipRow | null> {
    return store.membershipAt(sql, tenantId, at);
  }

  /**
   * The tenant's subject memberships not ended now (in force or to come), newest start first;
   * a subject token sees only its own subject's (READ: the field's authScopes).
   */
  async subjectMemberships(
    p: TenantScope,
    tenantId: string,
    args: { subject?: string | null; first?: number | null; after?: string | null },
  ) {
    const t = tenantIn(p, tenantId, ['tenantId']);
    const subject = subjectIn(p, check.subject(args.subject, ['subject']), ['subject']);
    const first = args.first ?? 50;
    const rows = await store.subjectMembershipsPage(this.db, t, subject, this.now(), keyset(first, args.after));
    return connection(rows, first, (m) => m.startsAt);
  }

  /** Tenant ADMIN or operator (the field's authScopes). */
  async setApiKeyLimits(p: TenantScope, input: { apiKeyId: string; limits: LimitInput[] }) {
    const apiKeyId = check.keyId(input.apiKeyId, ['input', 'apiKeyId']);
    const limits = check.limits(input.limits, ['input', 'limits'], true);
    return this.db.transaction('setApiKeyLimits', async (tx) => {
      const key = await this.keys.ownerOf(apiKeyId, ownerOf(p), tx);
      if (!key) throw notFound('API key', ['input', 'apiKeyId']);
      await store.lockTenants(tx, [key.tenantId]);
      await this.replaceLimits(tx, { planId: null, apiKeyId: key.id, tenantId: key.tenantId }, limits);
      await leaseStore.forgetTenants(tx, [key.tenantId]);
      return key.id;
    });
  }
}
