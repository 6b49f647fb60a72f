// Authorizations: "may this call go ahead", optionally reserving its estimate until the
// entry that settles it is recorded (or the reservation is released or expires).
// Every decision on used + reserved takes the tenant's advisory lock, so concurrent
// authorizations on any number of instances admit exactly as many as fit. One process
// decides its concurrent calls in shared transactions (the group committer), admitting
// them in turn against the reservations of the calls before them.
import { randomUUID } from 'node:crypto';
import { ownerOf, type TenantScope, tenantIn } from '../../auth/scope';
import type { Database, Sql } from '../../db/database';
import type { TenantRow } from '../../db/entities';
import { AppError, notFound } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { Dec, fmt, ZERO } from '../../lib/money';
import type { TenantsService } from '../tenants/tenants.service';
import { DEFAULT_GROUP_COMMIT, GroupCommitter } from '../usage/group-commit';
import type { ReservationState } from '../usage/ports';
import * as check from './quota.input';
import { type KeyOwners, newStatusMemo, type QuotaStatuses, reservedOf } from './quota.status';
import * as store from './quota.store';
import type { QuotaNews } from './quota.topics';
import type { Estimate, QuotaItem, QuotaStatus, ReservationRow, ReservedAmounts } from './quota.types';

/** One authorizeUsage call, checked and on its way to the authorizer. */
interface AuthorizeCall {
  tenant: TenantRow;
  apiKeyId: string | null;
  subject: string | null;
  est: ReservedAmounts;
  seconds: number;
}

export interface AuthorizeDecision {
  allowed: boolean;
  deniedBy: QuotaItem | null;
  reservation: ReservationRow | null;
  quota: QuotaStatus;
}

/**
 * `status` with one more open reservation `r` of the same tenant, added to the items whose
 * reserved sum would count it (as reservedIn filters: an item counting a key counts its key's
 * reservations, one counting a subject its subject's, both: those of both, a tenant item all).
 */
function withReservation(status: QuotaStatus, r: AuthorizeCall): QuotaStatus {
  const holds = (i: QuotaItem) =>
    (!i.counts.apiKeyId || r.apiKeyId === i.counts.apiKeyId) && (!i.counts.subject || r.subject === i.counts.subject);
  const items = status.items.map((i) => {
    if (!holds(i)) return i;
    const reserved = new Dec(i.reserved).plus(reservedOf(r.est, i.limit.metric));
    const remaining = Dec.max(ZERO, new Dec(i.limit.amount).minus(i.used).minus(reserved));
    return { ...i, reserved: fmt(reserved), remaining: fmt(remaining) };
  });
  return { ...status, items };
}

export class QuotaAuthorizer {
  /**
   * Concurrent authorizations are decided in shared transactions (as recordUsage calls are
   * written): one tenant lock and one status computation per scope serve every call of a
   * flush, admitted one after another in memory, and their reservations go in as one INSERT.
   */
  readonly committer: GroupCommitter<AuthorizeCall, AuthorizeDecision>;

  constructor(
    private readonly db: Database,
    private readonly tenants: TenantsService,
    private readonly statuses: QuotaStatuses,
    private readonly keys: KeyOwners,
    private readonly news: QuotaNews,
    private readonly now: () => Date,
  ) {
    this.committer = new GroupCommitter((calls) => this.decide(calls), { ...DEFAULT_GROUP_COMMIT, maxItems: 500 });
  }

  /** INGEST (the field's authScopes). */
  async authorize(
    p: TenantScope,
    input: {
      tenantId?: string | null;
      apiKeyId?: string | null;
      subject?: string | null;
      estimate: Estimate;
      reserveSeconds?: number | null;
    },
  ) {
    const tenantId = tenantIn(p, input.tenantId, ['input', 'tenantId']);
    const tenant = await this.tenants.get(tenantId, ['input', 'tenantId']);
    const apiKeyId = input.apiKeyId ?? p.keyId ?? null;
    if (apiKeyId && apiKeyId !== p.keyId) {
      if (!(await this.keys.ownerOf(apiKeyId, tenantId))) throw notFound('API key', ['input', 'apiKeyId']);
    }
    const subject = check.subject(input.subject, ['input', 'subject']);
    const seconds = check.reserveSeconds(input.reserveSeconds, ['input', 'reserveSeconds']);
    const est = check.estimate(input.estimate, ['input', 'estimate']);

    const [out] = await this.committer.submit([{ tenant, apiKeyId, subject, est, seconds }]);
    const decision = out as AuthorizeDecision;
    this.news.decision(decision.allowed);
    if (decision.reservation) this.news.changed([tenantId]);
    return decision;
  }

  /**
   * Decides a flush of authorizations under their tenants' locks. Each call sees the state
   * its predecessors in the flush left: their reservations are added to the statuses whose
   * scope holds them, exactly as the reserved sums of a later transaction would count them.
   */
  private async decide(calls: AuthorizeCall[]): Promise<AuthorizeDecision[]> {
    const now = this.now();
    return this.db.transaction('authorizeUsage', async (tx) => {
      await store.lockTenants(
        tx,
        calls.map((c) => c.tenant.id),
      );
      const statuses = new Map<string, QuotaStatus>();
      // Every status of the flush is computed before any call is admitted, so the shared
      // reserved sums are all from before the flush; admissions are added by withReservation.
      const memo = newStatusMemo();
      // One statement per tenant and key reads the own plans of every subject of the flush.
      for (const c of calls)
        if (c.subject !== null) memo.subjects.set(c.tenant.id, [...(memo.subjects.get(c.tenant.id) ?? []), c.subject]);
      for (const [t, subjects] of memo.subjects) memo.subjects.set(t, [...new Set(subjects)].sort());
      const keyOf = (c: AuthorizeCall) => `${c.tenant.id}|${c.apiKeyId ?? ''}|${c.subject ?? '\u0000'}`;
      for (const c of calls)
        if (!statuses.has(keyOf(c)))
          statuses.set(keyOf(c), await this.statuses.computeStatus(tx, c.tenant, c.apiKeyId, c.subject, now, memo));

      const reserve: { call: AuthorizeCall; id: string }[] = [];
      const decisions = calls.map((c): AuthorizeDecision => {
        const before = statuses.get(keyOf(c)) as QuotaStatus;
        const deniedBy =
          before.items.find((i) => {
            if (i.limit.action !== 'BLOCK') return false;
            const total = new Dec(i.used).plus(i.reserved).plus(reservedOf(c.est, i.limit.metric));
            return i.exceeded || total.gt(i.limit.amount);
          }) ?? null;
        if (deniedBy || c.seconds === 0) return { allowed: !deniedBy, deniedBy, reservation: null, quota: before };
        reserve.push({ call: c, id: randomUUID() });
        // Later calls of the flush see this reservation wherever their scope holds it.
        for (const [k, st] of statuses) if (st.tenantId === c.tenant.id) statuses.set(k, withReservation(st, c));
        return { allowed: true, deniedBy: null, reservation: null, quota: statuses.get(keyOf(c)) as QuotaStatus };
      });
      if (reserve.length) {
        const rows = await store.insertReservations(
          tx,
          reserve.map(({ call: c, id }) => ({
            id,
            tenantId: c.tenant.id,
            apiKeyId: c.apiKeyId,
            subject: c.subject,
            est: c.est,
            expiresAt: new Date(now.getTime() + c.seconds * 1000),
          })),
        );
        const byId = new Map(rows.map((r) => [r.id, r]));
        let n = 0;
        decisions.forEach((d, i) => {
          if (d.allowed && (calls[i] as AuthorizeCall).seconds > 0)
            d.reservation = byId.get((reserve[n++] as { id: string }).id) ?? null;
        });
      }
      return decisions;
    });
  }

  /** INGEST (the field's authScopes). */
  async release(
    p: TenantScope,
    id: string,
  ): Promise<{ tenantId: string; apiKeyId: string | null; subject: string | null }> {
    const invalid = () =>
      new AppError('RESERVATION_INVALID', 'unknown, expired, settled or released reservation', ['id']);
    if (!isUuid(id)) throw invalid();
    const r = await store.releaseReservation(this.db, id, ownerOf(p), this.now());
    if (!r) throw invalid();
    this.news.changed([r.tenantId]);
    return { tenantId: r.tenantId, apiKeyId: r.apiKeyId, subject: r.subject };
  }

  /**
   * The reservations among `ids` that exist, whatever their state, locked for this
   * transaction (so one settles once, and a state read here holds until commit). The writer
   * settles the open ones and says of the others why nothing was settled.
   */
  async lockReservations(tx: Sql, ids: string[], now: Date): Promise<Map<string, ReservationState>> {
    if (!ids.length) return new Map();
    const rows = await store.lockReservations(tx, ids, now);
    return new Map(rows.map(({ id, ...r }) => [id, r]));
  }

  async settleReservations(tx: Sql, pairs: { reservationId: string; eventId: string }[], now: Date): Promise<void> {
    if (!pairs.length) return;
    await store.settleReservations(tx, pairs, now);
  }
}
