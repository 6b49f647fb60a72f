// Usage: recording (through the one writer) and reversals; the event list and summaries are
// its reads (usage.queries.ts), inherited.
// Owns usage_events and its rollup tables; nothing outside this module writes them.
// Side effects (metrics, and later pub/sub) run only after the transaction committed.

import { ownerOf, type TenantScope, tenantIn } from '../../auth/scope';
import type { Database } from '../../db/database';
import { inBatches } from '../../lib/batches';
import { AppError, badInput, idempotencyConflict, notFound } from '../../lib/errors';
import { LocalEvents } from '../../lib/events';
import { isUuid } from '../../lib/ids';
import { idempotencyKey, RefusedItem, reasonText } from '../../lib/input';
import { fmt, ZERO } from '../../lib/money';
import type { Publisher } from '../../pubsub';
import { costText } from '../pricing/cost';
import type { PricingService } from '../pricing/pricing.service';
import { currencyMismatch, priceNotFound } from '../pricing/pricing.service';
import type { TenantsService } from '../tenants/tenants.service';
import { DEFAULT_GROUP_COMMIT, type GroupCommitOptions, GroupCommitter } from './group-commit';
import { LedgerParticipants } from './ledger-participants';
import type { LedgerParticipant } from './ports';
import { type EventRow, type NewEntry, publishedEvent, reversalOf } from './usage.columns';
import { type ExportRows, exportEvents, exportSummary } from './usage.export';
import { type UsageFilterInput, UsageQueries } from './usage.queries';
import * as store from './usage.store';
import type { UsageTopics } from './usage.topics';
import type { Granularity, RecordOutcome, UsageDimension } from './usage.types';
import { fingerprintOf, type NormalizedUsage, normalizeUsage, reversalFingerprint } from './usage.validation';
import { type Settlement, UsageWriter, type WriteOutcome } from './usage.writer';

export const MAX_BATCH = 1000;

export interface ItemResult {
  index: number;
  outcome: RecordOutcome;
  event: EventRow | null;
  /** Why the item was not recorded (the GraphQL layer shows it as a UserError). */
  error: AppError | null;
  /** What the entry did to the reservation it named (null: it named none, or was not recorded). */
  reservation: Settlement | null;
}

export interface UsageEvents {
  created: (events: EventRow[]) => void;
}

/**
 * A judged item on its way to the group committer. It is priced there, with every other
 * entry of its shared batch in one statement, so a call costs the database no statement of
 * its own.
 */
interface QueuedEntry {
  p: Pending;
  /** The request's clock: the default occurredAt. */
  now: Date;
}

/** What the committer answers per entry: the writer's outcome, or why the entry was refused. */
type QueuedOutcome = WriteOutcome | { outcome: 'REFUSED'; error: AppError };

interface Pending {
  index: number;
  u: NormalizedUsage;
  tenantId: string;
  apiKeyId: string | null;
  /** The tenant's billing currency: every entry's cost is in it. */
  currency: string;
}

export class UsageService extends UsageQueries {
  readonly writer: UsageWriter;
  readonly committer: GroupCommitter<QueuedEntry, QueuedOutcome>;
  /** Local events for metrics: 'outcomes' of every call (entries are published: usage.topics.ts). */
  readonly emitter = new LocalEvents<{ outcomes: [outcomes: RecordOutcome[]] }>();
  /** The modules taking part in every ledger write, recordings and reversals alike (ports.ts). */
  private readonly participants: LedgerParticipants;

  constructor(
    db: Database,
    tenants: TenantsService,
    private readonly pricing: PricingService,
    participants: readonly LedgerParticipant<unknown>[],
    private readonly publisher: Publisher<UsageTopics>,
    private readonly now: () => Date,
    groupCommit: GroupCommitOptions = DEFAULT_GROUP_COMMIT,
  ) {
    super(db, tenants);
    this.participants = new LedgerParticipants(participants);
    this.writer = new UsageWriter(db);
    this.committer = new GroupCommitter((items) => this.writeNow(items), groupCommit);
  }

  /** Judges and records items; one transaction for all of them. Never throws for a bad item. */
  async record(scope: TenantScope, raws: readonly unknown[]): Promise<ItemResult[]> {
    const now = this.now();
    const results: ItemResult[] = raws.map((_, index) => ({
      index,
      outcome: 'INVALID',
      event: null,
      error: null,
      reservation: null,
    }));
    const fail = (index: number, e: unknown) => {
      if (!(e instanceof AppError)) throw e;
      (results[index] as ItemResult).error = e;
    };

    const pending: Pending[] = [];
    raws.forEach((raw, index) => {
      try {
        if (raw instanceof RefusedItem) throw raw.error;
        const u = normalizeUsage(raw, now);
        const tenantId = tenantIn(scope, u.tenantId, ['tenantId']);
        if (u.apiKeyId != null && !isUuid(u.apiKeyId)) throw notFound('API key', ['apiKeyId']);
        pending.push({ index, u, tenantId, apiKeyId: u.apiKeyId ?? scope.keyId ?? null, currency: '' });
      } catch (e) {
        fail(index, e);
      }
    });

    // Names the operator gave, and keys the caller attributes to, must exist in that tenant.
    const valid = await this.checkReferences(scope, pending);
    // A tenant is billed in one currency (cached: it never changes), so a cost in another is refused.
    const currencies = await this.tenants.currencies(pending.map((p) => p.tenantId));
    const ready = pending.filter((p) => {
      let err = valid.get(p.index);
      const currency = currencies.get(p.tenantId);
      if (!err && !currency) err = notFound('tenant', ['tenantId']);
      else if (!err && p.u.currency != null && p.u.currency !== currency)
        err = badInput(
          ['currency'],
          `this tenant is billed in ${currency}; usage in ${p.u.currency} cannot be recorded`,
        );
      if (err) fail(p.index, err);
      else p.currency = currency as string;
      return !err;
    });

    // Gathered with concurrent calls into shared transactions (group commit); answered after COMMIT.
    const outcomes = await this.committer.submit(ready.map((p) => ({ p, now })));
    outcomes.forEach((o, i) => {
      const r = results[(ready[i] as Pending).index] as ItemResult;
      if (o.outcome === 'ALREADY_REVERSED') return; // cannot happen for recordUsage entries
      if (o.outcome === 'REFUSED') {
        r.error = o.error;
        return;
      }
      r.outcome = o.outcome;
      r.event = o.event;
      if (o.outcome !== 'CONFLICT') r.reservation = o.reservation;
      if (o.outcome === 'CONFLICT') r.error = idempotencyConflict();
    });
    this.emitter.emit(
      'outcomes',
      results.map((r) => r.outcome),
    );
    return results;
  }

  /**
   * One shared transaction for the entries of several calls. The ledger participants are
   * prepared beside pricing and act in it (quota: locks and alerts for tenants with
   * thresholded limits; tenants without pay nothing for it). Prices are resolved in the
   * transaction, after the shared locks of the models it prices (taken with BEGIN), so the
   * version an entry carries is the one in force when it commits (pricing.book.ts).
   */
  private async writeNow(queued: QueuedEntry[]): Promise<QueuedOutcome[]> {
    const now = this.now();
    const lookups = queued.map(({ p, now: at }) =>
      needsPrice(p.u)
        ? { tenantId: p.tenantId, provider: p.u.provider, model: p.u.model, at: p.u.occurredAt ?? at }
        : null,
    );
    const preparing = this.participants.prepare({
      at: now,
      kind: 'record',
      tenantIds: [...new Set(queued.map((q) => q.p.tenantId))],
    });
    preparing.catch(() => {}); // awaited in the transaction; a failure before it opens is not unhandled
    const { built, items, written, participants } = await this.db.transaction(
      'recordUsage',
      async (tx) => {
        const [participants, prices] = await Promise.all([preparing, this.pricing.resolveMany(lookups, tx)]);
        // An entry no price covers is refused on its own; its batch-mates are written.
        const built = queued.map((q, i): NewEntry | AppError => {
          try {
            return this.toEntry(q.p, prices[i] ?? null, q.now);
          } catch (e) {
            if (e instanceof AppError) return e;
            throw e;
          }
        });
        const items = queued.flatMap((q, i) => {
          const entry = built[i];
          return entry instanceof AppError ? [] : [{ entry: entry as NewEntry, reservationId: q.p.u.reservationId }];
        });
        const { outcomes } = await this.writer.write(
          items.map((i) => i.entry),
          participants.hooks(items.map((i) => i.reservationId)),
          tx,
        );
        return { built, items, written: outcomes, participants };
      },
      { sharedLocks: this.pricing.bookLocks(lookups) },
    );
    const created = written.flatMap((o) => (o.outcome === 'CREATED' ? [o.event] : []));
    this.published(created);
    participants.committed({
      created,
      reservationTenants: items.filter((i) => i.reservationId).map((i) => i.entry.tenantId),
    });
    let w = 0;
    return built.map(
      (b): QueuedOutcome => (b instanceof AppError ? { outcome: 'REFUSED', error: b } : (written[w++] as WriteOutcome)),
    );
  }

  /** After commit: each created entry to its tenant's subscribers, if any may listen. */
  private published(created: EventRow[]) {
    for (const event of created) {
      // A 500-event batch with nobody subscribed (and no other instance that could be) would
      // otherwise copy and dispatch 500 events for nothing.
      if (!this.publisher.listens('usage:recorded', event.tenantId)) continue;
      this.publisher.publish('usage:recorded', event.tenantId, publishedEvent(event));
    }
  }

  private toEntry(p: Pending, price: import('../../db/entities').PriceRow | null, now: Date): NewEntry {
    const u = p.u;
    let cost: string;
    let priceId: string | null = null;
    if (u.cost != null) cost = fmt(u.cost);
    else if (!needsPrice(u)) cost = fmt(ZERO);
    else {
      if (!price) throw priceNotFound(u.provider, u.model);
      if (price.currency !== p.currency) throw currencyMismatch(price, p.currency);
      cost = costText(u, price);
      priceId = price.id;
    }
    return {
      tenantId: p.tenantId,
      idempotencyKey: u.idempotencyKey,
      fingerprint: fingerprintOf(u, p.tenantId, p.apiKeyId),
      apiKeyId: p.apiKeyId,
      subject: u.subject,
      kind: u.kind,
      provider: u.provider ?? price?.provider ?? null,
      model: u.model,
      modelSource: u.modelSource,
      status: u.status,
      requests: 1,
      inputTokens: u.inputTokens,
      outputTokens: u.outputTokens,
      cachedInputTokens: u.cachedInputTokens,
      cacheWriteInputTokens: u.cacheWriteInputTokens,
      reasoningTokens: u.reasoningTokens,
      durationMs: u.durationMs,
      quantity: u.quantity ? fmt(u.quantity) : null,
      cost,
      currency: p.currency,
      priceId,
      latencyMs: u.latencyMs,
      sessionId: u.sessionId,
      metadata: u.metadata,
      occurredAt: u.occurredAt ?? now,
      reversesId: null,
      reason: null,
    };
  }

  private async checkReferences(scope: TenantScope, pending: Pending[]): Promise<Map<number, AppError>> {
    const errors = new Map<number, AppError>();
    if (scope.operator) {
      const ids = [...new Set(pending.map((p) => p.tenantId))];
      const found = new Set((await this.tenants.byIds(ids)).map((t) => t.id));
      for (const p of pending) if (!found.has(p.tenantId)) errors.set(p.index, notFound('tenant', ['tenantId']));
    }
    const keyIds = [
      ...new Set(pending.map((p) => p.apiKeyId).filter((k): k is string => k != null && k !== scope.keyId)),
    ];
    if (keyIds.length) {
      const rows = await store.keyTenants(this.db, keyIds);
      const owner = new Map(rows.map((r) => [r.id, r.tenantId]));
      for (const p of pending) {
        // Another tenant's key is answered exactly like a missing one.
        if (p.apiKeyId && p.apiKeyId !== scope.keyId && owner.get(p.apiKeyId) !== p.tenantId && !errors.has(p.index))
          errors.set(p.index, notFound('API key', ['apiKeyId']));
      }
    }
    return errors;
  }

  /** INGEST (the field's authScopes), as are recordBatch and reverse. */
  async recordOne(
    scope: TenantScope,
    raw: unknown,
  ): Promise<{ outcome: RecordOutcome; event: EventRow; reservation: Settlement | null }> {
    const [r] = await this.record(scope, [raw]);
    const res = r as ItemResult;
    if (res.error) throw res.error.within(['input']);
    return { outcome: res.outcome, event: res.event as EventRow, reservation: res.reservation };
  }

  async recordBatch(scope: TenantScope, raws: readonly unknown[]) {
    if (raws.length < 1 || raws.length > MAX_BATCH) throw badInput(['input'], `a batch holds 1 to ${MAX_BATCH} items`);
    const results = await this.record(scope, raws);
    const count = (o: RecordOutcome) => results.filter((r) => r.outcome === o).length;
    return {
      created: count('CREATED'),
      duplicates: count('DUPLICATE'),
      rejected: count('CONFLICT') + count('INVALID'),
      results,
    };
  }

  /** Appends the entry that cancels `eventId`: every count, quantity and cost negated. */
  async reverse(
    scope: TenantScope,
    input: { eventId: string; idempotencyKey: string; reason?: string | null },
  ): Promise<{ outcome: RecordOutcome; event: EventRow }> {
    const key = idempotencyKey(input.idempotencyKey, ['input', 'idempotencyKey']);
    const reason = reasonText(input.reason, ['input', 'reason']);
    if (!isUuid(input.eventId)) throw notFound('usage event', ['input', 'eventId']);
    const original = await store.eventToReverse(this.db, input.eventId, ownerOf(scope));
    if (!original) throw notFound('usage event', ['input', 'eventId']);
    const fingerprint = reversalFingerprint(original.id, reason);
    const prior = await store.eventByKey(this.db, original.tenantId, key);
    if (prior) return this.judgeRetry(prior, fingerprint);
    if (original.reversesId)
      throw badInput(['input', 'eventId'], 'that entry is a reversal; reversals cannot be reversed');

    const participants = await this.participants.prepare({
      at: this.now(),
      kind: 'reverse',
      tenantIds: [original.tenantId],
    });
    const {
      outcomes: [out],
    } = await this.writer.write(
      [reversalOf(original, { idempotencyKey: key, fingerprint, reversesId: original.id, reason })],
      participants.hooks([null]),
    );
    if (!out || out.outcome === 'ALREADY_REVERSED')
      throw badInput(['input', 'eventId'], 'that entry is already reversed');
    if (out.outcome === 'CREATED') {
      this.published([out.event]);
      participants.committed({ created: [out.event], reservationTenants: [] });
      this.emitter.emit('outcomes', ['CREATED']);
    }
    return out.outcome === 'CREATED' ? out : this.judgeRetry(out.event, fingerprint);
  }

  /** CSV export of the event list (READ: the transport checks it as usageEvents' authScopes do). */
  exportEvents(scope: TenantScope, f: UsageFilterInput): Promise<ExportRows> {
    return exportEvents(this, this.db, scope, f);
  }

  /** CSV export of a summary (READ, as usageSummary). */
  exportSummary(
    scope: TenantScope,
    f: UsageFilterInput,
    groupBy: readonly UsageDimension[],
    granularity: Granularity | null,
  ): Promise<ExportRows> {
    return exportSummary(this, this.db, scope, f, groupBy, granularity);
  }

  /**
   * Deletes the minute rollups older than the minute level keeps (8 days), in batches; answers
   * how many. Any instance may run it at any time (app.ts does, hourly): rows are only ever
   * deleted once they are older than any read or reconcile trusts (7 days).
   */
  async pruneMinutes(batch = 5000): Promise<number> {
    return inBatches(batch, (limit) => store.pruneMinutes(this.db, limit));
  }

  /** A reversal's key was used before: DUPLICATE when it asked for the same, else a conflict (both counted). */
  private judgeRetry(prior: EventRow, fingerprint: Buffer) {
    const same = prior.fingerprint.equals(fingerprint);
    this.emitter.emit('outcomes', [same ? 'DUPLICATE' : 'CONFLICT']);
    if (!same) throw idempotencyConflict(['input', 'idempotencyKey']);
    return { outcome: 'DUPLICATE' as const, event: prior };
  }
}

/** Usage is priced unless the caller sent its cost or brought its own key (BYOK costs the platform nothing). */
function needsPrice(u: NormalizedUsage): boolean {
  return u.cost == null && u.modelSource !== 'BYOK';
}
