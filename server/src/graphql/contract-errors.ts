// Errors leaving the server, mapped to the contract: unexpected ones masked as INTERNAL.
import { GraphQLError } from 'graphql';
import { isGraphQLError } from '../lib/errors';
import { type Logger, loggableError } from '../observability';
import { requestScope } from '../request-scope';

/**
 * yoga's maskError: errors raised on purpose (AppError and graphql-js's own) pass; an
 * unexpected one is replaced by INTERNAL (retryable when the database is away) and logged
 * with the request id.
 */
export function maskUnexpected(logger: Logger) {
  return (error: unknown, message: string): Error => {
    if (isGraphQLError(error) && (!error.originalError || isGraphQLError(error.originalError))) return error;
    const original = isGraphQLError(error) ? error.originalError : error;
    // A string PostgreSQL cannot store (NUL) that no field check caught is still the caller's input.
    const sqlState = (original as { driverError?: { code?: string } })?.driverError?.code;
    if (sqlState === '22021' || sqlState === '22P05')
      return new GraphQLError('text may not contain the NUL character', { extensions: { code: 'BAD_USER_INPUT' } });
    const requestId = requestScope.getStore()?.id;
    if (isDatabaseUnavailable(original ?? error)) {
      logger.warn({ err: loggableError(original ?? error), requestId }, 'database unavailable');
      return new GraphQLError(
        'the database is unavailable; retry (recording is idempotent: reuse the same idempotency key)',
        {
          extensions: { code: 'INTERNAL', retryable: true, ...(requestId ? { requestId } : {}) },
        },
      );
    }
    logger.error({ err: loggableError(original ?? error), requestId }, 'unexpected error');
    return new GraphQLError(message === 'Unexpected error.' ? 'internal error; see the server log' : message, {
      extensions: { code: 'INTERNAL', ...(requestId ? { requestId } : {}) },
    });
  };
}

const UNAVAILABLE_SQLSTATES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '53300',
]);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND']);

/** A failure to reach PostgreSQL (down, restarting, too many connections): retryable. */
function isDatabaseUnavailable(e: unknown): boolean {
  const err = e as { code?: string; driverError?: { code?: string; message?: string }; message?: string };
  const code = err?.driverError?.code ?? err?.code;
  if (code && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_NODE_CODES.has(code))) return true;
  const msg = err?.driverError?.message ?? err?.message ?? '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|terminating connection/i.test(
    msg,
  );
}
