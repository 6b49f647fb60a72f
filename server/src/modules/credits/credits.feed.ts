// Live wallets for walletUpdated: the current state at once, then one recomputation per
// watched wallet per process at most every 250 ms after a 'credits:changed' of its tenant
// (published after commit), shared by every watcher of that wallet, as quota.feed.ts does for
// quota. One pub/sub subscription per tenant that has watchers.
import type { PubSub } from 'graphql-yoga';
import { Repeater } from 'graphql-yoga';
import type { CreditsTopics } from './credits.topics';
import type { WalletView } from './credits.types';

export const COALESCE_MS = 250;

interface Watched {
  compute: () => Promise<WalletView>;
  listeners: Set<(w: WalletView) => void>;
  timer: NodeJS.Timeout | null;
  last: number;
  computing: boolean;
  pending: boolean;
}

export class WalletFeed {
  private watched = new Map<string, Watched>();
  private tenants = new Map<string, { keys: Set<string>; stop: () => void }>();

  constructor(private readonly pubsub: Pick<PubSub<CreditsTopics>, 'subscribe'>) {}

  watch(tenantId: string, subject: string | null, compute: () => Promise<WalletView>): Repeater<WalletView> {
    const key = JSON.stringify([tenantId, subject]);
    return new Repeater<WalletView>(async (push, stop) => {
      const w: Watched = this.watched.get(key) ?? {
        compute,
        listeners: new Set(),
        timer: null,
        last: 0,
        computing: false,
        pending: false,
      };
      this.watched.set(key, w);
      let fresh = false;
      const listener = (v: WalletView) => {
        fresh = true;
        void push(v);
      };
      w.listeners.add(listener);
      this.follow(tenantId, key);
      try {
        const first = await compute();
        if (!fresh) await push(first);
      } catch (err) {
        stop(err);
      }
      await stop;
      w.listeners.delete(listener);
      if (w.listeners.size === 0) {
        if (w.timer) clearTimeout(w.timer);
        this.watched.delete(key);
        const t = this.tenants.get(tenantId);
        t?.keys.delete(key);
        if (t && t.keys.size === 0) {
          t.stop();
          this.tenants.delete(tenantId);
        }
      }
    });
  }

  private follow(tenantId: string, key: string) {
    const t = this.tenants.get(tenantId);
    if (t) {
      t.keys.add(key);
      return;
    }
    const iterator = this.pubsub.subscribe('credits:changed', tenantId)[Symbol.asyncIterator]();
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

  private schedule(key: string) {
    const w = this.watched.get(key);
    if (!w || w.timer) return;
    if (w.computing) {
      w.pending = true;
      return;
    }
    w.timer = setTimeout(
      async () => {
        w.timer = null;
        w.computing = true;
        try {
          const v = await w.compute();
          for (const l of w.listeners) l(v);
        } catch {
          // the next change retries; a transient database error must not end subscriptions
        } finally {
          w.computing = false;
          w.last = Date.now();
          if (w.pending) {
            w.pending = false;
            this.schedule(key);
          }
        }
      },
      Math.max(0, w.last + COALESCE_MS - Date.now()),
    );
  }
}
