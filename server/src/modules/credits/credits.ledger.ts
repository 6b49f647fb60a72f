// Credits' part in ledger writes (usage's LedgerParticipant port, registered in services.ts
// after quota's, so its wallet locks come after quota's tenant locks): every created entry's
// cost is debited from its subject's wallet, else its tenant's, in the ledger's transaction;
// a reversal credits back what its original's debits took; entries settling a reservation
// release its hold. One flush: wallets locked once (id order), written once.
import type { Sql } from '../../db/database';
import { Dec } from '../../lib/money';
import type { LedgerParticipant } from '../usage/ports';
import type { EventRow } from '../usage/usage.types';
import type { WebhookOutbox } from '../webhooks/ports';
import { WalletBook } from './credits.book';
import { debitsOf, deleteHolds, lockFlush } from './credits.store';
import type { CreditsNews } from './credits.topics';

interface CreditsWrite {
  /** The writer's clock for this write (expiry and holds are judged at it). */
  at: Date;
  /** The write's tenants that have wallets. */
  tenants: Set<string>;
  /** Reservations settled by this write (their holds go). */
  settled: string[];
  /** Tenants whose wallets moved (published after commit). */
  changed: Set<string>;
}

export interface WalletTenants {
  /** Those of `tenantIds` that have a wallet (ask before a write; a grant committed before is seen). */
  withWallets(tenantIds: string[]): Promise<string[]>;
}

export function creditsLedgerParticipant(
  tenants: WalletTenants,
  news: CreditsNews,
  outbox: () => WebhookOutbox | null,
): LedgerParticipant<CreditsWrite> {
  return {
    async prepare(write) {
      const have = await tenants.withWallets(write.tenantIds);
      return have.length ? { at: write.at, tenants: new Set(have), settled: [], changed: new Set() } : null;
    },
    async settled(_tx, s, pairs) {
      s.settled.push(...pairs.map((p) => p.reservationId));
    },
    async created(tx, s, rows) {
      for (const t of await deleteHolds(tx, s.settled)) s.changed.add(t);
      await debit(tx, s, rows, outbox());
    },
    committed(s) {
      if (s?.changed.size) news.changed(s.changed);
    },
  };
}

async function debit(tx: Sql, s: CreditsWrite, rows: EventRow[], outbox: WebhookOutbox | null) {
  const mine = rows.filter((r) => s.tenants.has(r.tenantId) && !new Dec(r.cost).isZero());
  if (!mine.length) return;
  const forward = mine.filter((r) => r.reversesId == null && new Dec(r.cost).gt(0));
  const reversals = mine.filter((r) => r.reversesId != null);
  const debits = reversals.length
    ? await debitsOf(
        tx,
        [...new Set(reversals.map((r) => r.tenantId))],
        reversals.map((r) => r.reversesId as string),
      )
    : [];
  if (!forward.length && !debits.length) return;
  const book = WalletBook.on(
    await lockFlush(
      tx,
      [...new Set(forward.map((r) => r.tenantId))],
      [...new Set(forward.flatMap((r) => (r.subject == null ? [] : [r.subject])))],
      [...new Set(debits.map((d) => d.walletId))],
      s.at,
      debits.flatMap((d) => (d.grantId ? [d.grantId] : [])),
    ),
    s.at,
  );
  for (const r of forward) {
    const w = book.payer(r.tenantId, r.subject);
    if (w) book.debit(w, new Dec(r.cost), r.occurredAt, r.id);
  }
  const byOriginal = new Map(reversals.map((r) => [r.reversesId as string, r.id]));
  for (const d of debits) {
    const w = book.wallets.get(d.walletId);
    const reversal = byOriginal.get(d.eventId);
    if (w && reversal) book.creditBack(w, d.grantId, new Dec(d.amount), reversal);
  }
  for (const w of await book.write(tx, outbox)) s.changed.add(w.row.tenantId);
}
