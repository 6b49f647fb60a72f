// Re-checks the keys of this process's open streams (graphql-ws sockets, SSE subscriptions)
// against the database, so a revocation whose pub/sub message never arrived (Redis away, or
// a revocation written by hand) still ends them: at least every AUTH_CACHE_MS, which bounds
// how long a revoked key keeps working anywhere, and at once after a pub/sub reconnect (the
// messages published meanwhile may be lost). One statement per round, only for keys in use.
import type { Logger } from './observability';
import type { PubSubHealth } from './pubsub';
import type { Revocations } from './revocations';

export interface KeyChecker {
  /** Ids among `ids` that are revoked now. */
  revokedAmong(ids: string[]): Promise<string[]>;
  /** Drops a key from the authentication cache. */
  forget(keyId: string): void;
}

/** Floor of the period, so AUTH_CACHE_MS=0 (no cache) does not mean a busy loop. */
export const MIN_RECHECK_MS = 250;

export function startKeyRecheck(opts: {
  keys: KeyChecker;
  revocations: Revocations;
  health: PubSubHealth;
  everyMs: number;
  logger: Logger;
}): () => void {
  const { keys, revocations } = opts;
  let running: Promise<void> | null = null;
  const check = () => {
    running ??= (async () => {
      const open = revocations.keys();
      if (open.length === 0) return;
      for (const id of await keys.revokedAmong(open)) {
        keys.forget(id);
        revocations.revoked(id);
      }
    })()
      .catch((err) => opts.logger.warn({ err }, 're-check of open streams’ keys failed; retried next round'))
      .finally(() => {
        running = null;
      });
    return running;
  };
  const timer = setInterval(check, Math.max(MIN_RECHECK_MS, opts.everyMs));
  timer.unref();
  const stopReconnect = opts.health.onReconnect(() => void check());
  return () => {
    clearInterval(timer);
    stopReconnect();
  };
}
