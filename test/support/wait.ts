// Waiting in tests: for a condition (sync or async) with a deadline that names what it waited for.
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The next event-loop turn: a DataLoader batch or a statement asked for in this one is out by then. */
export const nextTurn = () => new Promise((r) => setImmediate(r));

/** Polls `cond` every `every` ms until it holds; fails with `what` after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 5_000, every = 10) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** Drains an async iterator in the background, keeping what it yields and how it ended. */
export class Feed<T> {
  values: T[] = [];
  error: unknown = null;
  done = false;
  readonly finished: Promise<void>;
  constructor(readonly it: AsyncIterableIterator<T>) {
    this.finished = (async () => {
      try {
        for (;;) {
          const r = await it.next();
          if (r.done) break;
          this.values.push(r.value);
        }
      } catch (e) {
        this.error = e;
      } finally {
        this.done = true;
      }
    })();
  }
}
