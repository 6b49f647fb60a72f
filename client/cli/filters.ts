// What the commands that read usage share (usage, events list, export events|summary): the
// window (--last, --today, --month, --from/--to in the tenant's zone), the UsageFilter options
// (--key, --subject, --model, --provider, --kind, --status, --currency, --tenant), and the
// heading that says which window and tenant a table shows.
import { Option } from 'commander';
import { TallyError } from '../src/index';
import { clean, cut, layout } from './format';
import { showInstant, type Window, type WindowOptions } from './time';

type Cmd = { option: (...a: string[]) => Cmd; addOption: (o: Option) => Cmd };

/** --group-by and --granularity, for the commands that read summaries (usage, export summary). */
export function bucketOptions<C>(cmd: C): C {
  (cmd as Cmd)
    .option('--group-by <dims>', 'comma-separated: api_key, subject, model, provider, kind, status', '')
    .addOption(
      new Option('--granularity <g>', 'one row per bucket of this size (minute: 24 h at most)').choices([
        'minute',
        'hour',
        'day',
        'week',
        'month',
      ]),
    );
  return cmd;
}

/** --from/--to, --last, --today, --month on a command. */
export function windowOptions<C>(cmd: C, fallback: string): C {
  (cmd as Cmd)
    .option('--last <duration>', `the last m(inutes), h(ours), d(ays) or w(eeks), e.g. 24h (default ${fallback})`)
    .option('--today', "today in the tenant's zone")
    .option('--month', "this calendar month in the tenant's zone")
    .option('--from <instant>', "inclusive: 2026-11-01 or 2026-11-01 08:00 (the tenant's zone) or ISO 8601")
    .option('--to <instant>', 'exclusive (default now)');
  return cmd;
}

export interface FilterOptions {
  key?: string;
  subject?: string;
  model?: string;
  provider?: string;
  kind?: string;
  status?: string;
  currency?: string;
  tenant?: string;
}

/** The UsageFilter fields as options (each narrows; all of them together as GraphQL's filter does). */
export function filterOptions<C>(cmd: C): C {
  (cmd as Cmd)
    .option('--key <id>', 'only this API key')
    .option('--subject <s>', 'only this end user')
    .option('--model <name>')
    .option('--provider <name>')
    .addOption(new Option('--kind <kind>').choices(['llm', 'asr', 'call', 'LLM', 'ASR', 'CALL']))
    .addOption(
      new Option('--status <status>', 'only succeeded or only failed calls').choices([
        'succeeded',
        'failed',
        'SUCCEEDED',
        'FAILED',
      ]),
    )
    .option('--currency <code>', 'only usage priced in this currency')
    .option('--tenant <id>', 'operator: the tenant');
  return cmd;
}

/** The UsageFilter of the options and window (absent options stay absent). */
export function filterOf(o: FilterOptions, w: { from: string; to: string }) {
  return {
    tenantId: o.tenant,
    from: w.from,
    to: w.to,
    apiKeyId: o.key,
    subject: o.subject,
    model: o.model,
    provider: o.provider,
    kind: o.kind?.toUpperCase() as 'LLM' | 'ASR' | 'CALL' | undefined,
    status: o.status?.toUpperCase() as 'SUCCEEDED' | 'FAILED' | undefined,
    currency: o.currency,
  };
}

export const DIMENSIONS = ['api_key', 'subject', 'model', 'provider', 'kind', 'status'] as const;

/** --group-by "model, Subject" as dimensions, lower case; an unknown one is named. */
export function dimensionsOf(s: string): string[] {
  return s
    .split(',')
    .map((d) => d.trim().toLowerCase())
    .filter(Boolean)
    .map((d) => {
      if (!(DIMENSIONS as readonly string[]).includes(d))
        throw new TallyError('BAD_USER_INPUT', `--group-by "${d}": use ${DIMENSIONS.join(', ')}`);
      return d;
    });
}

/** The window a command reads when none is given: a week, an hour for minute buckets (Tally allows 24 h of them). */
export const defaultWindow = (granularity: string | undefined) => (granularity === 'minute' ? '1h' : '7d');

/** "last 7d: 2026-11-22 23:28 to 2026-11-29 23:33 Europe/Berlin · Acme", cut to the width. */
export const heading = (name: string, zone: string, w: Window) =>
  cut(
    clean(
      `${w.label}: ${showInstant(w.from, zone, 'minute')} to ${showInstant(w.to, zone, 'minute')} ${zone} · ${name}`,
    ),
    layout.width,
  );

export type { WindowOptions };
