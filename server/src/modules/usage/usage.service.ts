// Usage: recording (through the one writer), reversals, the event list and summaries.
// Owns usage_events and its rollup tables; nothing outside this module writes them.
// Side effects (metrics, and later pub/sub) run only after the transaction committed.
import { EventEmitter } from 'node:events';
import type { Database, Sql } from '../../db/database';
import { type Principal, requireScope, tenantOf } from '../../graphql/principal';
import { AppError, badInput, containsNul, idempotencyConflict, notFound } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { RefusedItem } from '../../lib/input';
import { connection, keyset } from '../../lib/keyset';
import { Dec, fmt, ZERO } from '../../lib/money';
import { costText } from '../pricing/cost';
import type { PricingService } from '../pricing/pricing.service';
import { currencyMismatch, priceNotFound } from '../pricing/pricing.service';
import { lockTenants, type QuotaService } from '../quota/quota.service';
import type { AlertRow } from '../quota/quota.types';
import type { TenantsService } from '../tenants/tenants.service';
import { DEFAULT_GROUP_COMMIT, type GroupCommitOptions, GroupCommitter } from './group-commit';
import { addTotals, emptyTotals, type SummaryRow, summarize } from './usage.summary';
import {
  EVENT_COLUMNS,
  type EventRow,
  type Granularity,
  type RecordOutcome,
  type Totals,
  type UsageDimension,
} from './usage.types';
import { fingerprintOf, type NormalizedUsage, normalizeUsage, reversalFingerprint } from './usage.validation';
import { type NewEntry, type Settlement, UsageWriter, type WriteOutcome } from './usage.writer';

export const MAX_BATCH = 1000;
const MAX_RANGE_MS = 400 * 24 * 3600_000;

export interface ItemResult {
  index: number;
  outcome: RecordOutcome;
  event: EventRow | null;
  /** Why the item was not recorded (the GraphQL layer shows it as a UserError). */
  error: AppError | null;
  /** What the entry did to the reservation it named (null: it named none, or was not recorded). */
  reservation: Settlement | null;
}

export interface UsageFilterInput {
  tenantId?: string | null;
  apiKeyId?: string | null;
  subject?: string | null;
  model?: string | null;
  provider?: string | null;
  kind?: string | null;
  currency?: string | null;
  from: Date;
  to: Date;
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

export class UsageService {
  readonly writer: UsageWriter;
  readonly committer: GroupCommitter<QueuedEntry, QueuedOutcome>;
  /** Emits after commit: 'created' (new entries), 'alerts' (stored alerts), 'changed' (tenant ids whose quota moved), 'outcomes'. */
  readonly emitter = new EventEmitter();

  constructor(
    private readonly db: Database,
    private readonly tenants: TenantsService,
    private readonly pricing: PricingService,
    private readonly quota: QuotaService,
    private readonly now: () => Date,
    groupCommit: GroupCommitOptions = DEFAULT_GROUP_COMMIT,
  ) {
    this.writer = new UsageWriter(db);
    this.committer = new GroupCommitter((items) => this.writeNow(items), groupCommit);
  }

  /** Judges and records items; one transaction for all of them. Never throws for a bad item. */
  async record(principal: Principal, raws: readonly unknown[]): Promise<ItemResult[]> {
    requireScope(principal, 'INGEST');
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
        const tenantId = tenantOf(principal, u.tenantId, ['tenantId']);
        if (u.apiKeyId != null && !isUuid(u.apiKeyId)) throw notFound('API key', ['apiKeyId']);
        pending.push({ index, u, tenantId, apiKeyId: u.apiKeyId ?? principal.key?.id ?? null, currency: '' });
      } catch (e) {
        fail(index, e);
      }
    });

    // Names the operator gave, and keys the caller attributes to, must exist in that tenant.
    const valid = await this.checkReferences(principal, pending);
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
   * One shared transaction for the entries of several calls. Tenants with thresholded
   * limits are locked for it and their alerts computed in it; tenants without limits pay
   * nothing for the quota module.
   */
  private async writeNow(queued: QueuedEntry[]): Promise<QueuedOutcome[]> {
    const now = this.now();
    const [plan, prices] = await Promise.all([
      this.quota.planWrite([...new Set(queued.map((q) => q.p.tenantId))], now),
      this.pricing.resolveMany(
        queued.map(({ p, now: at }) =>
          needsPrice(p.u)
            ? { tenantId: p.tenantId, provider: p.u.provider, model: p.u.model, at: p.u.occurredAt ?? at }
            : null,
        ),
      ),
    ]);
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
    const quota = this.quota;
    const { outcomes: written, after: alerts } = await this.writer.write(
      items.map((i) => i.entry),
      {
        reservations: items.map((i) => i.reservationId),
        lockReservations: (tx, ids) => quota.lockReservations(tx, ids, now),
        settle: (tx, pairs) => quota.settleReservations(tx, pairs, now),
        ...(plan
          ? {
              lockTenants: (tx: Sql) => lockTenants(tx, plan.lock),
              afterInsert: (tx: Sql, rows: EventRow[]) => quota.recordAlerts(tx, plan, rows),
            }
          : {}),
      },
    );
    const created = written.flatMap((o) => (o.outcome === 'CREATED' ? [o.event] : []));
    this.afterCommit(
      created,
      alerts ?? [],
      items.filter((i) => i.reservationId).map((i) => i.entry.tenantId),
    );
    let w = 0;
    return built.map(
      (b): QueuedOutcome => (b instanceof AppError ? { outcome: 'REFUSED', error: b } : (written[w++] as WriteOutcome)),
    );
  }

  /** Side effects of a committed write: events for metrics and pub/sub (see services.ts). */
  private afterCommit(created: EventRow[], alerts: AlertRow[], touchedTenants: string[] = []) {
    if (created.length) this.emitter.emit('created', created);
    if (alerts.length) this.emitter.emit('alerts', alerts);
    const changed = new Set([...created.map((e) => e.tenantId), ...touchedTenants]);
    if (changed.size) this.emitter.emit('changed', [...changed]);
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

  private async checkReferences(principal: Principal, pending: Pending[]): Promise<Map<number, AppError>> {
    const errors = new Map<number, AppError>();
    if (principal.isOperator) {
      const ids = [...new Set(pending.map((p) => p.tenantId))];
      const found = new Set((await this.tenants.byIds(ids)).map((t) => t.id));
      for (const p of pending) if (!found.has(p.tenantId)) errors.set(p.index, notFound('tenant', ['tenantId']));
    }
    const keyIds = [
      ...new Set(pending.map((p) => p.apiKeyId).filter((k): k is string => k != null && k !== principal.key?.id)),
    ];
    if (keyIds.length) {
      const rows = await this.db.query<{ id: string; tenantId: string }>(
        'recordUsage:keys',
        'SELECT id, tenant_id AS "tenantId" FROM api_keys WHERE id = ANY($1::uuid[])',
        [keyIds],
      );
      const owner = new Map(rows.map((r) => [r.id, r.tenantId]));
      for (const p of pending) {
        // Another tenant's key is answered exactly like a missing one.
        if (
          p.apiKeyId &&
          p.apiKeyId !== principal.key?.id &&
          owner.get(p.apiKeyId) !== p.tenantId &&
          !errors.has(p.index)
        )
          errors.set(p.index, notFound('API key', ['apiKeyId']));
      }
    }
    return errors;
  }

  async recordOne(
    principal: Principal,
    raw: unknown,
  ): Promise<{ outcome: RecordOutcome; event: EventRow; reservation: Settlement | null }> {
    const [r] = await this.record(principal, [raw]);
    const res = r as ItemResult;
    if (res.error) throw res.error.within(['input']);
    return { outcome: res.outcome, event: res.event as EventRow, reservation: res.reservation };
  }

  async recordBatch(principal: Principal, raws: readonly unknown[]) {
    if (raws.length < 1 || raws.length > MAX_BATCH) throw badInput(['input'], `a batch holds 1 to ${MAX_BATCH} items`);
    const results = await this.record(principal, raws);
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
    principal: Principal,
    input: { eventId: string; idempotencyKey: string; reason?: string | null },
  ): Promise<{ outcome: RecordOutcome; event: EventRow }> {
    requireScope(principal, 'INGEST');
    const key = input.idempotencyKey;
    if (key.length < 1 || key.length > 255 || /\p{C}/u.test(key))
      throw badInput(['input', 'idempotencyKey'], 'must be 1 to 255 printable characters');
    const reason = input.reason ?? null;
    if (reason != null && (reason.length > 1000 || containsNul(reason)))
      throw badInput(['input', 'reason'], 'must be at most 1000 characters, without NUL');
    if (!isUuid(input.eventId)) throw notFound('usage event', ['input', 'eventId']);
    const [original] = await this.db.query<EventRow>(
      'reverseUsage:original',
      `SELECT ${EVENT_COLUMNS} FROM usage_events WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)`,
      [input.eventId, principal.isOperator ? null : principal.tenantId],
    );
    if (!original) throw notFound('usage event', ['input', 'eventId']);
    const fingerprint = reversalFingerprint(original.id, reason);
    const [prior] = await this.db.query<EventRow>(
      'reverseUsage:prior',
      `SELECT ${EVENT_COLUMNS} FROM usage_events WHERE tenant_id = $1 AND idempotency_key = $2`,
      [original.tenantId, key],
    );
    if (prior) return this.judgeRetry(prior, fingerprint);
    if (original.reversesId)
      throw badInput(['input', 'eventId'], 'that entry is a reversal; reversals cannot be reversed');

    const neg = (n: number | null) => (n == null ? null : -n);
    const negDec = (s: string | null) => (s == null ? null : fmt(new Dec(s).neg()));
    const {
      outcomes: [out],
    } = await this.writer.write([
      {
        ...original,
        idempotencyKey: key,
        fingerprint,
        requests: -1,
        inputTokens: -original.inputTokens,
        outputTokens: -original.outputTokens,
        cachedInputTokens: -original.cachedInputTokens,
        cacheWriteInputTokens: -original.cacheWriteInputTokens,
        reasoningTokens: -original.reasoningTokens,
        durationMs: neg(original.durationMs),
        quantity: negDec(original.quantity),
        cost: negDec(original.cost) as string,
        reversesId: original.id,
        reason,
      },
    ]);
    if (!out || out.outcome === 'ALREADY_REVERSED')
      throw badInput(['input', 'eventId'], 'that entry is already reversed');
    if (out.outcome === 'CREATED') {
      this.afterCommit([out.event], []);
      this.emitter.emit('outcomes', ['CREATED']);
    }
    return out.outcome === 'CREATED' ? out : this.judgeRetry(out.event, fingerprint);
  }

  /** A reversal's key was used before: DUPLICATE when it asked for the same, else a conflict (both counted). */
  private judgeRetry(prior: EventRow, fingerprint: Buffer) {
    const same = prior.fingerprint.equals(fingerprint);
    this.emitter.emit('outcomes', [same ? 'DUPLICATE' : 'CONFLICT']);
    if (!same) throw idempotencyConflict(['input', 'idempotencyKey']);
    return { outcome: 'DUPLICATE' as const, event: prior };
  }

  /** Checks a filter and pins it to one tenant the caller may read. */
  async resolveFilter(principal: Principal, f: UsageFilterInput) {
    requireScope(principal, 'READ');
    const tenantId = tenantOf(principal, f.tenantId, ['filter', 'tenantId']);
    UsageService.checkRange(f.from, f.to, ['filter', 'to']);
    const tenant = await this.tenants.get(tenantId, ['filter', 'tenantId']);
    if (f.apiKeyId != null) {
      const [k] = isUuid(f.apiKeyId)
        ? await this.db.query('usage:filterKey', 'SELECT 1 FROM api_keys WHERE id = $1 AND tenant_id = $2', [
            f.apiKeyId,
            tenantId,
          ])
        : [];
      if (!k) throw notFound('API key', ['filter', 'apiKeyId']);
    }
    return {
      tenant,
      filter: { ...f, tenantId, timezone: tenant.timezone, apiKeyIds: f.apiKeyId ? [f.apiKeyId] : null },
    };
  }

  async events(principal: Principal, f: UsageFilterInput, first: number, after: string | null | undefined) {
    const k = keyset(first, after);
    const { filter } = await this.resolveFilter(principal, f);
    const rows = await this.db.query<EventRow>(
      'usageEvents:page',
      `SELECT ${EVENT_COLUMNS} FROM usage_events
        WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3
          AND ($4::uuid IS NULL OR api_key_id = $4) AND ($5::text IS NULL OR subject = $5)
          AND ($6::text IS NULL OR model = $6) AND ($7::text IS NULL OR provider = $7) AND ($8::text IS NULL OR kind = $8)
          AND ($9::text IS NULL OR currency = $9)
          AND ($10::timestamptz IS NULL OR (occurred_at, id) < ($10::timestamptz, $11::uuid))
        ORDER BY occurred_at DESC, id DESC
        LIMIT $12`,
      [
        filter.tenantId,
        filter.from,
        filter.to,
        f.apiKeyId ?? null,
        f.subject ?? null,
        f.model ?? null,
        f.provider ?? null,
        f.kind ?? null,
        f.currency ?? null,
        k.afterInstant,
        k.afterId,
        k.limit,
      ],
    );
    return connection(rows, first, (e) => e.occurredAt);
  }
  async summary(
    principal: Principal,
    f: UsageFilterInput,
    groupBy: readonly UsageDimension[],
    granularity: Granularity | null,
  ) {
    const { tenant, filter } = await this.resolveFilter(principal, f);
    // In a transaction of its own: that is where JIT is off (see BEGIN_TX); a summary is heavy
    // enough for PostgreSQL's JIT to fire, and light enough that compiling costs far more.
    const buckets = await this.db.transaction('usageSummary', (tx) =>
      summarize(tx, filter, [...new Set(groupBy)], granularity),
    );
    return { totals: totalsOf(buckets, ['filter', 'currency'], tenant.currency), buckets };
  }

  /** Totals per API key over [from, to), one statement for all keys of one tenant. */
  async totalsByKey(
    tenantId: string,
    timezone: string,
    keyIds: string[],
    from: Date,
    to: Date,
  ): Promise<Map<string, Totals>> {
    const rows = await this.db.transaction('usageSummary:byKey', (tx) =>
      summarize(tx, { tenantId, timezone, from, to, apiKeyIds: keyIds }, ['API_KEY'], null),
    );
    const out = new Map<string, Totals>();
    for (const id of keyIds)
      out.set(
        id,
        totalsOf(
          rows.filter((r) => r.apiKeyId === id),
          ['from'],
        ),
      );
    return out;
  }

  async tenantTotals(tenantId: string, timezone: string, from: Date, to: Date, currency?: string): Promise<Totals> {
    const rows = await this.db.transaction('usageSummary:tenant', (tx) =>
      summarize(tx, { tenantId, timezone, from, to }, [], null),
    );
    return totalsOf(rows, ['from'], currency);
  }

  async byIds(ids: readonly string[]): Promise<EventRow[]> {
    const valid = ids.filter(isUuid);
    if (!valid.length) return [];
    return this.db.query<EventRow>(
      'usageEvents:byIds',
      `SELECT ${EVENT_COLUMNS} FROM usage_events WHERE id = ANY($1::uuid[])`,
      [valid],
    );
  }

  static checkRange(from: Date, to: Date, field = ['to']) {
    if (to.getTime() <= from.getTime()) throw badInput(field, 'must be after from');
    if (to.getTime() - from.getTime() > MAX_RANGE_MS) throw badInput(field, 'the range may span at most 400 days');
  }
}

/** Usage is priced unless the caller sent its cost or brought its own key (BYOK costs the platform nothing). */
function needsPrice(u: NormalizedUsage): boolean {
  return u.cost == null && u.modelSource !== 'BYOK';
}

/** Totals of rows that share one currency; usage in several currencies cannot be added up. */
function totalsOf(rows: SummaryRow[], currencyField: string[], tenantCurrency?: string): Totals {
  const currencies = new Set(rows.map((r) => r.currency));
  if (currencies.size > 1)
    throw badInput(
      currencyField,
      `the range holds usage in ${[...currencies].sort().join(' and ')}; filter by one currency`,
    );
  return rows.length ? addTotals(rows) : emptyTotals(tenantCurrency);
}
