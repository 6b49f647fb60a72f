// The `tally` commands of issue 12's usage depth, run as processes against a real server:
// plans of single subjects (plans assign --subject, plans subjects), succeeded / failed calls
// (--status, --group-by status), minute buckets, subject tokens (tokens create, and the CLI run
// with one), and the CSV exports (export events | summary) to stdout or a file, streamed, with
// their errors as the contract's codes and an export cut short never left as a whole-looking file.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY, RECORD, type SeededTenant } from './support/harness';
import { overlong, parsed, type TallyRun, tallyAt } from './support/tally-cli';

let h: Harness;
let base: string;
let cli: ReturnType<typeof tallyAt>;
const tally = (args: string[], key = OPERATOR_KEY): Promise<TallyRun> => cli.run(args, key);

// A zone half an hour off UTC, so minute buckets and local times cannot pass by accident.
const ZONE = 'Asia/Kolkata';
let t: SeededTenant;
const ids: Record<string, string> = {};
const NOW = Date.now();
const ago = (minutes: number) => new Date(NOW - minutes * 60_000).toISOString();
const dir = mkdtempSync(path.join(tmpdir(), 'tally-cli-depth-'));
const rows = (csv: string) => parse(csv, { columns: true }) as Record<string, string>[];

beforeAll(async () => {
  h = await createHarness('cli_usage_depth');
  base = `http://127.0.0.1:${(await h.listen()).port}`;
  cli = tallyAt(`${base}/graphql`, OPERATOR_KEY);
  t = await h.seed.tenant('Depth', ZONE);
  const inputs: [string, Record<string, unknown>][] = [
    ['a1', { kind: 'CALL', cost: '0.5', subject: 'alice', occurredAt: ago(30) }],
    [
      'b1',
      {
        kind: 'LLM',
        model: 'm1',
        inputTokens: 10,
        cost: '0.25',
        subject: 'bob',
        status: 'FAILED',
        occurredAt: ago(20),
      },
    ],
    ['a2', { kind: 'CALL', cost: '1', subject: 'alice', occurredAt: ago(10) }],
    ['q1', { kind: 'CALL', cost: '2', subject: 'a,b "c"', occurredAt: ago(5) }],
  ];
  for (const [k, input] of inputs)
    ids[k] = (await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: k, ...input } })).recordUsage.event.id;
  // A reason with a line break: one CSV record over two lines.
  ids.r2 = (
    await h.ok(t.adminKey, 'mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { event { id } } }', {
      input: { eventId: ids.a2, idempotencyKey: 'r2', reason: 'line one\nline "two"' },
    })
  ).reverseUsage.event.id;
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('plans of single subjects', () => {
  it('plans assign --subject puts one end user on a plan; plans subjects lists them, paged, in the zone', async () => {
    const set = await tally(['plans', 'set', '--code', 'device', '--name', 'Device', '--limit', 'REQUESTS:DAY:100']);
    expect(set.code, set.err).toBe(0);
    const a = await tally(['plans', 'assign', '--tenant', t.id, '--plan', 'device', '--subject', 'alice']);
    expect(a.code, a.err).toBe(0);
    expect(a.out).toMatch(/^subject\s+alice$/m);
    expect(a.out).toMatch(/^plan\s+device \(Device\)$/m);
    expect(a.out).toMatch(/^from\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2} Asia\/Kolkata$/m);
    const [m] = await h.sql('SELECT subject FROM memberships WHERE tenant_id = $1 AND subject IS NOT NULL', [t.id]);
    expect(m).toEqual({ subject: 'alice' });
    const b = parsed(
      await tally(['--json', 'plans', 'assign', '--tenant', t.id, '--plan', 'device', '--subject', 'bob']),
    );
    expect(b).toMatchObject({ subject: 'bob', plan: { code: 'device' } });

    const list = await tally(['plans', 'subjects'], t.adminKey);
    expect(list.code, list.err).toBe(0);
    expect(overlong(list.out)).toEqual([]);
    const [local] = await h.sql(
      `SELECT to_char(starts_at AT TIME ZONE $2, 'YYYY-MM-DD HH24:MI') AS s FROM memberships WHERE tenant_id = $1 AND subject = 'bob'`,
      [t.id, ZONE],
    );
    expect(list.out.split('\n')[0]).toMatch(/^subject\s+plan\s+from\s+until$/);
    expect(list.out).toMatch(new RegExp(`^bob\\s+device \\(Device\\)\\s+${local.s}\\s*$`, 'm')); // newest first
    expect(
      list.out
        .split('\n')
        .slice(2, 4)
        .map((l) => l.split(' ')[0]),
    ).toEqual(['bob', 'alice']);

    const first = await tally(['plans', 'subjects', '--limit', '1'], t.adminKey);
    const cursor = /--after (\S+)\)/.exec(first.err)?.[1] as string;
    expect(cursor).toBeTruthy();
    const rest = parsed(await tally(['--json', 'plans', 'subjects', '--after', cursor], t.adminKey));
    expect(rest.memberships.map((x: { subject: string }) => x.subject)).toEqual(['alice']);
    expect(rest).toMatchObject({ timezone: ZONE, hasNextPage: false });
    const one = parsed(await tally(['--json', 'plans', 'subjects', '--tenant', t.id, '--subject', 'alice']));
    expect(one.memberships).toEqual([
      expect.objectContaining({ subject: 'alice', plan: expect.objectContaining({ code: 'device' }) }),
    ]);

    const operator = await tally(['plans', 'subjects']);
    expect(operator.code).toBe(1);
    expect(operator.err).toContain('the operator key must name the tenant: add --tenant <id>');
    const admin = await tally(['plans', 'assign', '--tenant', t.id, '--plan', 'device', '--subject', 'x'], t.adminKey);
    expect(admin.code).toBe(3);
  });
});

describe('succeeded and failed calls, minute buckets', () => {
  it('events list --status, usage --group-by status, and usage --status filter', async () => {
    const failed = parsed(await tally(['--json', 'events', 'list', '--status', 'failed'], t.adminKey));
    expect(failed.events.map((e: { id: string }) => e.id)).toEqual([ids.b1]);
    const ok = parsed(
      await tally(['--json', 'events', 'list', '--status', 'SUCCEEDED', '--subject', 'alice'], t.adminKey),
    );
    expect(ok.events.map((e: { id: string }) => e.id).sort()).toEqual([ids.a1, ids.a2, ids.r2].sort());

    const text = await tally(['usage', '--group-by', 'status'], t.adminKey);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/^status\s+requests\s+in tok\s+out tok\s+quantity\s+cost USD$/m);
    expect(text.out).toMatch(/^FAILED\s+1\s+10\s+0\s+0\s+0\.25$/m);
    expect(text.out).toMatch(/^SUCCEEDED\s+2\s+0\s+0\s+2\s+2\.5$/m); // a1, q1; a2 and its reversal net out
    const j = parsed(await tally(['--json', 'usage', '--status', 'failed'], t.adminKey));
    expect(j.totals).toMatchObject({ requests: 1, cost: '0.250000000000' });
  });

  it('usage --granularity minute: the last hour by default, one row a minute in the zone; too long a range names the option', async () => {
    const r = await tally(['usage', '--granularity', 'minute'], t.adminKey);
    expect(r.code, r.err).toBe(0);
    expect(r.out.split('\n')[0]).toMatch(/^last 1h: .* Asia\/Kolkata · Depth$/);
    const [a1] = await h.sql(
      `SELECT to_char(occurred_at AT TIME ZONE $2, 'YYYY-MM-DD HH24:MI') AS m FROM usage_events WHERE id = $1`,
      [ids.a1, ZONE],
    );
    expect(r.out).toMatch(new RegExp(`^${a1.m}\\s+1\\s+0\\s+0\\s+1\\s+0\\.5$`, 'm'));
    const j = parsed(await tally(['--json', 'usage', '--granularity', 'minute', '--group-by', 'status'], t.adminKey));
    expect(Date.parse(j.to) - Date.parse(j.from)).toBe(65 * 60_000); // an hour, and the five minutes ahead
    expect(j.buckets.filter((b: { status: string }) => b.status === 'FAILED')).toHaveLength(1);
    const long = await tally(['usage', '--granularity', 'minute', '--last', '2d'], t.adminKey);
    expect(long.code).toBe(1);
    expect(long.err).toMatch(/BAD_USER_INPUT: .*\(field granularity: --granularity\)/);
    const dim = await tally(['usage', '--group-by', 'colour'], t.adminKey);
    expect(dim.err).toContain('--group-by "colour": use api_key, subject, model, provider, kind, status');
  });
});

describe('tokens create', () => {
  it('mints a subject token, shown once; the CLI run with it sees only that subject', async () => {
    const r = await tally(
      ['tokens', 'create', '--subject', 'alice', '--expires-in', '600', '--max-range-days', '7'],
      t.adminKey,
    );
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^token {4}tsk_[0-9a-f]{8}_[A-Za-z0-9_-]{43} {3}\(shown once\)$/);
    expect(lines.slice(1)).toEqual([
      'subject  alice',
      expect.stringMatching(/^expires {2}\d{4}-\d{2}-\d{2}T[\d:.]+Z$/),
    ]);
    expect(overlong(r.out)).toEqual([]);
    const token = lines[0]?.split(/\s+/)[1] as string;
    const expires = Date.parse(lines[2]?.slice(9) as string);
    expect(Math.abs(expires - Date.now() - 600_000)).toBeLessThan(60_000);
    const [row] = await h.sql('SELECT subject, max_range_days FROM subject_tokens WHERE prefix = $1', [
      token.slice(0, 12),
    ]);
    expect(row).toEqual({ subject: 'alice', max_range_days: 7 });

    // (the default window, a week and five minutes, is more than this token may read)
    const mine = parsed(await tally(['--json', 'usage', '--last', '1d', '--group-by', 'subject'], token));
    expect(mine.buckets.map((b: { subject: string }) => b.subject)).toEqual(['alice']);
    const other = await tally(['usage', '--today', '--subject', 'bob'], token);
    expect(other.code).toBe(3);
    expect(other.err).toMatch(/FORBIDDEN: .*\(field filter\.subject: --subject\)/);
    const wide = await tally(['usage', '--last', '8d'], token);
    expect(wide.code).toBe(1);
    expect(wide.err).toMatch(/BAD_USER_INPUT: .*at most 7 days.*\(field filter\.to: --to\)/);
    expect((await tally(['tokens', 'create', '--subject', 'x'], token)).code).toBe(3); // a token mints nothing

    const j = parsed(await tally(['--json', 'tokens', 'create', '--tenant', t.id, '--subject', 'bob']));
    expect(j).toMatchObject({ subject: 'bob', token: expect.stringMatching(/^tsk_/) });
    expect(Date.parse(j.expiresAt) - Date.now()).toBeGreaterThan(3_500_000); // the default hour
  });

  it('refuses bad values naming the option, and the operator without --tenant', async () => {
    const zero = await tally(['tokens', 'create', '--subject', 'x', '--expires-in', '0'], t.adminKey);
    expect(zero.code).toBe(1);
    expect(zero.err).toMatch(/BAD_USER_INPUT: .*\(field input\.expiresInSeconds: --expires-in\)/);
    const frac = await tally(['tokens', 'create', '--subject', 'x', '--expires-in', '1.5'], t.adminKey);
    expect(frac.err).toContain('--expires-in "1.5": use a whole number');
    const range = await tally(['tokens', 'create', '--subject', 'x', '--max-range-days', '401'], t.adminKey);
    expect(range.err).toMatch(/\(field input\.maxRangeDays: --max-range-days\)/);
    const operator = await tally(['tokens', 'create', '--subject', 'x']);
    expect(operator.code).toBe(1);
    expect(operator.err).toMatch(/--tenant/);
    const missing = await tally(['tokens', 'create'], t.adminKey);
    expect(missing.code).toBe(2);
  });
});

describe('export', () => {
  it('events: every entry of the window oldest first, as CSV on stdout, with the filters of events list', async () => {
    const r = await tally(['export', 'events', '--last', '2h'], t.adminKey);
    expect(r.code, r.err).toBe(0);
    const all = rows(r.out);
    expect(all.map((x) => x.id)).toEqual([ids.a1, ids.b1, ids.a2, ids.r2, ids.q1]); // a reversal at its entry's time
    expect(all.find((x) => x.id === ids.q1)).toMatchObject({ subject: 'a,b "c"', cost: '2.000000000000' });
    const alice = rows(
      (await tally(['export', 'events', '--subject', 'alice', '--status', 'succeeded'], t.adminKey)).out,
    );
    expect(alice.map((x) => x.id)).toEqual([ids.a1, ids.a2, ids.r2]);
    const failed = rows(
      (await tally(['export', 'events', '--tenant', t.id, '--status', 'failed', '--kind', 'llm'])).out,
    );
    expect(failed.map((x) => x.id)).toEqual([ids.b1]);
  });

  it('summary: --group-by and --granularity as usage takes them, exact decimals', async () => {
    const r = await tally(['export', 'summary', '--group-by', 'subject,status'], t.adminKey);
    expect(r.code, r.err).toBe(0);
    const got = rows(r.out).map((x) => [x.subject, x.status, x.requests, x.cost]);
    expect(got).toEqual(
      expect.arrayContaining([
        ['alice', 'SUCCEEDED', '1', '0.500000000000'],
        ['bob', 'FAILED', '1', '0.250000000000'],
        ['a,b "c"', 'SUCCEEDED', '1', '2.000000000000'],
      ]),
    );
    const minutes = rows((await tally(['export', 'summary', '--granularity', 'minute'], t.adminKey)).out);
    expect(minutes.map((x) => x.start)).toContain(
      new Date(Math.floor((NOW - 30 * 60_000) / 60_000) * 60_000).toISOString(),
    );
  });

  it('--out FILE: written whole, then named; says how many rows (a quoted line break is one row); --json reports it', async () => {
    const file = path.join(dir, 'events.csv');
    const r = await tally(['export', 'events', '--out', file], t.adminKey);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(
      new RegExp(
        `^wrote 5 rows to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(as of \\d{4}-\\d{2}-\\d{2}T[\\d:.]+Z\\)\\n$`,
      ),
    );
    const text = readFileSync(file, 'utf8');
    expect(rows(text).find((x) => x.id === ids.r2)?.reason).toBe('line one\nline "two"');
    expect(readdirSync(dir)).toEqual(['events.csv']); // no temporary file left behind
    const j = parsed(
      await tally(['--json', 'export', 'summary', '--group-by', 'model', '--out', path.join(dir, 's.csv')], t.adminKey),
    );
    expect(j).toMatchObject({ file: path.join(dir, 's.csv'), rows: 2, bytes: statSync(path.join(dir, 's.csv')).size }); // m1, and no model
    const nowhere = await tally(['export', 'events', '--out', path.join(dir, 'no', 'such', 'dir.csv')], t.adminKey);
    expect(nowhere.code).toBe(1);
    expect(nowhere.err).toContain('cannot write');
    expect(nowhere.err).toContain('ENOENT');
  });

  it('a refusal answers as GraphQL does: the code, the field as its option, the exit code', async () => {
    const alice = parsed(
      await tally(['--json', 'tokens', 'create', '--subject', 'alice', '--max-range-days', '1'], t.adminKey),
    ).token;
    const mine = rows((await tally(['export', 'events', '--last', '12h'], alice)).out);
    expect(mine.map((x) => x.subject)).toEqual(['alice', 'alice', 'alice']);
    const other = await tally(['export', 'events', '--last', '12h', '--subject', 'bob'], alice);
    expect(other.code).toBe(3);
    expect(other.err).toMatch(/^error: FORBIDDEN: .*\(field subject: --subject\)\n$/);
    expect(other.out).toBe('');
    const long = await tally(['export', 'summary', '--last', '2d'], alice);
    expect(long.code).toBe(1);
    expect(long.err).toMatch(/BAD_USER_INPUT: .*\(field to: --to\)/);
    const ingest = await t.key(['INGEST']);
    const scope = await tally(['export', 'events'], ingest.secret);
    expect(scope.code).toBe(3);
    expect(scope.err).toContain('FORBIDDEN: this operation needs a key with the READ scope');
    const minute = await tally(['export', 'summary', '--granularity', 'minute', '--last', '2d'], t.adminKey);
    expect(minute.err).toMatch(/BAD_USER_INPUT: .*\(field granularity: --granularity\)/);
    const operator = await tally(['export', 'events']);
    expect(operator.err).toContain('the operator key must name the tenant: add --tenant <id>');
  });

  describe('behind a proxy', () => {
    // Tally under a path prefix, through a proxy that can also cut an export short or answer
    // what is not Tally.
    let proxy: http.Server;
    let mode: 'pass' | 'cut' | 'html' = 'pass';
    let at: string;
    beforeAll(async () => {
      proxy = http.createServer(async (req, res) => {
        const prefix = '/behind/a/prefix';
        if (!req.url?.startsWith(`${prefix}/`)) return void res.writeHead(404).end();
        const target = base + req.url.slice(prefix.length);
        const exporting = req.url.startsWith(`${prefix}/export/`);
        if (exporting && mode === 'html')
          return void res.writeHead(200, { 'content-type': 'text/html' }).end('<p>sign in</p>');
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const r = await fetch(target, {
          method: req.method,
          headers: {
            authorization: req.headers.authorization ?? '',
            'content-type': req.headers['content-type'] ?? 'text/plain',
          },
          body: chunks.length ? Buffer.concat(chunks) : undefined,
        });
        const body = Buffer.from(await r.arrayBuffer());
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? '' });
        if (exporting && mode === 'cut') {
          // The header and two rows, then the connection breaks.
          let end = 0;
          for (let n = 0; n < 3; n++) end = body.indexOf('\n', end) + 1;
          res.write(body.subarray(0, end));
          setTimeout(() => res.destroy(), 100);
          return;
        }
        res.end(body);
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      at = `http://127.0.0.1:${(proxy.address() as { port: number }).port}/behind/a/prefix/graphql`;
    });
    afterAll(() => new Promise<void>((r) => proxy.close(() => r())));
    const via = (args: string[]) => cli.run(args, t.adminKey, { TALLY_URL: at });

    it('finds the export beside the GraphQL endpoint, under its path', async () => {
      mode = 'pass';
      const r = await via(['export', 'events', '--status', 'failed']);
      expect(r.code, r.err).toBe(0);
      expect(rows(r.out).map((x) => x.id)).toEqual([ids.b1]);
    });

    it('an export cut short fails (exit 4) and leaves an older FILE as it was, and no partial file', async () => {
      mode = 'cut';
      const file = path.join(dir, 'kept.csv');
      writeFileSync(file, 'the previous export\n');
      const r = await via(['export', 'events', '--out', file]);
      expect(r.code).toBe(4);
      expect(r.err).toContain(`error: the export from ${at.replace(/graphql$/, 'export/usage-events.csv')}`);
      expect(r.err).toMatch(/was cut short after 2 rows \(.+\); .*kept\.csv was not written/);
      expect(readFileSync(file, 'utf8')).toBe('the previous export\n');
      expect(readdirSync(dir).filter((f) => f.includes('kept'))).toEqual(['kept.csv']);
      const piped = await via(['export', 'events']);
      expect(piped.code).toBe(4);
      expect(rows(piped.out)).toHaveLength(2); // what came, then the failure on stderr
    });

    it('an answer that is not a CSV export says so (exit 4)', async () => {
      mode = 'html';
      const r = await via(['export', 'summary']);
      expect(r.code).toBe(4);
      expect(r.err).toMatch(/answered HTTP 200 \(text\/html\), not a CSV export: is --url Tally's GraphQL endpoint/);
      expect(existsSync(path.join(dir, 'no'))).toBe(false);
    });
  });
});
