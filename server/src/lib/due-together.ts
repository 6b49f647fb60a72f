// Cached answers that are read again when they run out, each on its own, cost one statement
// per entry per period: N busy entries, N statements. DueTogether keeps the busy ones (used
// since they were read); when one runs out, the read that renews it also carries the busy
// entries due within half a period, so they are read together and then run out together:
// about two reads per period whatever N. Reading early never makes an answer older than its
// period. Used by the wallet question (credits) and the authentication cache (api-keys).
import type DataLoader from 'dataloader';

export class DueTogether<K> {
  private readonly busy = new Set<K>();

  constructor(
    private readonly periodMs: number,
    /** Until when the entry's answer holds (on `now`'s clock); undefined: no entry any more. */
    private readonly untilOf: (k: K) => number | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A use of the entry while its answer holds: a candidate to be carried. */
  used(k: K): void {
    this.busy.add(k);
  }

  /** The entry is gone: not carried until it is used again. */
  drop(k: K): void {
    this.busy.delete(k);
  }

  /**
   * For a read of `asking`: the busy entries due within half a period to carry along. Those
   * and `asking` stop being busy (being read, no other read carries them until used again).
   */
  take(asking: ReadonlySet<K>): K[] {
    for (const k of asking) this.busy.delete(k);
    const soon = this.now() + this.periodMs / 2;
    const along: K[] = [];
    for (const k of this.busy) {
      const until = this.untilOf(k);
      if (until === undefined) this.busy.delete(k);
      else if (until <= soon) {
        this.busy.delete(k);
        along.push(k);
      }
    }
    return along;
  }
}

/**
 * A DataLoader batch that reads `keys` and `along` in one `read`: callers of an `along` key share
 * that read while it is out (primed into the loader). `keep` stores the answers (all of them,
 * `keys` first) before every key leaves the loader's cache, so no caller finds neither. Answers
 * `keys`' answers, the batch's.
 */
export async function readAlong<K, V>(
  loader: DataLoader<K, V>,
  keys: readonly K[],
  along: readonly K[],
  read: (all: K[]) => Promise<V[]>,
  keep: (all: K[], answers: V[]) => void,
): Promise<V[]> {
  const all = [...keys, ...along];
  const answers = read(all);
  along.forEach((k, i) => {
    const answer = answers.then((out) => out[keys.length + i] as V);
    // Its callers hear a failure; unasked, it must not be an unhandled rejection.
    answer.catch(() => {});
    loader.prime(k, answer);
  });
  try {
    const out = await answers;
    keep(all, out);
    return out.slice(0, keys.length);
  } finally {
    for (const k of all) loader.clear(k);
  }
}
