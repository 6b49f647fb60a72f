// Live quota for subscribers. One computation per scope (tenant, key, subject) per process,
// shared by every subscriber of that scope, at most once per 250 ms, started by a
// 'quota:changed' event (published after commit), so each push carries the state after the
// change. One pub/sub subscription per tenant that has watchers.
import { Repeater } from 'graphql-yoga';
import type { TallyPubSub } from '../../pubsub';
import type { QuotaStatus } from './quota.types';

export const COALESCE_MS = 250;

interface Scope {
  tenantId: string;
  compute: () => Promise<QuotaStatus>;
  listeners: Set<(s: QuotaStatus) => void>;
  timer: NodeJS.Timeout | null;
  last: number;
}

export class QuotaFeed {
  private scopes = new Map<string, Scope>();
  private tenants = new Map<string, { keys: Set<string>; stop: () => void }>();

  constructor(private readonly pubsub: TallyPubSub) {}

  /** The current state at once, then the state after each change (coalesced). */
  watch(tenantId: string, scopeKey: string, compute: () => Promise<QuotaStatus>): Repeater<QuotaStatus> {
    const key = `${tenantId}|${scopeKey}`;
    return new Repeater<QuotaStatus>(async (push, stop) => {
      const scope = this.scopes.get(key) ?? { tenantId, compute, listeners: new Set(), timer: null, last: 0 };
      this.scopes.set(key, scope);
      const listener = (s: QuotaStatus) => void push(s);
      scope.listeners.add(listener);
      this.follow(tenantId, key);
      try {
        await push(await compute());
      } catch (err) {
        stop(err);
      }
      await stop;
      scope.listeners.delete(listener);
      if (scope.listeners.size === 0) {
        if (scope.timer) clearTimeout(scope.timer);
        this.scopes.delete(key);
        this.unfollow(tenantId, key);
      }
    });
  }

  private follow(tenantId: string, key: string) {
    const t = this.tenants.get(tenantId);
    if (t) {
      t.keys.add(key);
      return;
    }
    const iterator = this.pubsub.subscribe('quota:changed', tenantId)[Symbol.asyncIterator]();
    const entry = { keys: new Set([key]), stop: () => void iterator.return?.() };
    this.tenants.set(tenantId, entry);
    void (async () => {
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        for (const k of entry.keys) this.schedule(k);
      }
    })();
  }

  private unfollow(tenantId: string, key: string) {
    const t = this.tenants.get(tenantId);
    if (!t) return;
    t.keys.delete(key);
    if (t.keys.size === 0) {
      t.stop();
      this.tenants.delete(tenantId);
    }
  }

  private schedule(key: string) {
    const scope = this.scopes.get(key);
    if (!scope || scope.timer) return;
    const delay = Math.max(0, scope.last + COALESCE_MS - Date.now());
    scope.timer = setTimeout(async () => {
      // A change during the computation schedules the next push (the state after it).
      scope.timer = null;
      scope.last = Date.now();
      try {
        const status = await scope.compute();
        for (const l of scope.listeners) l(status);
      } catch {
        // the next change retries; a transient database error must not end subscriptions
      }
    }, delay);
  }
}
