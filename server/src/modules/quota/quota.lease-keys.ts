// The keys the escrow (quota.leases.ts, quota.lease-round.ts) keeps its views, leases and
// demand under, in memory and in quota_leases.scope_key.
import type { QuotaItem, QuotaStatus } from './quota.types';

/**
 * One scope's key. A subject is written after '=' (none: NUL), so no subject's key is the
 * key every subject of a key shares (anySubjectKeyOf, '*'), not even a subject named "*".
 */
export const scopeKeyOf = (tenantId: string, apiKeyId: string | null, subject: string | null) =>
  `${tenantId}|${apiKeyId ?? ''}|${subject === null ? '\u0000' : `=${subject}`}`;
/** The view of every subject of a key: where no limit counts a subject, the subject changes nothing. */
export const anySubjectKeyOf = (tenantId: string, apiKeyId: string | null) => `${tenantId}|${apiKeyId ?? ''}|*`;
/**
 * The key a call's view and demand are kept under, given its status: many end users of a busy
 * tenant share one view unless a limit counts a subject (a SUBJECT limit of the tenant's plan),
 * or some subject of the tenant has a plan of its own (`subjectPlans`: then subjects differ).
 */
export const viewKeyOf = (
  c: { tenant: { id: string }; apiKeyId: string | null; subject: string | null },
  s: QuotaStatus,
  subjectPlans: boolean,
) =>
  subjectPlans || s.items.some((i) => i.counts.subject != null)
    ? scopeKeyOf(c.tenant.id, c.apiKeyId, c.subject)
    : anySubjectKeyOf(c.tenant.id, c.apiKeyId);
/**
 * A lease's scope_key: the usage its item counts ('' the whole tenant; else "<key id>|<subject>",
 * either part empty). Key ids hold no '|', so the first one separates.
 */
export const countsKeyOf = (i: Pick<QuotaItem, 'counts'>) =>
  i.counts.apiKeyId || i.counts.subject != null ? `${i.counts.apiKeyId ?? ''}|${i.counts.subject ?? ''}` : '';
/** The key of a limit item's leases, from a quota_leases row's columns (what the locked path reads back). */
export const leaseItemKeyOf = (r: {
  tenantId: string;
  limitId: string;
  scopeKey: string;
  periodStart: Date | string | null;
}) => `${r.tenantId}|${r.limitId}|${r.scopeKey}|${r.periodStart ? new Date(r.periodStart).toISOString() : ''}`;
/** The same key from a status's item. */
export const itemKeyOf = (tenantId: string, i: Pick<QuotaItem, 'limit' | 'counts' | 'periodStart'>) =>
  leaseItemKeyOf({ tenantId, limitId: i.limit.id, scopeKey: countsKeyOf(i), periodStart: i.periodStart });
export const sentinelKeyOf = (tenantId: string) => `${tenantId}|`;
