// What the quota module publishes after commit (for subscribers on any instance), and its
// local events (for this process's metrics). QuotaNews is how its files tell both.
import type { LocalEvents } from '../../lib/events';
import type { OncePerTurn } from '../../lib/once-per-turn';
import { type Publisher, tenantChanges } from '../../pubsub';
import type { AlertRow } from './quota.types';

export type QuotaTopics = {
  /** A threshold crossed, stored once (by tenant). */
  'quota:alert': [tenantId: string, payload: AlertRow];
  /** Something that moves the tenant's quota committed: usage, a reservation, a release. */
  'quota:changed': [tenantId: string, payload: { tenantId: string }];
};

export type QuotaEvents = {
  /** One authorization decided, on this instance's lease (no lock) or on the locked path. */
  decision: [allowed: boolean, path: 'lease' | 'locked'];
  /** One lease renewal committed (seconds from its request). */
  renewal: [seconds: number];
  /** One statement of the fast path committed: how long it took, how many decisions it held. */
  leaseWrite: [seconds: number, decisions: number];
  /** Alerts stored by one committed write (each is also published). */
  alerts: [alerts: AlertRow[]];
};

export class QuotaNews {
  /** One 'quota:changed' per tenant per event-loop turn, however many writes told it (once-per-turn.ts). */
  private readonly changes: OncePerTurn;

  constructor(
    private readonly publisher: Publisher<QuotaTopics>,
    private readonly events: LocalEvents<QuotaEvents>,
  ) {
    this.changes = tenantChanges(publisher, 'quota:changed');
  }

  /** After commit: the tenants' quotas moved (published once per tenant per turn, where anyone may listen). */
  changed(tenantIds: Iterable<string>): void {
    this.changes.add(tenantIds);
  }

  alerts(alerts: AlertRow[]): void {
    if (!alerts.length) return;
    this.events.emit('alerts', alerts);
    for (const a of alerts) this.publisher.publish('quota:alert', a.tenantId, a);
  }

  decision(allowed: boolean, path: 'lease' | 'locked'): void {
    this.events.emit('decision', allowed, path);
  }

  renewal(seconds: number): void {
    this.events.emit('renewal', seconds);
  }

  leaseWrite(seconds: number, decisions: number): void {
    this.events.emit('leaseWrite', seconds, decisions);
  }
}
