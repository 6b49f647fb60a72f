// A "something changed for X" message published per write costs one message per write: with
// Redis, a PUBLISH per authorization, received by every instance listening to X. Subscribers
// only re-read X (and coalesce for 250 ms anyway: live-feed.ts), so one message per X per
// event-loop turn tells them the same. OncePerTurn gathers the ids told during a turn and
// hands each to `send` once, in the next turn (setImmediate: after the awaits of the writes
// that told them, before timers), so the last change is always published.

export class OncePerTurn {
  /** The ids told since the last flush; a flush is scheduled exactly while this is not empty. */
  private pending = new Set<string>();

  constructor(private readonly send: (id: string) => void) {}

  add(ids: Iterable<string>): void {
    const idle = this.pending.size === 0;
    for (const id of ids) this.pending.add(id);
    if (idle && this.pending.size) setImmediate(() => this.flush());
  }

  private flush(): void {
    const ids = this.pending;
    this.pending = new Set();
    for (const id of ids) {
      try {
        this.send(id);
      } catch {
        // A publisher counts its own losses (pubsub-redis.ts); one that throws must neither
        // take the process down from this callback nor keep the other ids from going out.
      }
    }
  }
}
