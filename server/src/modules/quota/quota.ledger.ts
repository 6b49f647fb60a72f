// Quota's part in ledger writes (usage's LedgerParticipant port, registered in services.ts):
// for tenants with thresholded limits, take the tenant lock first (so authorizations see
// the write whole) and store the thresholds the new entries crossed; claim and settle the
// reservations entries name; after commit, tell subscribers which tenants' quota moved and
// which alerts were stored. Reversals reach it too: they take the lock, and store no alert
// (an entry that lowers usage cannot cross a threshold upward).
import type { LedgerParticipant } from '../usage/ports';
import type { QuotaAlerts, WritePlan } from './quota.alerts';
import type { QuotaAuthorizer } from './quota.authorizer';
import { lockTenants } from './quota.store';
import type { QuotaNews } from './quota.topics';
import type { AlertRow } from './quota.types';

interface QuotaWrite {
  plan: WritePlan;
  /** The alerts this write stored (set in the transaction, published after commit). */
  stored: AlertRow[];
}

export function quotaLedgerParticipant(
  alerts: QuotaAlerts,
  authorizer: QuotaAuthorizer,
  news: QuotaNews,
): LedgerParticipant<QuotaWrite> {
  return {
    async prepare(write) {
      const plan = await alerts.planWrite(write.tenantIds, write.at);
      return plan && { plan, stored: [] };
    },
    lock: (tx, s) => lockTenants(tx, s.plan.lock),
    async created(tx, s, rows) {
      const raising = rows.filter((r) => r.reversesId == null);
      s.stored = raising.length ? await alerts.recordAlerts(tx, s.plan, raising) : [];
    },
    committed(s, { created, reservationTenants }) {
      if (s) news.alerts(s.stored);
      news.changed(new Set([...created.map((e) => e.tenantId), ...reservationTenants]));
    },
    reservations: {
      lock: (tx, ids, at) => authorizer.lockReservations(tx, ids, at),
      settle: (tx, pairs, at) => authorizer.settleReservations(tx, pairs, at),
    },
  };
}
