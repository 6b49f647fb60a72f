// The per-request context: who calls, the services, and DataLoaders created per request
// (so batching never crosses requests or tenants). The generic machinery lives here; each
// loader is made by its module (modules/<m>/<m>.loaders.ts) and composed in ../loaders.ts.
import DataLoader from 'dataloader';
import type { Principal } from '../auth/principal';
import type { Loaders } from '../loaders';
import type { QuotaFeed } from '../modules/quota/quota.feed';
import type { PubSubHealth } from '../pubsub';
import type { Revocations } from '../revocations';
import type { Services } from '../services';
import type { TallyPubSub } from '../topics';

export interface Context {
  requestId: string;
  principal: Principal;
  services: Services;
  loaders: Loaders;
  pubsub: TallyPubSub;
  /** Whether live events flow (Redis can be lost; in-process cannot). */
  pubsubHealth: PubSubHealth;
  feed: QuotaFeed;
  revocations: Revocations;
  /** The operation came over a graphql-ws socket (which is closed when its key is revoked). */
  viaSocket?: boolean;
}

const byId = <T extends { id: string }>(ids: readonly string[], rows: T[]) => {
  const m = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => m.get(id) ?? null);
};

/**
 * A request's loaders, each made on first use: most requests (a recordUsage, say) touch none,
 * and every object not made is garbage not collected. A class, so the getters of a subclass
 * (../loaders.ts) live once on the prototype instead of as closures on every request's object.
 */
export abstract class MadeOnFirstUse<S> {
  private made = new Map<string, unknown>();

  constructor(private readonly s: S) {}

  /** The loader called `name`, made by `make` on first use. */
  protected once<L>(name: string, make: (s: S) => L): L {
    let l = this.made.get(name) as L | undefined;
    if (l === undefined) {
      l = make(this.s);
      this.made.set(name, l);
    }
    return l;
  }
}

/** Rows by id, one statement per tick; a missing id answers null. */
export function idLoader<T extends { id: string }>(fetch: (ids: readonly string[]) => Promise<T[]>) {
  return new DataLoader<string, T | null>(async (ids) => byId(ids, await fetch(ids)));
}
