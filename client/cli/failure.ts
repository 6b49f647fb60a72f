// How a failed command reads on stderr, and its exit code:
//   1  Tally refused the request (its contract code, and the field as the option to fix)
//   2  the command line itself is wrong (unknown option, missing argument)
//   3  the key: UNAUTHENTICATED or FORBIDDEN
//   4  Tally could not be reached, did not answer in time, or did not answer GraphQL (the URL and
//      the cause, e.g. ECONNREFUSED)
import { type Command, CommanderError } from 'commander';
import { TallyError } from '../src/index';
import { clean } from './format';

/** Tally's answer never came whole (an export cut short, a page that is not Tally): its message says all (exit 4). */
export class Unanswered extends Error {
  override readonly name = 'Unanswered';
}

export interface Failure {
  message: string;
  code: number;
}

/** What a system error code means, for the codes a wrong URL or a dead server gives. */
const CAUSES: Record<string, string> = {
  ECONNREFUSED: 'nothing listens there',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved now',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'no answer in time',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  EPIPE: 'the connection was closed',
  UND_ERR_CONNECT_TIMEOUT: 'no connection in time',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_SOCKET: 'the connection broke',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'a self-signed certificate',
  CERT_HAS_EXPIRED: 'an expired certificate',
  ERR_TLS_CERT_ALTNAME_INVALID: 'a certificate for another host',
};

/** The first system error code in a chain of causes (fetch wraps it: TypeError("fetch failed").cause.code). */
export function systemCause(e: unknown): { code: string; detail: string } | null {
  const seen = new Set<unknown>();
  let at: unknown = e;
  while (at && typeof at === 'object' && !seen.has(at)) {
    seen.add(at);
    const o = at as { code?: unknown; errors?: unknown[]; cause?: unknown; name?: string };
    if (typeof o.code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(o.code) && o.name !== 'TallyError')
      return { code: o.code, detail: CAUSES[o.code] ?? '' };
    // Several addresses tried (localhost: ::1 and 127.0.0.1): an AggregateError of them.
    const inner = Array.isArray(o.errors) ? o.errors.find((x) => systemCause(x)) : undefined;
    if (inner) return systemCause(inner);
    at = o.cause;
  }
  return null;
}

/** The message of the last error in a chain of causes ("fetch failed" is caused by "bad port"). */
function innermost(e: unknown): string | undefined {
  let at = e as { cause?: unknown; message?: unknown } | undefined;
  for (let n = 0; n < 10 && at?.cause && typeof at.cause === 'object'; n++) at = at.cause as typeof at;
  return typeof at?.message === 'string' ? at.message : undefined;
}

/** Turns what a command threw into a message and an exit code. */
export function describe(e: unknown, url: string, command: Command | undefined): Failure {
  if (e instanceof CommanderError) return { message: '', code: e.exitCode === 0 ? 0 : 2 };
  if (e instanceof Unanswered) return { message: clean(e.message), code: 4 };
  if (e instanceof TallyError) {
    if (e.errors.length === 0 && e.code === 'INTERNAL') {
      // Not an answer of Tally's: the transport failed, or something else answered.
      const cause = systemCause(e.cause);
      if (cause)
        return {
          message: `cannot reach Tally at ${url}: ${cause.code}${cause.detail ? ` (${cause.detail})` : ''}`,
          code: 4,
        };
      if (e.status !== undefined && e.status < 500)
        return {
          message: `${url} answered HTTP ${e.status}, not GraphQL: is --url Tally's GraphQL endpoint (…/graphql)?`,
          code: 4,
        };
      const inner = innermost(e);
      const why = inner && inner !== e.message && !e.message.includes(inner) ? ` (${inner})` : '';
      return { message: `no answer from Tally at ${url}: ${clean(e.message + why)}`, code: 4 };
    }
    // The package's transport ends a call at its deadline with TIMEOUT (retries included).
    if ((e.code as string) === 'TIMEOUT')
      return { message: `no answer from Tally at ${url} in time: ${clean(e.message)}`, code: 4 };
    const field = e.field?.length ? e.field : undefined;
    const option = field ? optionFor(command, field) : undefined;
    if (e.code === 'BAD_USER_INPUT' && option === '--tenant' && /must name the tenant/.test(e.message))
      return {
        message: `the operator key must name the tenant: add --tenant <id> (${e.code}, field ${field?.join('.')})`,
        code: 1,
      };
    const where = field ? ` (field ${field.join('.')}${option ? `: ${option}` : ''})` : '';
    return {
      message: `${e.code}: ${clean(e.message)}${where}`,
      code: e.code === 'UNAUTHENTICATED' || e.code === 'FORBIDDEN' ? 3 : 1,
    };
  }
  const cause = systemCause(e);
  if (cause)
    return {
      message: `cannot reach Tally at ${url}: ${cause.code}${cause.detail ? ` (${cause.detail})` : ''}`,
      code: 4,
    };
  return { message: clean(String((e as Error)?.message ?? e)), code: 1 };
}

/** Input fields whose option is not simply the field's name in kebab case. */
const RENAMED: Record<string, string> = {
  tenantId: 'tenant',
  apiKeyId: 'key',
  planCode: 'plan',
  idempotencyKey: 'idempotency-key',
  occurredAt: 'at',
  effectiveFrom: 'from',
  cacheWriteInputTokens: 'cache-write-tokens',
  cachedInputTokens: 'cached-tokens',
  inputPerMillion: 'input',
  outputPerMillion: 'output',
  cachedInputPerMillion: 'cached-input',
  cacheWriteInputPerMillion: 'cache-write',
  startsAt: 'from',
  expiresInSeconds: 'expires-in',
};

/** The option (or argument) of `command` that sets the input field, e.g. input.timezone -> --timezone. */
export function optionFor(command: Command | undefined, field: readonly string[]): string | undefined {
  const last = [...field].reverse().find((f) => Number.isNaN(Number(f)));
  if (!command || !last) return undefined;
  if (command.registeredArguments.some((a) => a.name() === last)) return `<${last}>`;
  const kebab = RENAMED[last] ?? last.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return command.options.find((o) => o.long === `--${kebab}`)?.long;
}
