// Who to tell when an API key is revoked. One pub/sub subscription per key that has
// watchers in this process (its open sockets and SSE subscriptions), however many there are:
// thousands of subscribers of one key cost one listener, not thousands.
import type { TallyPubSub } from './pubsub';

export class Revocations {
  private watchers = new Map<string, { callbacks: Set<() => void>; stop: () => void }>();

  constructor(private readonly pubsub: TallyPubSub) {}

  /** Calls `onRevoked` once if `keyId` is revoked (on any instance); returns the unwatch. */
  watch(keyId: string, onRevoked: () => void): () => void {
    let entry = this.watchers.get(keyId);
    if (!entry) {
      const iterator = this.pubsub.subscribe('key:revoked', keyId)[Symbol.asyncIterator]();
      const callbacks = new Set<() => void>();
      entry = { callbacks, stop: () => void iterator.return?.() };
      this.watchers.set(keyId, entry);
      void iterator.next().then((r) => {
        if (r.done) return;
        this.watchers.delete(keyId);
        void iterator.return?.();
        for (const cb of callbacks) cb();
      });
    }
    const { callbacks } = entry;
    let active = true;
    const callback = () => {
      if (active) {
        active = false;
        onRevoked();
      }
    };
    callbacks.add(callback);
    return () => {
      active = false;
      callbacks.delete(callback);
      const current = this.watchers.get(keyId);
      if (current?.callbacks === callbacks && callbacks.size === 0) {
        current.stop();
        this.watchers.delete(keyId);
      }
    };
  }

  /** Keys with watchers (for tests and metrics). */
  get size(): number {
    return this.watchers.size;
  }
}
