// tally export events | summary: Tally's CSV exports (GET /export/usage-events.csv and
// /export/usage-summary.csv, beside the GraphQL endpoint --url names), with the window and
// filters of `events list` and `usage`. The CSV is streamed as it arrives, to stdout or to
// --out FILE, never held in memory. A file is written under a temporary name and renamed when
// the export ended whole, so an export cut short leaves no file that looks complete (and an
// older FILE untouched). An answer that is an error (JSON with a contract code) fails as
// GraphQL's do; one that is neither CSV nor that is no Tally (exit 4).
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type GraphQLErrorShape, TallyError } from '../src/index';
import { apiKey, endpoint, out, program, tenantOf } from './context';
import { Unanswered } from './failure';
import {
  bucketOptions,
  defaultWindow,
  dimensionsOf,
  type FilterOptions,
  filterOf,
  filterOptions,
  type WindowOptions,
  windowOptions,
} from './filters';
import { windowOf } from './time';

/** How long the export may take to start answering (its rows may then take as long as they take). */
const ANSWER_MS = 60_000;

/** The export `file` beside the GraphQL endpoint: http://h:4000/graphql -> http://h:4000/export/<file>. */
export function exportUrl(graphqlUrl: string, file: string, params: URLSearchParams): string {
  const u = new URL(graphqlUrl);
  u.pathname = `${u.pathname.replace(/\/graphql\/?$/, '').replace(/\/$/, '')}/export/${file}`;
  u.search = params.toString();
  u.hash = '';
  return u.toString();
}

type ExportOptions = WindowOptions & FilterOptions & { out?: string; groupBy?: string; granularity?: string };

const exp = program
  .command('export')
  .description('usage as CSV (the export endpoints), to stdout or --out FILE, streamed');

function common<C>(cmd: C, fallback: string): C {
  windowOptions(cmd, fallback);
  filterOptions(cmd);
  (cmd as { option: (f: string, d: string) => unknown }).option(
    '--out <file>',
    'write the CSV to this file (replaced only once the export is whole) and say how many rows',
  );
  return cmd;
}

const events = exp
  .command('events')
  .description('every ledger entry of the window and filters, oldest first (default the last 7 days)');
common(events, '7d');
events.action((o: ExportOptions) => run('usage-events.csv', o));

const summary = exp
  .command('summary')
  .description('totals of the window and filters, per --group-by and --granularity bucket');
common(summary, '7d; 1h with --granularity minute');
bucketOptions(summary).action((o: ExportOptions) => run('usage-summary.csv', o));

async function run(file: 'usage-events.csv' | 'usage-summary.csv', o: ExportOptions) {
  const key = apiKey();
  const t = await tenantOf(o.tenant); // its zone says what --today and a bare date are
  const w = windowOf(o, t.timezone, Date.now(), defaultWindow(o.granularity));
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filterOf(o, w))) if (v != null) params.set(k, v);
  if (file === 'usage-summary.csv') {
    const dims = dimensionsOf(o.groupBy ?? '');
    if (dims.length) params.set('groupBy', dims.map((d) => d.toUpperCase()).join(','));
    if (o.granularity) params.set('granularity', o.granularity.toUpperCase());
  }
  const url = exportUrl(endpoint(), file, params);
  const shown = url.split('?')[0] as string; // messages name the export, not every parameter
  const toFile = o.out !== undefined && o.out !== '-';
  // The file is opened before asking, so a folder that is not there fails before any export runs.
  const target = toFile ? path.resolve(o.out as string) : '';
  const partial = toFile ? path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.part`) : '';
  const handle = toFile
    ? await open(partial, 'w').catch((e: NodeJS.ErrnoException) => {
        throw new Error(`cannot write ${o.out}: ${e.code ?? e.message}`);
      })
    : undefined;
  const counted = rowCounter();
  try {
    const res = await answer(url, shown, key);
    const body = Readable.fromWeb(res.body as never);
    try {
      if (handle) await pipeline(body, counted.stream, handle.createWriteStream());
      else await pipeline(body, counted.stream, process.stdout, { end: false });
    } catch (e) {
      // A reader that stopped early (`| head`) is not a failure of the export.
      if (!handle && (e as { code?: string }).code === 'EPIPE') return;
      throw new Unanswered(
        `the export from ${shown} was cut short after ${counted.rows} rows (${reason(e)})${handle ? `; ${o.out} was not written` : ''}`,
      );
    }
    if (!handle) return;
    await rename(partial, target);
    const asOf = res.headers.get('x-tally-as-of');
    out(
      { file: o.out, rows: counted.rows, bytes: counted.bytes, asOf },
      () => `wrote ${counted.rows} rows to ${o.out}${asOf ? ` (as of ${asOf})` : ''}`,
    );
  } finally {
    await handle?.close().catch(() => {});
    if (handle) await rm(partial, { force: true });
  }
}

/** The export's response once it is known to be CSV; an error answer thrown as what it says. */
async function answer(url: string, shown: string, key: string): Promise<Response> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), ANSWER_MS);
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { authorization: `Bearer ${key}`, accept: 'text/csv, application/json' },
      signal: ctl.signal,
    });
  } catch (cause) {
    if (ctl.signal.aborted)
      throw new TallyError('TIMEOUT', `GET ${shown} did not start answering within ${ANSWER_MS / 1000} s`);
    throw new TallyError('INTERNAL', `network error: GET ${shown} failed`, { retryable: true, cause });
  } finally {
    clearTimeout(timer);
  }
  const type = (res.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
  if (res.status === 200 && type === 'text/csv' && res.body) return res;
  if (type === 'application/json') {
    const body = (await res.json().catch(() => null)) as { errors?: GraphQLErrorShape[] } | null;
    if (body?.errors?.length) throw TallyError.fromGraphQL(body.errors, res.status);
  } else await res.body?.cancel();
  throw new Unanswered(
    `GET ${shown} answered HTTP ${res.status}${type ? ` (${type})` : ''}, not a CSV export: is --url Tally's GraphQL endpoint (…/graphql)?`,
  );
}

/** Counts CSV records as they pass (a newline outside quotes ends one), less the header. */
function rowCounter() {
  let quoted = false;
  let lines = 0;
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i];
        if (b === 0x22) quoted = !quoted;
        else if (b === 0x0a && !quoted) lines++;
      }
      done(null, chunk);
    },
  });
  return {
    stream,
    get rows() {
      return Math.max(0, lines - 1);
    },
    get bytes() {
      return bytes;
    },
  };
}

/** The innermost message of a failed stream ("terminated" is caused by "other side closed"). */
function reason(e: unknown): string {
  let at = e as { cause?: unknown; message?: string } | undefined;
  for (let n = 0; n < 10 && at?.cause && typeof at.cause === 'object'; n++) at = at.cause as typeof at;
  return at?.message ?? String(e);
}
