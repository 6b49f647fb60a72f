// Who to tell when an API key is revoked: this process's open sockets and SSE subscriptions
// of that key. Also who to tell when the server starts draining: every SSE stream ends then
// (its client gets `complete` and reconnects to another instance) instead of being cut when
// the grace period runs out. The app feeds it from the one `keys:revoked` pub/sub subscription it holds
// anyway (for the authentication cache), so thousands of subscribers cost no listener each.
export class Revocations {
  private watchers = new Map<string, Set<() => void>>();
  private drainWatchers = new Set<() => void>();

  /** Calls `onDrain` once when a server of this app starts draining; returns the unwatch. */
  watchDrain(onDrain: () => void): () => void {
    this.drainWatchers.add(onDrain);
    return () => void this.drainWatchers.delete(onDrain);
  }

  /**
   * Shutdown began: every stream watching the drain ends now. Not sticky: a draining server
   * takes no new connections, and an app may be served again (tests restart servers).
   */
  drain() {
    const callbacks = [...this.drainWatchers];
    this.drainWatchers.clear();
    for (const cb of callbacks) cb();
  }

  /** Calls `onRevoked` once if `keyId` is revoked (on any instance); returns the unwatch. */
  watch(keyId: string, onRevoked: () => void): () => void {
    let callbacks = this.watchers.get(keyId);
    if (!callbacks) {
      callbacks = new Set();
      this.watchers.set(keyId, callbacks);
    }
    const set = callbacks;
    set.add(onRevoked);
    return () => {
      set.delete(onRevoked);
      if (set.size === 0 && this.watchers.get(keyId) === set) this.watchers.delete(keyId);
    };
  }

  /** A revocation arrived: every watcher of the key is told once, and forgotten. */
  revoked(keyId: string) {
    const callbacks = this.watchers.get(keyId);
    if (!callbacks) return;
    this.watchers.delete(keyId);
    for (const cb of callbacks) cb();
  }

  /** The keys of this process's open streams (for the periodic re-check). */
  keys(): string[] {
    return [...this.watchers.keys()];
  }

  /** Keys with watchers (for tests and metrics). */
  get size(): number {
    return this.watchers.size;
  }
}
