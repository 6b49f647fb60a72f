// Quota: the module's face to the rest of the server, one job per file behind it:
//   quota.plans.ts      plans and their limits, memberships (a tenant's, a subject's), per-key limits
//   quota.status.ts     windows, used, reserved, computeStatuses, who may see which scope
//   quota.authorizer.ts authorizeUsage and releaseReservation, reservations
//   quota.leases.ts     this instance's leases of headroom: the fast path (quota.lease-round.ts:
//                       their part in the locked path; quota.leases-store.ts: their SQL)
//   quota.alerts.ts     threshold alerts (computed in the usage writer's transaction)
//   quota.ledger.ts     quota's part in ledger writes (usage's LedgerParticipant port)
//   quota.store.ts      every statement the module runs, named
//   quota.input.ts      its input checks
//
// Concurrency: every decision that depends on "used + reserved" for a tenant runs under a
// transaction-scoped advisory lock on that tenant: authorizations, and the recording of
// usage for tenants that have limits (the usage writer takes it first, then computes alerts
// in the same transaction). After the lock, READ COMMITTED statements see every earlier
// holder's committed rows, so N concurrent authorizations on any number of instances admit
// exactly as many as fit, and each threshold crossing is seen by exactly one writer; the
// unique key on quota_alerts makes a second insert impossible anyway.
import type { Database } from '../../db/database';
import { LocalEvents } from '../../lib/events';
import type { Publisher } from '../../pubsub';
import type { TenantsService } from '../tenants/tenants.service';
import type { LedgerParticipant, UsageReader } from '../usage/ports';
import type { WebhookOutbox } from '../webhooks/ports';
import { QuotaAlerts } from './quota.alerts';
import { QuotaAuthorizer } from './quota.authorizer';
import { DEFAULT_LEASES, type LeaseOptions } from './quota.leases';
import { quotaLedgerParticipant } from './quota.ledger';
import { QuotaPlans } from './quota.plans';
import { type KeyOwners, QuotaStatuses } from './quota.status';
import { type QuotaEvents, QuotaNews, type QuotaTopics } from './quota.topics';

export class QuotaService {
  /** Local events for metrics: 'decision' per authorization, 'alerts' after commit (quota.topics.ts). */
  readonly emitter = new LocalEvents<QuotaEvents>();
  readonly plan: QuotaPlans;
  readonly statuses: QuotaStatuses;
  readonly authorization: QuotaAuthorizer;
  readonly alerting: QuotaAlerts;
  /** What quota does inside ledger writes; the composition root registers it with usage. */
  readonly ledgerParticipant: LedgerParticipant<unknown>;

  /** `keys` checks key ids (the api-keys module owns them); `usage` says what was used. */
  constructor(
    db: Database,
    tenants: TenantsService,
    keys: KeyOwners,
    usage: UsageReader,
    publisher: Publisher<QuotaTopics>,
    now: () => Date,
    leases: LeaseOptions = DEFAULT_LEASES,
    /** Where a new alert's quota.threshold_crossed goes, in the transaction that stores the alert. */
    outbox?: WebhookOutbox,
  ) {
    const news = new QuotaNews(publisher, this.emitter);
    this.plan = new QuotaPlans(db, tenants, keys, now);
    this.statuses = new QuotaStatuses(db, tenants, keys, usage, now);
    this.authorization = new QuotaAuthorizer(db, tenants, this.statuses, keys, news, now, leases);
    this.alerting = new QuotaAlerts(db, this.statuses, outbox);
    this.ledgerParticipant = quotaLedgerParticipant(this.alerting, this.authorization, news);
  }

  /** Concurrent authorizations, decided in shared transactions (its queue is measured). */
  get authorizer() {
    return this.authorization.committer;
  }

  /** This instance's leases of headroom (quota.leases.ts): closed after the authorizer, giving them back. */
  get leases() {
    return this.authorization.leases;
  }

  // The verbs the schema and the usage writer call, each answered by the file that owns it.
  upsertPlan: QuotaPlans['upsertPlan'] = (...a) => this.plan.upsertPlan(...a);
  plans: QuotaPlans['plans'] = (...a) => this.plan.plans(...a);
  plansByIds: QuotaPlans['plansByIds'] = (...a) => this.plan.plansByIds(...a);
  limitsByIds: QuotaPlans['limitsByIds'] = (...a) => this.plan.limitsByIds(...a);
  limitsOf: QuotaPlans['limitsOf'] = (...a) => this.plan.limitsOf(...a);
  assignPlan: QuotaPlans['assignPlan'] = (...a) => this.plan.assignPlan(...a);
  assignIn: QuotaPlans['assignIn'] = (...a) => this.plan.assignIn(...a);
  membershipAt: QuotaPlans['membershipAt'] = (...a) => this.plan.membershipAt(...a);
  subjectMemberships: QuotaPlans['subjectMemberships'] = (...a) => this.plan.subjectMemberships(...a);
  setApiKeyLimits: QuotaPlans['setApiKeyLimits'] = (...a) => this.plan.setApiKeyLimits(...a);
  scopeFor: QuotaStatuses['scopeFor'] = (...a) => this.statuses.scopeFor(...a);
  tenantScope: QuotaStatuses['tenantScope'] = (...a) => this.statuses.tenantScope(...a);
  status: QuotaStatuses['status'] = (...a) => this.statuses.status(...a);
  authorize: QuotaAuthorizer['authorize'] = (...a) => this.authorization.authorize(...a);
  release: QuotaAuthorizer['release'] = (...a) => this.authorization.release(...a);
  pruneReservations: QuotaAuthorizer['pruneReservations'] = (...a) => this.authorization.pruneReservations(...a);
  alerts: QuotaAlerts['alerts'] = (...a) => this.alerting.alerts(...a);
}
