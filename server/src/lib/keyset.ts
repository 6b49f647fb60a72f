// Keyset pagination, newest first by (instant, id): the one cursor format of every list
// (usageEvents, quotaAlerts). A page is stable while rows are added, because it continues
// strictly after the last (instant, id) it returned.
import { badInput } from './errors';
import { isUuid } from './ids';

export const MAX_PAGE = 500;

export interface Keyset {
  /** Rows to ask for: one more than the page, to know whether another page follows. */
  limit: number;
  /** The (instant, id) to continue after, or nulls for the first page. */
  afterInstant: string | null;
  afterId: string | null;
}

/** Checks `first` (0 to 500) and decodes `after`; errors name the argument. */
export function keyset(first: number, after: string | null | undefined): Keyset {
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE) throw badInput(['first'], `must be 0 to ${MAX_PAGE}`);
  if (!after) return { limit: first + 1, afterInstant: null, afterId: null };
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(after, 'base64url').toString('utf8'));
  } catch {
    c = null;
  }
  if (!isCursor(c)) throw badInput(['after'], 'is not a cursor from this list');
  return { limit: first + 1, afterInstant: c[0], afterId: c[1] };
}

const CURSOR_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Exactly what connection() writes: [an instant as toISOString prints it, a UUID]. A forged
 * one (a rolled-over date such as 2026-02-30, year 0 or past 9999, a number, extra items)
 * would otherwise reach PostgreSQL and fail there, or page from a wrong place.
 */
function isCursor(c: unknown): c is [string, string] {
  if (!Array.isArray(c) || c.length !== 2 || typeof c[0] !== 'string' || !isUuid(c[1])) return false;
  if (!CURSOR_INSTANT.test(c[0]) || c[0] < '0001') return false;
  const d = new Date(c[0]);
  return !Number.isNaN(d.getTime()) && d.toISOString() === c[0];
}

/** The connection for rows fetched with keyset(first).limit. */
export function connection<T extends { id: string }>(rows: T[], first: number, instantOf: (row: T) => Date | string) {
  const page = rows.slice(0, first);
  const cursorOf = (r: T) =>
    Buffer.from(JSON.stringify([new Date(instantOf(r)).toISOString(), r.id])).toString('base64url');
  return {
    edges: page.map((node) => ({ cursor: cursorOf(node), node })),
    pageInfo: {
      hasNextPage: rows.length > first,
      endCursor: page.length ? cursorOf(page[page.length - 1] as T) : null,
    },
  };
}
