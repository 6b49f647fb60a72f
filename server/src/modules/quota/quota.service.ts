// Quota: the module's face to the rest of the server, one job per file behind it:
//   quota.plans.ts      plans and their limits, memberships, per-key limits
//   quota.status.ts     windows, used, reserved, computeStatus, who may see which scope
//   quota.authorizer.ts authorizeUsage and releaseReservation, reservations
//   quota.alerts.ts     threshold alerts (computed in the usage writer's transaction)
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
import { EventEmitter } from 'node:events';
import type { Database } from '../../db/database';
import type { TenantsService } from '../tenants/tenants.service';
import { QuotaAlerts } from './quota.alerts';
import { QuotaAuthorizer } from './quota.authorizer';
import { QuotaPlans } from './quota.plans';
import { QuotaStatuses } from './quota.status';

export { lockTenants } from './quota.store';

export class QuotaService {
  /** Emits 'changed' (tenant ids) after a committed reservation or release; 'decision' (allowed) per authorization. */
  readonly emitter = new EventEmitter();
  readonly plan: QuotaPlans;
  readonly statuses: QuotaStatuses;
  readonly authorization: QuotaAuthorizer;
  readonly alerting: QuotaAlerts;

  constructor(db: Database, tenants: TenantsService, now: () => Date) {
    this.plan = new QuotaPlans(db, tenants, now);
    this.statuses = new QuotaStatuses(db, tenants, now);
    this.authorization = new QuotaAuthorizer(db, tenants, this.statuses, this.emitter, now);
    this.alerting = new QuotaAlerts(db, this.statuses);
  }

  /** Concurrent authorizations, decided in shared transactions (its queue is measured). */
  get authorizer() {
    return this.authorization.committer;
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
  setApiKeyLimits: QuotaPlans['setApiKeyLimits'] = (...a) => this.plan.setApiKeyLimits(...a);
  scopeFor: QuotaStatuses['scopeFor'] = (...a) => this.statuses.scopeFor(...a);
  status: QuotaStatuses['status'] = (...a) => this.statuses.status(...a);
  authorize: QuotaAuthorizer['authorize'] = (...a) => this.authorization.authorize(...a);
  release: QuotaAuthorizer['release'] = (...a) => this.authorization.release(...a);
  lockReservations: QuotaAuthorizer['lockReservations'] = (...a) => this.authorization.lockReservations(...a);
  settleReservations: QuotaAuthorizer['settleReservations'] = (...a) => this.authorization.settleReservations(...a);
  planWrite: QuotaAlerts['planWrite'] = (...a) => this.alerting.planWrite(...a);
  recordAlerts: QuotaAlerts['recordAlerts'] = (...a) => this.alerting.recordAlerts(...a);
  alerts: QuotaAlerts['alerts'] = (...a) => this.alerting.alerts(...a);
}
