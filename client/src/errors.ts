// One error class for everything a Tally call can fail with: GraphQL errors carry a contract
// code (and the input field for BAD_USER_INPUT); network failures and 5xx answers are
// INTERNAL with `retryable: true`; a call with no answer within its timeout is TIMEOUT
// (retryable), one whose AbortSignal fired is ABORTED.
import { CLIENT_ERROR_CODES, type ClientErrorCode, ERROR_CODES, type ErrorCode } from './codes';

export { CLIENT_ERROR_CODES, ERROR_CODES };
export type TallyErrorCode = ErrorCode | ClientErrorCode;

export interface GraphQLErrorShape {
  message: string;
  path?: (string | number)[] | undefined;
  extensions?: { code?: string; field?: string[]; [k: string]: unknown } | undefined;
}

export interface TallyErrorOptions {
  field?: string[] | undefined;
  retryable?: boolean | undefined;
  errors?: GraphQLErrorShape[] | undefined;
  status?: number | undefined;
  cause?: unknown;
}

export class TallyError extends Error {
  override readonly name = 'TallyError';
  readonly code: TallyErrorCode;
  /** The offending input field's path, for BAD_USER_INPUT and friends. */
  readonly field: string[] | undefined;
  /** True when retrying the same call may succeed (network failure, 5xx, INTERNAL, TIMEOUT). */
  readonly retryable: boolean;
  /** Every GraphQL error of the answer (the first one is this error). */
  readonly errors: GraphQLErrorShape[];
  /** The HTTP status of the answer, when there was one. */
  readonly status: number | undefined;

  constructor(code: TallyErrorCode, message: string, opts: TallyErrorOptions = {}) {
    super(message, { cause: opts.cause });
    this.code = code;
    this.field = opts.field;
    this.retryable = opts.retryable ?? (code === 'INTERNAL' || code === 'TIMEOUT');
    this.errors = opts.errors ?? [];
    this.status = opts.status;
  }

  static fromGraphQL(errors: GraphQLErrorShape[], status?: number): TallyError {
    const first = errors[0] as GraphQLErrorShape;
    const raw = first.extensions?.code;
    const code = (ERROR_CODES as readonly string[]).includes(raw ?? '') ? (raw as ErrorCode) : 'INTERNAL';
    return new TallyError(code, first.message, {
      field: first.extensions?.field,
      errors,
      status,
      retryable: code === 'INTERNAL' || code === 'RATE_LIMITED' || first.extensions?.retryable === true,
    });
  }
}
