// What pricing needs from the module that keeps the ledger, given at wiring (services.ts):
// pricing sits below usage, so it names none of usage's tables and imports nothing of it;
// usage implements this port (usage.reader.ts) and the composition root hands it over.
import type { Sql } from '../../db/database';

/** Entries a new price version would contradict: priced by one of `priceIds` at an instant in [from, to). */
export interface PricedEntriesCheck {
  priceIds: string[];
  /** Only this tenant's entries (a tenant override); null: any tenant's (a platform price). */
  tenantId: string | null;
  from: Date;
  /** Exclusive; null: no end. */
  to: Date | null;
}

export interface PricedEntries {
  /**
   * For each check, the latest occurredAt of an entry it finds, or null. Runs on `tx`, inside
   * setPrices' model locks, so no ledger transaction that priced those models is still open.
   */
  latestPriced(tx: Sql, checks: readonly PricedEntriesCheck[]): Promise<(Date | null)[]>;
}
