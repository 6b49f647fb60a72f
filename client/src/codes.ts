// The contract's error codes (`extensions.code` of a GraphQL error, `UserError.code` of a batch
// item), in one list with no imports. The server reads it too (server/src/lib/error-codes.ts
// re-exports this file), so both sides name the same codes and the client imports nothing of
// the server.
export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'IDEMPOTENCY_CONFLICT',
  'PRICE_NOT_FOUND',
  'RESERVATION_INVALID',
  'QUERY_TOO_COMPLEX',
  'RATE_LIMITED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Codes only the client gives, never the server: TIMEOUT (no answer within `timeoutMs`,
 * retries included; the call may still have been carried out, so retry writes with the same
 * idempotency key) and ABORTED (the caller's AbortSignal fired).
 */
export const CLIENT_ERROR_CODES = ['TIMEOUT', 'ABORTED'] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];
