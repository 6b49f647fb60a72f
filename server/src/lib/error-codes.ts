// The contract's error codes, in one list with no dependencies, so the server and the typed
// client (client/src/errors.ts, which must also run in browsers) share it.
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
