const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** IDs are UUIDs; anything else cannot name a row, so callers answer NOT_FOUND without asking the database. */
export const isUuid = (s: unknown): s is string => typeof s === 'string' && UUID_RE.test(s);
