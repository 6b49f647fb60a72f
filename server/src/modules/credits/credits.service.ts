// Credits: the module's face to the rest of the server, one job per file behind it:
//   credits.book.ts     the locked wallets of one transaction and every movement of money
//   credits.ledger.ts   its part in ledger writes (debits, credit-backs, holds settled)
//   credits.gate.ts     its part in authorizations (quota's WalletGate port)
//   credits.feed.ts     walletUpdated: one recomputation per watched wallet per 250 ms
//   credits.reconcile.ts balances and remainders against their movements
//   credits.input.ts    its input checks; credits.schema.ts its GraphQL
//   credits.store.ts    every statement, named (credits.reconcile-store.ts: reconcile's)
// See README.md for the model and its invariants.
import { randomUUID } from 'node:crypto';
import DataLoader from 'dataloader';
import { subjectIn, type TenantScope, tenantIn } from '../../auth/scope';
import type { Database } from '../../db/database';
import { DueTogether, readAlong } from '../../lib/due-together';
import { badInput, idempotencyConflict, notFound } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { namedSubject } from '../../lib/input';
import { Dec, fmt } from '../../lib/money';
import type { Publisher } from '../../pubsub';
import type { PricingService } from '../pricing/pricing.service';
import type { WalletGate } from '../quota/ports';
import type { TenantsService } from '../tenants/tenants.service';
import type { LedgerParticipant } from '../usage/ports';
import type { WebhookOutbox } from '../webhooks/ports';
import { WalletBook } from './credits.book';
import { creditsGate } from './credits.gate';
import * as check from './credits.input';
import { creditsLedgerParticipant } from './credits.ledger';
import * as store from './credits.store';
import { CreditsNews, type CreditsTopics } from './credits.topics';
import type { GrantRow, WalletView } from './credits.types';

/** How long authorizations trust that a tenant has no wallet (see hasWallet). */
export const NO_WALLET_MS = 1000;

/** Wallets swept per transaction. */
const SWEEP_CHUNK = 50;

/** Thrown to roll back a grant whose key another request committed meanwhile. */
const KEY_TAKEN = new Error('idempotency key taken meanwhile');

export class CreditsService {
  /** Tenants known to have a wallet (wallets are never deleted, so this never goes stale). */
  private readonly known = new Set<string>();
  /**
   * hasWallet's questions: those of one event-loop turn go as one statement, and a tenant's
   * question in flight is shared by every caller meanwhile (the loader's cache, emptied as
   * each answer comes: `without` is the cache of answers).
   */
  private readonly walletLookups: DataLoader<string, boolean> = new DataLoader(async (ids) => {
    const along = this.due.take(new Set(ids));
    return readAlong(
      this.walletLookups,
      ids,
      along,
      async (all) => {
        const yes = new Set(await this.withWallets(all));
        return all.map((t) => yes.has(t));
      },
      // The carried tenants' answers (the asked ones' are kept by hasWallet).
      (all, has) => {
        const until = performance.now() + NO_WALLET_MS;
        for (let i = ids.length; i < all.length; i++) {
          if (has[i]) this.without.delete(all[i] as string);
          else this.without.set(all[i] as string, until);
        }
      },
    );
  });
  /** Tenants seen without a wallet, until when (performance.now()) that answer is used. */
  private readonly without = new Map<string, number>();
  /** The busy tenants among them, asked about together when one's "no" runs out. */
  private readonly due = new DueTogether<string>(NO_WALLET_MS, (t) => this.without.get(t));
  readonly news: CreditsNews;
  readonly ledgerParticipant: LedgerParticipant<unknown>;
  readonly gate: WalletGate;

  constructor(
    private readonly db: Database,
    private readonly tenants: TenantsService,
    pricing: PricingService,
    publisher: Publisher<CreditsTopics>,
    private readonly now: () => Date,
    /**
     * Where crossings are emitted, in the transaction that decided them (the webhooks module's
     * outbox); null: nowhere yet. Settable, so the composition root can wire it after building.
     */
    public outbox: WebhookOutbox | null = null,
  ) {
    this.news = new CreditsNews(publisher);
    this.ledgerParticipant = creditsLedgerParticipant(this, this.news, () => this.outbox) as LedgerParticipant<unknown>;
    this.gate = creditsGate(db, this, pricing, this.news, now, () => this.outbox);
  }

  /** Those of `tenantIds` that have a wallet: remembered ones free, the others in one indexed statement. */
  async withWallets(tenantIds: string[]): Promise<string[]> {
    const unknown = tenantIds.filter((t) => !this.known.has(t));
    if (unknown.length) for (const t of await store.tenantsWithWallets(this.db, unknown)) this.known.add(t);
    return tenantIds.filter((t) => this.known.has(t));
  }

  /**
   * Whether a tenant has a wallet, for authorizations: a "no" is remembered for NO_WALLET_MS,
   * so a tenant without credits pays no statement per authorization. A grant is seen at once
   * by authorizations on the instance that made it, and within NO_WALLET_MS on the others
   * (ledger debits never use this: they ask before every write; nor do releases).
   */
  async hasWallet(tenantId: string): Promise<boolean> {
    if (this.known.has(tenantId)) return true;
    const until = this.without.get(tenantId);
    if (until !== undefined && until > performance.now()) {
      this.due.used(tenantId);
      return false;
    }
    // Under load a busy tenant's "no" runs out while many of its calls are in flight: they
    // share one question (walletLookups), which carries the other busy tenants due soon.
    const has = await this.walletLookups.load(tenantId);
    if (!has) {
      if (this.without.size >= 10_000) this.without.clear();
      this.without.set(tenantId, performance.now() + NO_WALLET_MS);
    }
    return has;
  }

  /** Operator, a tenant's READ key (its tenant), a subject token (its subject). */
  async wallet(scope: TenantScope, args: { tenantId?: string | null; subject?: string | null }): Promise<WalletView> {
    const tenantId = tenantIn(scope, args.tenantId, ['tenantId']);
    const subject = namedSubject(subjectIn(scope, args.subject, ['subject']), ['subject']);
    const w = await this.read(tenantId, subject);
    if (!w) throw notFound('wallet', ['subject']);
    return w;
  }

  /** The wallet of (tenant, subject) as read now, or null; `payer`: the subject's, else the tenant's. */
  async read(tenantId: string, subject: string | null, payer = false): Promise<WalletView | null> {
    const now = this.now();
    const w = await store.readWallet(this.db, tenantId, subject, now, payer);
    if (!w) return null;
    const balance = new Dec(w.balanceNow);
    const reserved = new Dec(w.reserved);
    return {
      id: w.id,
      tenantId: w.tenantId,
      subject: w.subject,
      currency: w.currency,
      balance: fmt(balance),
      reserved: fmt(reserved),
      available: fmt(balance.minus(reserved)),
      lowBalanceThreshold: w.lowBalanceThreshold,
      lowBalanceSince: w.lowBalanceSince,
      depletedSince: w.depletedSince,
      asOf: now,
    };
  }

  grants(walletId: string, includeSpent: boolean): Promise<GrantRow[]> {
    return store.grantsOf(this.db, [walletId], includeSpent, this.now());
  }

  /** Operator only. Idempotent like recordUsage. */
  async grantCredits(input: check.GrantInput): Promise<GrantRow> {
    if (!isUuid(input.tenantId)) throw notFound('tenant', ['input', 'tenantId']);
    const tenant = await this.tenants.get(input.tenantId, ['input', 'tenantId']);
    const now = this.now();
    const g = check.grant(input, now);
    if (input.currency != null && input.currency !== tenant.currency)
      throw badInput(['input', 'currency'], `this tenant's wallets are in ${tenant.currency}`);
    const fingerprint = check.fingerprintOf(g, tenant.currency);
    const judge = (prior: GrantRow) => {
      if (prior.fingerprint !== fingerprint) throw idempotencyConflict(['input', 'idempotencyKey']);
      return prior;
    };
    const prior = await store.grantByKey(this.db, tenant.id, g.idempotencyKey);
    if (prior) return judge(prior);
    const made = await this.db
      .transaction('grantCredits', async (tx) => {
        await store.insertWallet(tx, tenant.id, g.subject, tenant.currency);
        const locked = await store.lockWallet(tx, tenant.id, g.subject);
        if (!locked) throw new Error('the wallet just made is not there');
        // Read before the grant is inserted: the book adds it itself (read after, it held the
        // grant twice, and a grant effective later counted twice against the balance).
        const book = await WalletBook.open(tx, [locked], now);
        const row = await store.insertGrant(tx, {
          id: randomUUID(),
          tenantId: tenant.id,
          walletId: locked.id,
          idempotencyKey: g.idempotencyKey,
          fingerprint,
          amount: fmt(g.amount),
          priority: g.priority,
          effectiveAt: g.effectiveAt ?? now,
          expiresAt: g.expiresAt,
          reason: g.reason,
          createdAt: now,
        });
        // The same key, committed meanwhile: roll back, so the wallet made for it does not stay.
        if (!row) throw KEY_TAKEN;
        book.grant(book.wallet(locked.id), row);
        await book.write(tx, this.outbox);
        return row;
      })
      .catch((e) => {
        if (e === KEY_TAKEN) return null;
        throw e;
      });
    this.known.add(tenant.id);
    this.without.delete(tenant.id);
    if (!made) return judge((await store.grantByKey(this.db, tenant.id, g.idempotencyKey)) as GrantRow);
    this.news.changed([tenant.id]);
    return made;
  }

  /** Operator only. Voiding a voided grant answers it as it is. */
  async voidCreditGrant(id: string): Promise<GrantRow> {
    const g = isUuid(id) ? await store.grantById(this.db, id) : null;
    if (!g) throw notFound('credit grant', ['id']);
    const now = this.now();
    const row = await this.db.transaction('voidCreditGrant', async (tx) => {
      const locked = await store.lockWalletsById(tx, [g.walletId]);
      const book = await WalletBook.open(tx, locked, now, [g.id]);
      const w = book.wallets.get(g.walletId);
      if (!w) throw new Error('a grant without its wallet');
      const out = book.void(w, g.id);
      await book.write(tx, this.outbox);
      return out;
    });
    this.news.changed([g.tenantId]);
    return row;
  }

  /** Tenant ADMIN (its tenant) or operator (tenantId required). Null threshold: none. */
  async setWalletThreshold(
    scope: TenantScope,
    input: { tenantId?: string | null; subject?: string | null; lowBalanceThreshold?: string | null },
  ): Promise<WalletView> {
    const tenantId = tenantIn(scope, input.tenantId, ['input', 'tenantId']);
    const subject = namedSubject(input.subject, ['input', 'subject']);
    const threshold = check.threshold(input.lowBalanceThreshold, ['input', 'lowBalanceThreshold']);
    const now = this.now();
    const view = await this.db.transaction('setWalletThreshold', async (tx) => {
      const locked = await store.lockWallet(tx, tenantId, subject);
      if (!locked) return null;
      const book = await WalletBook.open(tx, [locked], now);
      const w = book.wallet(locked.id);
      book.setThreshold(w, threshold);
      await book.write(tx, this.outbox);
      return book.view(w);
    });
    if (!view) throw notFound('wallet', ['input', 'subject']);
    this.news.changed([tenantId]);
    return view;
  }

  /**
   * Writes the EXPIRY of grants past their expiry (reads never count them anyway) and drops
   * expired holds; any instance may run it, as often as it likes. Answers the wallets swept.
   */
  async sweepExpired(limit = 500): Promise<number> {
    const now = this.now();
    const ids = await store.walletsToExpire(this.db, now, limit);
    const tenants = new Set<string>();
    // A few wallets per transaction (locked in id order, as every writer locks them): few
    // statements for many wallets, and no wallet held long from the ledger's flushes.
    for (let i = 0; i < ids.length; i += SWEEP_CHUNK)
      await this.db.transaction('credits:sweep', async (tx) => {
        const book = await WalletBook.open(tx, await store.lockWalletsById(tx, ids.slice(i, i + SWEEP_CHUNK)), now);
        for (const w of await book.write(tx, this.outbox)) tenants.add(w.row.tenantId);
      });
    await store.pruneHolds(this.db, now);
    this.news.changed(tenants);
    return ids.length;
  }
}
