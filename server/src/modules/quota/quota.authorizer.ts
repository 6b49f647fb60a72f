// Authorizations: "may this call go ahead", optionally reserving its estimate until the
// entry that settles it is recorded (or the reservation is released or expires).
// A call first tries this instance's leases of headroom (quota.leases.ts: no lock, one shared
// statement per flush). Otherwise the decision on used + reserved + leased takes the tenant's
// advisory lock, so concurrent authorizations on any number of instances admit exactly as
// many as fit. One process decides those calls in shared transactions (the group committer),
// admitting them in turn against the reservations of the calls before them; the same
// transactions renew this instance's leases (quota.lease-round.ts).
import { ownerOf, type TenantScope, tenantIn } from '../../auth/scope';
import type { Database, Sql } from '../../db/database';
import { inBatches } from '../../lib/batches';
import { AppError, notFound } from '../../lib/errors';
import { isUuid, uuidV7, uuidV7Floor } from '../../lib/ids';
import { Dec, fmt, ZERO } from '../../lib/money';
import type { TenantsService } from '../tenants/tenants.service';
import { DEFAULT_GROUP_COMMIT, GroupCommitter } from '../usage/group-commit';
import type { ReservationState } from '../usage/ports';
import type { WalletGate } from './ports';
import * as check from './quota.input';
import { scopeKeyOf } from './quota.lease-keys';
import { judge, LeaseRound } from './quota.lease-round';
import { DEFAULT_LEASES, type Decision, type LeaseCall, type LeaseOptions, QuotaLeases } from './quota.leases';
import { type KeyOwners, type QuotaStatuses, reservedOf } from './quota.status';
import * as store from './quota.store';
import type { QuotaNews } from './quota.topics';
import type { Estimate, QuotaItem, QuotaStatus } from './quota.types';

/** One authorizeUsage call, checked and on its way to the authorizer (or a lease renewal). */
type AuthorizeCall = LeaseCall;

/** A decision, whichever path made it (the fast path's and the locked path's are one shape). */
export type AuthorizeDecision = Decision;

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

/** The model an estimate's tokens are priced at for a wallet (none: its cost as given). */
const modelOf = (e: Estimate) => (e.model ? { provider: e.provider ?? null, model: e.model.slice(0, 200) } : null);

export class QuotaAuthorizer {
  /**
   * Concurrent authorizations are decided in shared transactions (as recordUsage calls are
   * written): one tenant lock and one status computation per scope serve every call of a
   * flush, admitted one after another in memory, and their reservations go in as one INSERT.
   */
  readonly committer: GroupCommitter<AuthorizeCall, AuthorizeDecision>;
  /**
   * Lease renewals, decided like calls but in transactions of their own: a few scopes each,
   * several at once, so a wave of renewals of many tenants runs over several connections
   * instead of queueing behind (and delaying) the calls' flushes.
   */
  readonly renewals: GroupCommitter<AuthorizeCall, AuthorizeDecision>;
  /** This instance's leases of headroom: the fast path. */
  readonly leases: QuotaLeases;
  /** The money gate (credits), set once by the composition root; null: none. */
  wallets: WalletGate | null = null;

  constructor(
    private readonly db: Database,
    private readonly tenants: TenantsService,
    private readonly statuses: QuotaStatuses,
    private readonly keys: KeyOwners,
    private readonly news: QuotaNews,
    private readonly now: () => Date,
    leaseOptions: LeaseOptions = DEFAULT_LEASES,
  ) {
    this.committer = new GroupCommitter((calls) => this.decide(calls), { ...DEFAULT_GROUP_COMMIT, maxItems: 500 });
    this.renewals = new GroupCommitter((calls) => this.decide(calls), {
      ...DEFAULT_GROUP_COMMIT,
      maxItems: 8,
      maxConcurrent: 4,
    });
    this.leases = new QuotaLeases(db, leaseOptions, now, async (c) => {
      const t = performance.now();
      await this.renewals.submit([c]);
      news.renewal((performance.now() - t) / 1000);
    });
    this.leases.fast.onWrite = (seconds, n) => news.leaseWrite(seconds, n);
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
    const tenant = this.leases.tenant(tenantId) ?? (await this.tenants.get(tenantId, ['input', 'tenantId']));
    const apiKeyId = input.apiKeyId ?? p.keyId ?? null;
    if (apiKeyId && apiKeyId !== p.keyId) {
      if (!(await this.keys.ownerOf(apiKeyId, tenantId))) throw notFound('API key', ['input', 'apiKeyId']);
    }
    const subject = check.subject(input.subject, ['input', 'subject']);
    const seconds = check.reserveSeconds(input.reserveSeconds, ['input', 'reserveSeconds']);
    const est = check.estimate(input.estimate, ['input', 'estimate']);

    // Which path decided the quota part: a lease of this instance, or the tenant's lock.
    let path: 'lease' | 'locked' = 'locked';
    const decideQuota = async () => {
      const quick = await this.leases.admit({ tenantId, apiKeyId, subject, est, seconds });
      if (quick) path = 'lease';
      return (
        quick ?? ((await this.committer.submit([{ tenant, apiKeyId, subject, est, seconds }]))[0] as AuthorizeDecision)
      );
    };
    // Money gates too when a wallet pays (credits, through quota's WalletGate port): it runs
    // this decision, then checks and holds the estimate against the wallet, undoing the
    // reservation of a call the wallet denies.
    const decision: AuthorizeDecision & { wallet?: unknown } = this.wallets
      ? await this.wallets.authorize(
          { tenantId, subject, est, model: modelOf(input.estimate) },
          decideQuota,
          async (id) => {
            await store.releaseReservation(this.db, id, tenantId, this.now());
          },
        )
      : await decideQuota();
    this.news.decision(decision.allowed, path);
    if (decision.reservation) this.news.changed([tenantId]);
    return decision;
  }

  /**
   * One flush of the locked path, in one transaction: the calls' decisions (taking back other
   * instances' slices when they are what stands in the way), their reservations in one
   * INSERT, and this instance's renewed slices.
   */
  private async decide(calls: AuthorizeCall[]): Promise<AuthorizeDecision[]> {
    const now = this.now();
    const round = await LeaseRound.begin(this.leases, calls, now);
    try {
      const out = await this.db.transaction('authorizeUsage', async (tx) => {
        await store.lockTenants(
          tx,
          calls.map((c) => c.tenant.id),
        );
        await round.enter(tx);
        let flush = await this.pass(tx, calls, now, round);
        // Calls that fit but for other instances' slices take them back, and the flush is
        // decided again on fresh reserved sums (a slice given meanwhile is a reservation now).
        for (let again = 0; again < 3 && flush.reclaim.length; again++) {
          await round.reclaim(tx, flush.reclaim);
          flush = await this.pass(tx, calls, now, round);
        }
        const { decisions, reserve, statusOf } = flush;
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
        await round.grant(
          tx,
          calls.map((call) => ({ call, status: statusOf(call) })),
        );
        return decisions;
      });
      round.committed();
      return out;
    } catch (err) {
      round.failed();
      throw err;
    }
  }

  /**
   * Decides a flush of authorizations under their tenants' locks. Each call sees the state
   * its predecessors in the flush left: their reservations are added to the statuses whose
   * scope holds them, exactly as the reserved sums of a later transaction would count them.
   * Besides used and reserved, a decision counts what live leases hold (round.heldFor).
   */
  private async pass(tx: Sql, calls: AuthorizeCall[], now: Date, round: LeaseRound) {
    // Every status of the flush is computed (in one round of statements) before any call is
    // admitted, so the shared reserved sums are all from before the flush; admissions are
    // added by withReservation.
    const keyOf = (c: AuthorizeCall) => scopeKeyOf(c.tenant.id, c.apiKeyId, c.subject);
    const computed = await this.statuses.computeStatuses(tx, calls, now);
    const statuses = new Map(calls.map((c, i) => [keyOf(c), computed[i] as QuotaStatus]));

    const reserve: { call: AuthorizeCall; id: string }[] = [];
    const reclaim = new Map<string, { tenantId: string; item: QuotaItem }>();
    const decisions = calls.map((c): AuthorizeDecision => {
      const before = statuses.get(keyOf(c)) as QuotaStatus;
      const judged = judge(before, c, (i) => round.heldFor(c.tenant.id, i));
      for (const item of judged.reclaim)
        reclaim.set(`${c.tenant.id}|${item.limit.id}|${item.scopeId}`, { tenantId: c.tenant.id, item });
      const deniedBy = judged.deniedBy;
      if (deniedBy || c.seconds === 0) return { allowed: !deniedBy, deniedBy, reservation: null, quota: before };
      reserve.push({ call: c, id: uuidV7(now.getTime()) });
      // Later calls of the flush see this reservation wherever their scope holds it.
      for (const [k, st] of statuses) if (st.tenantId === c.tenant.id) statuses.set(k, withReservation(st, c));
      return { allowed: true, deniedBy: null, reservation: null, quota: statuses.get(keyOf(c)) as QuotaStatus };
    });
    const statusOf = (c: AuthorizeCall) => statuses.get(keyOf(c)) as QuotaStatus;
    return { decisions, reserve, statusOf, reclaim: round.fresh([...reclaim.values()]) };
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
    await this.wallets?.released(r.tenantId, id);
    this.news.changed([r.tenantId]);
    return { tenantId: r.tenantId, apiKeyId: r.apiKeyId, subject: r.subject };
  }

  /**
   * Deletes the reservations that expired more than `keepDays` ago, in batches; answers how
   * many. Any instance may run it at any time (app.ts does, hourly): a deleted reservation
   * had stopped counting days before, and `recordUsage` names it UNKNOWN from then on.
   */
  async pruneReservations(keepDays: number, batch = 5000): Promise<number> {
    const cutoff = this.now().getTime() - keepDays * 86_400_000;
    // Every reservation made before this had expired by the cutoff (its ids are UUIDv7).
    const madeBefore = uuidV7Floor(cutoff - check.MAX_RESERVE_SECONDS * 1000);
    // Ids from a day ahead on: no UUIDv7 made by a sane clock, so random (v4) ids of rows made
    // before reservation ids were time-ordered; expires_at says whether they are due.
    const notYetMade = uuidV7Floor(this.now().getTime() + 86_400_000);
    return inBatches(batch, (limit) =>
      store.pruneReservations(this.db, madeBefore, notYetMade, new Date(cutoff), limit),
    );
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
