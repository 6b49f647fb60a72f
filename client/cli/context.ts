// What every command shares: the program and its global options, the client they make, the
// tenant a command acts on (with its zone), and output (JSON, or text fitted to the width).
import { Command, Option } from 'commander';
import { createTallyClient, type TallyClient, TallyError } from '../src/index';
import { layout } from './format';

export const program = new Command('tally')
  .description('Tally: usage metering, quotas and billing for AI APIs')
  .addOption(new Option('--url <url>', 'GraphQL endpoint').env('TALLY_URL').default('http://localhost:4000/graphql'))
  .addOption(new Option('--api-key <secret>', 'API key (or the operator key)').env('TALLY_API_KEY'))
  .option('--json', 'print JSON instead of tables (decimals stay exact strings)', false)
  .option('--wide', 'do not fit tables to the terminal width (default: its width, or 80)', false)
  .configureHelp({ sortSubcommands: true })
  .showHelpAfterError()
  .exitOverride();

/** The command whose action runs (its options name the fields of an input error). */
export const current: { command?: Command } = {};

program.hook('preAction', (_, command) => {
  current.command = command;
  if (program.opts<{ wide: boolean }>().wide) layout.width = Number.POSITIVE_INFINITY;
});

/** The endpoint as given, checked to be an http(s) URL (so a typo is named, not "fetch failed"). */
export function endpoint(): string {
  const { url } = program.opts<{ url: string }>();
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:'))
    throw new TallyError('BAD_USER_INPUT', `--url "${url}" is not an http(s) URL, e.g. http://localhost:4000/graphql`);
  return url;
}

/** The key or token every request carries. */
export function apiKey(): string {
  const { apiKey } = program.opts<{ apiKey?: string }>();
  if (!apiKey) throw new TallyError('UNAUTHENTICATED', 'give --api-key or set TALLY_API_KEY');
  return apiKey;
}

let made: TallyClient | undefined;
export function client(): TallyClient {
  made ??= createTallyClient({ url: endpoint(), apiKey: apiKey() });
  return made;
}

export const json = () => program.opts<{ json: boolean }>().json;

/** Prints `value` as JSON with --json, else the text. */
export const out = (value: unknown, text: () => string) =>
  console.log(json() ? JSON.stringify(value, null, 2) : text());

/** When a list stopped before its end: how to go on, on stderr (stdout stays the list; --json carries endCursor). */
export function moreAfter(cursor: string | null) {
  if (cursor && !json()) console.error(`(more: add --after ${cursor})`);
}

export const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

export const collect = (v: string, prev: string[] = []) => [...prev, v];

export interface TenantInfo {
  id: string;
  name: string;
  timezone: string;
  currency: string;
}

/**
 * The tenant a command acts on: --tenant (an operator must give it), else the key's own.
 * Read first because the tenant's zone decides what "today" is and how dates are shown.
 */
export async function tenantOf(requested: string | undefined): Promise<TenantInfo> {
  const c = client();
  if (requested) {
    const t = await c.tenant(requested).catch((e: unknown) => {
      // The argument is tenant(id:); on the command line it is --tenant.
      if (e instanceof TallyError && e.field?.join('.') === 'id')
        throw new TallyError(e.code, e.message, { field: ['tenantId'], errors: e.errors });
      throw e;
    });
    if (!t) throw new TallyError('NOT_FOUND', `no tenant ${requested}`, { field: ['tenantId'] });
    return t;
  }
  const v = await c.viewer();
  if (v.tenant) return v.tenant;
  throw new TallyError('BAD_USER_INPUT', 'operator keys must name the tenant (tenantId)', { field: ['tenantId'] });
}
