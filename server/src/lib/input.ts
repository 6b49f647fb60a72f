// Hostile input, judged once for every field: text PostgreSQL cannot store (NUL, or a lone
// UTF-16 surrogate: half an emoji left by a careless slice(), which JSON.stringify writes as
// "\ud83d" and PostgreSQL's json parser refuses), values a scalar refused, and echoes of
// client values cut short so an error never answers megabytes.
import { randomUUID } from 'node:crypto';
import { type AppError, badInput, containsNul } from './errors';

/** Why PostgreSQL could not store this text, or null when it can. */
export function textProblem(s: string): string | null {
  if (s.includes('\u0000')) return 'may not contain the NUL character';
  if (!(s as unknown as { isWellFormed(): boolean }).isWellFormed())
    return 'may not contain a lone UTF-16 surrogate (half of a character, e.g. an emoji cut by slice())';
  return null;
}

/** textProblem of every string and object key in a JSON value. */
export function jsonProblem(v: unknown): string | null {
  if (typeof v === 'string') return textProblem(v);
  if (Array.isArray(v)) {
    for (const x of v) {
      const p = jsonProblem(x);
      if (p) return p;
    }
    return null;
  }
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const p = textProblem(k) ?? jsonProblem(x);
      if (p) return p;
    }
  }
  return null;
}

/**
 * What a custom scalar answers for a value it refuses, instead of throwing: a thrown error
 * fails the coercion of the whole operation, and so a whole recordUsageBatch for one bad item.
 * The argument guard (graphql/input-guard.ts) turns it into BAD_USER_INPUT naming the field,
 * or, inside a batch, into that item's INVALID result.
 */
export class RefusedValue {
  /** graphql-jit copies literal arguments as JSON, which keeps fields but not classes. */
  readonly refused = NONCE;
  constructor(readonly message: string) {}
}
/** Per process, so a client cannot write a JSON value that passes for a RefusedValue. */
const NONCE = randomUUID();

export const isRefused = (v: unknown): v is RefusedValue =>
  typeof v === 'object' && v !== null && (v as { refused?: unknown }).refused === NONCE;

/** A recordUsageBatch item the argument guard refused: the service answers it INVALID with this error. */
export class RefusedItem {
  constructor(readonly error: AppError) {}
}

export const MAX_ECHO = 40;
const CLIPPED = /\.\.\. \(\d+ characters\)$/;

/** A client value as an error message may quote it: at most MAX_ECHO characters, then how long it was. */
export function clip(value: string, max = MAX_ECHO): string {
  if (value.length <= max || (value.length <= max + 30 && CLIPPED.test(value))) return value;
  let head = value.slice(0, max);
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1);
  return `${head}... (${value.length} characters)`;
}

export const MAX_MESSAGE = 600;

/**
 * An error message with every quoted value in it clipped, and at most MAX_MESSAGE characters:
 * graphql-js quotes the whole offending value ('Variable "$input" got invalid value "999...";
 * ...' holds it twice). A scan, not a regular expression: values run to megabytes.
 */
export function clipMessage(message: string): string {
  if (message.length <= MAX_ECHO + 2) return message;
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    const open = message.indexOf('"', i);
    if (open < 0) break;
    let close = open + 1;
    while (close < message.length && message[close] !== '"') close += message[close] === '\\' ? 2 : 1;
    if (close >= message.length) break;
    parts.push(message.slice(i, open), '"', clip(message.slice(open + 1, close)), '"');
    i = close + 1;
  }
  parts.push(message.slice(i));
  const out = parts.join('');
  // Keep both ends: the start says what failed, the end where ('at "input.cost"') and why.
  if (out.length <= MAX_MESSAGE) return out;
  const head = clip(out, MAX_MESSAGE - 200).replace(CLIPPED, '');
  return `${head} ... ${out.slice(-180)}`;
}

/** A caller's idempotency key (a reversal's, a grant's): 1 to 255 printable characters. */
export function idempotencyKey(raw: string, field: string[]): string {
  if (raw.length < 1 || raw.length > 255 || /\p{C}/u.test(raw))
    throw badInput(field, 'must be 1 to 255 printable characters');
  return raw;
}

/** Why money moved, in a person's words (a reversal's, a grant's): at most 1000 characters, no NUL; null: none. */
export function reasonText(raw: string | null | undefined, field: string[]): string | null {
  if (raw != null && (raw.length > 1000 || containsNul(raw)))
    throw badInput(field, 'must be at most 1000 characters, without NUL');
  return raw ?? null;
}

/**
 * An end user (subject) named on purpose: a plan's or a wallet's owner. 1 to 255 characters
 * without NUL; null names none (the tenant itself). Filters, which may be empty, check less.
 */
export function namedSubject(raw: string | null | undefined, field: string[]): string | null {
  if (raw == null) return null;
  if (raw.length < 1 || raw.length > 255 || containsNul(raw)) throw badInput(field, 'must be 1 to 255 characters');
  return raw;
}
