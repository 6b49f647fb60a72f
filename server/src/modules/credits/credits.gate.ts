// Credits' part in authorizations (quota's WalletGate port): quota decides first (and makes
// its reservation); when it allowed the call and a wallet pays for it, the cost estimate is
// checked against the wallet's available under the wallet's row lock, and with a reservation
// held (wallet_holds, keyed by the reservation's id, expiring with it). The lock makes the
// check and the hold exact across instances. A call the wallet denies gives its quota
// reservation back at once, so no reservation remains for it; a call quota denied made no hold.
import { OPERATOR } from '../../auth/scope';
import type { Database } from '../../db/database';
import { AppError } from '../../lib/errors';
import { Dec, fmt } from '../../lib/money';
import type { PricingService } from '../pricing/pricing.service';
import type { GatedDecision, WalletCall, WalletGate } from '../quota/ports';
import type { WebhookOutbox } from '../webhooks/ports';
import { WalletBook } from './credits.book';
import type { WalletTenants } from './credits.ledger';
import { deleteHolds, insertHold, lockPayer } from './credits.store';
import type { CreditsNews } from './credits.topics';
import type { WalletView } from './credits.types';

export function creditsGate(
  db: Database,
  tenants: WalletTenants & {
    hasWallet(tenantId: string): Promise<boolean>;
    read(tenantId: string, subject: string | null, payer?: boolean): Promise<WalletView | null>;
  },
  pricing: PricingService,
  news: CreditsNews,
  now: () => Date,
  outbox: () => WebhookOutbox | null,
): WalletGate {
  /** The estimate's cost: as given, else its tokens priced like quote when a model is named. */
  async function costOf(call: WalletCall): Promise<Dec> {
    const given = new Dec(call.est.cost);
    if (!given.isZero() || !call.model) return given;
    try {
      const q = await pricing.quote(OPERATOR, {
        tenantId: call.tenantId,
        kind: 'LLM',
        provider: call.model.provider,
        model: call.model.model,
        inputTokens: Number(call.est.inputTokens),
        outputTokens: Number(call.est.outputTokens),
      });
      return new Dec(q.cost);
    } catch (err) {
      // quote names its own input's fields; here they are the estimate's
      if (!(err instanceof AppError) || !err.field) throw err;
      const field = ['input', 'estimate', ...(err.field[0] === 'input' ? err.field.slice(1) : err.field)];
      throw new AppError(err.code, err.message, field);
    }
  }

  return {
    async authorize<D extends GatedDecision>(
      call: WalletCall,
      decide: () => Promise<D>,
      undo: (reservationId: string) => Promise<void>,
    ): Promise<D & { wallet: unknown }> {
      if (!(await tenants.hasWallet(call.tenantId))) return { ...(await decide()), wallet: null };
      const cost = await costOf(call);
      const decision = await decide();
      if (!decision.allowed) {
        return { ...decision, wallet: await tenants.read(call.tenantId, call.subject, true) };
      }
      const at = now();
      const r = decision.reservation;
      const judging = db.transaction('authorizeUsage:wallet', async (tx) => {
        const locked = await lockPayer(tx, call.tenantId, call.subject);
        if (!locked) return null;
        const book = await WalletBook.open(tx, [locked], at);
        const w = book.wallet(locked.id);
        const fits = cost.lte(book.available(w));
        if (fits && r) {
          await insertHold(tx, {
            reservationId: r.id,
            tenantId: call.tenantId,
            walletId: locked.id,
            amount: fmt(cost),
            expiresAt: r.expiresAt,
          });
          book.hold(w, cost);
        }
        // An EXPIRY written or a crossing fired under this lock moved the wallet too.
        const moved = (await book.write(tx, outbox())).length > 0;
        return { fits, held: fits && r != null, moved, wallet: book.view(w) };
      });
      // A failure here leaves no reservation behind for a call that is not answered.
      const judged = await judging.catch(async (err) => {
        if (r) await undo(r.id).catch(() => {});
        throw err;
      });
      if (!judged) return { ...decision, wallet: null };
      if (judged.held || judged.moved) news.changed([call.tenantId]);
      if (judged.fits) return { ...decision, wallet: judged.wallet };
      if (r) await undo(r.id);
      return { ...decision, allowed: false, deniedBy: null, reservation: null, wallet: judged.wallet };
    },

    async released(tenantId, reservationId) {
      // Not hasWallet: its "no" may be up to NO_WALLET_MS stale here while another instance
      // already granted and held; the delete by key costs what asking would.
      if ((await deleteHolds(db, [reservationId])).length) news.changed([tenantId]);
    },
  };
}
