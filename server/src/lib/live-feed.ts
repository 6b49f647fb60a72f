// A live view per scope for subscriptions (quotaUpdated, walletUpdated): the current state at
// once, then the state after each change. One computation per scope (a string key inside one
// tenant) per process, shared by every watcher of that scope, at most once per COALESCE_MS,
// started by a change event of its tenant (published after commit), so each push carries the
// state after the change. One change subscription per tenant that has watchers.
import { Repeater } from 'graphql-yoga';

export const COALESCE_MS = 250;

interface Scope<T> {
  compute: () => Promise<T>;
  /** The first state being computed for new watchers, shared by all who arrive meanwhile. */
  initial: { changes: number; status: Promise<T> } | null;
  listeners: Set<(s: T) => void>;
  timer: NodeJS.Timeout | null;
  /** When the last push went out: the next starts no sooner than COALESCE_MS after it. */
  last: number;
  /** A push is being computed; a change meanwhile is pushed after it, spaced from it. */
  computing: boolean;
  pending: boolean;
}

export class LiveFeed<T> {
  private scopes = new Map<string, Scope<T>>();
  private tenants = new Map<string, { keys: Set<string>; stop: () => void }>();
  /** Change events received so far (any tenant). */
  private changes = 0;

  constructor(
    /** A tenant's change events (published after commit), each a reason to recompute its watched scopes. */
    private readonly changesOf: (tenantId: string) => AsyncIterable<unknown>,
  ) {}

  /** The current state at once, then the state after each change (coalesced). */
  watch(tenantId: string, scopeKey: string, compute: () => Promise<T>): Repeater<T> {
    const key = `${tenantId}|${scopeKey}`;
    return new Repeater<T>(async (push, stop) => {
      const scope: Scope<T> = this.scopes.get(key) ?? {
        compute,
        initial: null,
        listeners: new Set(),
        timer: null,
        last: 0,
        computing: false,
        pending: false,
      };
      this.scopes.set(key, scope);
      // Set once a state computed after a change reached this watcher: an initial state that
      // resolves later is older and is not pushed after it.
      let fresh = false;
      const listener = (s: T) => {
        fresh = true;
        void push(s);
      };
      scope.listeners.add(listener);
      this.follow(tenantId, key);
      try {
        // Watchers arriving together (a dashboard's tabs, a reconnecting fleet) share one
        // computation. If a change arrived since it started, it may predate that change:
        // a fresh push follows for every watcher of the scope.
        let initial = scope.initial;
        if (!initial) {
          const started = { changes: this.changes, status: compute() };
          scope.initial = started;
          void started.status
            .finally(() => {
              if (scope.initial === started) scope.initial = null;
            })
            .catch(() => {});
          initial = started;
        }
        const status = await initial.status;
        if (!fresh) {
          await push(status);
          if (this.changes !== initial.changes) this.schedule(key);
        }
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
    const iterator = this.changesOf(tenantId)[Symbol.asyncIterator]();
    const entry = { keys: new Set([key]), stop: () => void iterator.return?.() };
    this.tenants.set(tenantId, entry);
    void (async () => {
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        this.changes++;
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
    if (scope.computing) {
      scope.pending = true;
      return;
    }
    // Spaced from the previous push's delivery, not its start: a slow computation must not
    // bring two pushes closer than COALESCE_MS.
    const delay = Math.max(0, scope.last + COALESCE_MS - Date.now());
    scope.timer = setTimeout(async () => {
      // A change during the computation schedules the next push (the state after it).
      scope.timer = null;
      scope.computing = true;
      try {
        const status = await scope.compute();
        for (const l of scope.listeners) l(status);
      } catch {
        // the next change retries; a transient database error must not end subscriptions
      } finally {
        scope.computing = false;
        scope.last = Date.now();
        if (scope.pending) {
          scope.pending = false;
          this.schedule(key);
        }
      }
    }, delay);
  }
}
