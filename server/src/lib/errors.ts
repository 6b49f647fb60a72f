// The one place that creates client-facing errors. Every error a client sees carries a
// contract code in extensions.code (and extensions.field for input errors); nothing from a
// driver or the ORM ever reaches a client. graphql/contract-errors.ts maps every error that
// leaves the server, whatever the transport, to what this module defines.
import { GraphQLError } from 'graphql';

import { ERROR_CODES, type ErrorCode } from './error-codes';

export { ERROR_CODES, type ErrorCode };

export const CONTRACT_CODES: ReadonlySet<string> = new Set<string>(ERROR_CODES);

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = { UNAUTHENTICATED: 401, RATE_LIMITED: 429 };

/** A failure the caller can act on. Thrown by services; shown to clients as is. */
export class AppError extends GraphQLError {
  readonly code: ErrorCode;
  readonly field: string[] | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    field?: string[],
    private readonly extra?: Record<string, unknown>,
  ) {
    const status = HTTP_STATUS[code];
    super(message, {
      extensions: { code, ...(field ? { field } : {}), ...extra, ...(status ? { http: { status } } : {}) },
    });
    this.code = code;
    this.field = field;
  }

  /** The same failure with its field under `prefix`: an item judged alone, answered as the argument it came in. */
  within(prefix: string[]): AppError {
    return new AppError(this.code, this.message, this.field && [...prefix, ...this.field], this.extra);
  }
}

/** A per-item error inside a batch result (the contract's UserError). */
export interface UserError {
  code: ErrorCode;
  message: string;
  field?: string[] | null;
}

/** An AppError as a batch item's result shows it (the GraphQL layer converts, at the edge). */
export const toUserError = (e: AppError): UserError => ({ code: e.code, message: e.message, field: e.field ?? null });

export const badInput = (field: string | string[], message: string) =>
  new AppError('BAD_USER_INPUT', message, Array.isArray(field) ? field : [field]);
export const notFound = (what: string, field?: string[]) => new AppError('NOT_FOUND', `${what} was not found`, field);
export const idempotencyConflict = (field: string[] = ['idempotencyKey']) =>
  new AppError('IDEMPOTENCY_CONFLICT', 'idempotency key reused with a different payload', field);
export const forbidden = (message = 'this key may not do that') => new AppError('FORBIDDEN', message);
export const unauthenticated = (message = 'a valid API key is required (Authorization: Bearer tly_...)') =>
  new AppError('UNAUTHENTICATED', message);

/** PostgreSQL refuses NUL in text and JSON; every stored string is checked for it first. */
export function containsNul(v: unknown): boolean {
  if (typeof v === 'string') return v.includes('\u0000');
  if (Array.isArray(v)) return v.some(containsNul);
  if (v && typeof v === 'object') return Object.entries(v).some(([k, x]) => k.includes('\u0000') || containsNul(x));
  return false;
}

/**
 * By shape, not instanceof: a process can hold two copies of graphql-js (its ESM and CJS
 * builds, as under vitest), and an error from the other copy must still count as ours.
 */
export function isGraphQLError(e: unknown): e is GraphQLError {
  return e instanceof GraphQLError || (e instanceof Error && e.name === 'GraphQLError' && 'extensions' in e);
}

/**
 * The contract code a client sees for `e`: its own when it is a contract code; else an
 * unexpected failure (an original that is not a GraphQLError) is INTERNAL, and graphql-js's own
 * parse, validation and coercion refusals are BAD_USER_INPUT (graphql/contract-errors.ts).
 */
export function contractCode(e: { extensions?: Record<string, unknown>; originalError?: unknown }): ErrorCode {
  const code = e.extensions?.code;
  if (typeof code === 'string' && CONTRACT_CODES.has(code)) return code as ErrorCode;
  return e.originalError && !isGraphQLError(e.originalError) ? 'INTERNAL' : 'BAD_USER_INPUT';
}
