// The `tally` commands an operator and a tenant admin use day to day, run as processes against
// one real server: tenants, plans, record / events / reverse, usage windows in the tenant's
// zone, failures that name their cause, 80-column output and --json everywhere.
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY, type SeededTenant } from './support/harness';
import { overlong, parsed, type TallyRun, tallyAt } from './support/tally-cli';

let h: Harness;
let url: string;
let cli: ReturnType<typeof tallyAt>;
const tally = (args: string[], key = OPERATOR_KEY): Promise<TallyRun> => cli.run(args, key);

// A tenant whose calendar day differs from UTC's for most of the day (UTC+14), with a long name.
const ZONE = 'Pacific/Kiritimati';
const LONG_NAME = 'Kiritimati Interplanetary Holdings and Subsidiaries Limited';
let kiri: SeededTenant;
let ingest: { secret: string; id: string };

beforeAll(async () => {
  h = await createHarness('cli_commands');
  url = `http://127.0.0.1:${(await h.listen()).port}/graphql`;
  cli = tallyAt(url, OPERATOR_KEY);
  kiri = await h.seed.tenant(LONG_NAME, ZONE);
  ingest = await kiri.key(['INGEST', 'READ'], 'gateway-with-a-rather-long-key-name');
});
afterAll(async () => h?.close());

describe('tenants', () => {
  it('list: every tenant with its whole id, newest first, paged with --limit and --after; show: plan and limits', async () => {
    const made = await tally([
      'tenants',
      'create',
      '--name',
      'Paged Two',
      '--timezone',
      'America/Argentina/Buenos_Aires',
    ]);
    expect(made.code).toBe(0);
    const second = /tenant\s+(\S+)/.exec(made.out)?.[1] as string;
    const all = parsed(await tally(['--json', 'tenants', 'list']));
    const ids = all.tenants.map((t: { id: string }) => t.id);
    expect(ids.slice(0, 2)).toEqual([second, kiri.id]);
    expect(all.hasNextPage).toBe(false);

    const text = await tally(['tenants', 'list']);
    expect(text.code).toBe(0);
    expect(overlong(text.out)).toEqual([]);
    expect(text.out).toContain(second);
    expect(text.out).toContain(kiri.id);
    expect(text.out).toMatch(/ Kiritimati \S*… /); // the long name is cut, the id is whole

    const one = await tally(['tenants', 'list', '--limit', '1']);
    expect(one.out).toContain(second);
    expect(one.out).not.toContain(kiri.id);
    const cursor = /--after (\S+)\)/.exec(one.err)?.[1] as string;
    expect(cursor).toBeTruthy();
    const rest = parsed(await tally(['--json', 'tenants', 'list', '--limit', '1', '--after', cursor]));
    expect(rest.tenants.map((t: { id: string }) => t.id)).toEqual([kiri.id]);

    const show = await tally(['tenants', 'show'], kiri.adminKey);
    expect(show.code).toBe(0);
    expect(show.out).toMatch(new RegExp(`tenant\\s+${kiri.id}`));
    expect(show.out).toMatch(/timezone\s+Pacific\/Kiritimati/);
    expect(show.out).toMatch(/plan\s+none/);
    const j = parsed(await tally(['--json', 'tenants', 'show', second]));
    expect(j).toMatchObject({ id: second, name: 'Paged Two', timezone: 'America/Argentina/Buenos_Aires' });
  });

  it('a tenant key may not list tenants (exit 3); show without an id tells the operator to give one', async () => {
    const r = await tally(['tenants', 'list'], kiri.adminKey);
    expect(r.code).toBe(3);
    expect(r.err).toContain('error: FORBIDDEN: only the operator lists tenants');
    const s = await tally(['tenants', 'show']);
    expect(s.code).toBe(1);
    expect(s.err).toContain('tally tenants show <id>');
  });

  it('a name with terminal control characters prints them as "?"', async () => {
    await h.seed.tenant('evil\u001b[2J\u0007name');
    const r = await tally(['tenants', 'list', '--limit', '1']);
    expect(r.out).toContain('evil?[2J?name');
    expect(r.out).not.toMatch(/\p{Cc}(?<!\n)/u);
  });
});

describe('plans', () => {
  it('list shows each plan with its limits, one per line, within 80 columns', async () => {
    const set = await tally([
      'plans',
      'set',
      '--code',
      'cli-basic',
      '--name',
      'Basic',
      '--limit',
      'COST:DAY:2:BLOCK:50,100',
      '--limit',
      'TOKENS:MONTH:1000000:ALERT:80:SUBJECT',
      '--limit',
      'REQUESTS:DAY:1000',
    ]);
    expect(set.code).toBe(0);
    const r = await tally(['plans', 'list']);
    expect(r.code).toBe(0);
    expect(overlong(r.out)).toEqual([]);
    const lines = r.out.split('\n');
    const at = lines.findIndex((l) => /^cli-basic\s+Basic\s+COST\/DAY 2 BLOCK at 50,100%$/.test(l));
    expect(at).toBeGreaterThan(1);
    expect(lines[at + 1]).toMatch(/^\s+TOKENS\/MONTH 1000000 ALERT at 80% per SUBJECT$/);
    expect(lines[at + 2]).toMatch(/^\s+REQUESTS\/DAY 1000 BLOCK at 80,100%$/);
    const j = parsed(await tally(['--json', 'plans', 'list']));
    const basic = j.find((p: { code: string }) => p.code === 'cli-basic');
    expect(basic.limits.map((l: { amount: string }) => l.amount)).toEqual([
      '2.000000000000',
      '1000000.000000000000',
      '1000.000000000000',
    ]);
  });

  it('assign puts a tenant on a plan (shown in its zone); errors name --plan and --tenant', async () => {
    const r = await tally(['plans', 'assign', '--tenant', kiri.id, '--plan', 'cli-basic']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/plan\s+cli-basic \(Basic\)/);
    expect(r.out).toMatch(/from\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2} Pacific\/Kiritimati/);
    const [m] = await h.sql(
      `SELECT p.code FROM memberships m JOIN plans p ON p.id = m.plan_id WHERE m.tenant_id = $1 AND m.ends_at IS NULL`,
      [kiri.id],
    );
    expect(m.code).toBe('cli-basic');
    const show = await tally(['tenants', 'show', kiri.id]);
    expect(show.out).toMatch(/plan\s+cli-basic \(Basic\) since/);
    expect(show.out).toMatch(/COST\s+DAY\s+TENANT\s+2\s+BLOCK\s+50,100/);

    const unknown = await tally(['plans', 'assign', '--tenant', kiri.id, '--plan', 'no-such-plan']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('NOT_FOUND');
    expect(unknown.err).toContain('--plan');
    const admin = await tally(['plans', 'assign', '--tenant', kiri.id, '--plan', 'cli-basic'], kiri.adminKey);
    expect(admin.code).toBe(3);
    expect(admin.err).toContain('FORBIDDEN: only the operator assigns plans');
    const missing = await tally(['plans', 'assign', '--plan', 'cli-basic']);
    expect(missing.code).toBe(2); // a required option: the command line is wrong
    expect(missing.err).toContain("required option '--tenant <id>' not specified");
  });
});

describe('record, events list, reverse', () => {
  const events: Record<string, string> = {};
  const TWO_DAYS_AGO = new Date(Date.now() - 2 * 86_400_000).toISOString();

  it('record writes one entry (exact decimal cost) and is idempotent on --idempotency-key', async () => {
    const base = ['record', '--kind', 'llm', '--provider', 'openai', '--model', 'gpt-4o-2024-08-06-long-name'];
    const rows: [string, string[]][] = [
      ['a', [...base, '--input-tokens', '1000', '--output-tokens', '200', '--cost', '0.0125', '--subject', 'user-1']],
      ['b', [...base, '--input-tokens', '10', '--output-tokens', '2', '--cost', '0.0001', '--subject', 'user-2']],
      [
        'c',
        [
          'record',
          '--kind',
          'asr',
          '--provider',
          'openai',
          '--model',
          'whisper-1',
          '--duration-ms',
          '65000',
          '--cost',
          '0.0065',
          '--at',
          TWO_DAYS_AGO,
        ],
      ],
      ['d', ['record', '--kind', 'call', '--quantity', '3', '--cost', '0.3', '--subject', 'x'.repeat(60)]],
    ];
    for (const [name, args] of rows) {
      const r = parsed(await tally(['--json', ...args, '--idempotency-key', `cli-${name}`], ingest.secret));
      expect(r.outcome).toBe('CREATED');
      events[name] = r.event.id;
    }
    const [a] = await h.sql('SELECT cost::text, input_tokens, subject FROM usage_events WHERE id = $1', [events.a]);
    expect(a).toEqual({ cost: '0.012500000000', input_tokens: 1000, subject: 'user-1' });

    const again = await tally([...rows[0]![1], '--idempotency-key', 'cli-a'], ingest.secret);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/outcome\s+DUPLICATE/);
    expect(again.out).toMatch(new RegExp(`event\\s+${events.a}`));
    expect(again.out).toMatch(/cost\s+0\.0125 USD/);
    const conflict = await tally([...rows[1]![1], '--idempotency-key', 'cli-a'], ingest.secret);
    expect(conflict.code).toBe(1);
    expect(conflict.err).toContain('IDEMPOTENCY_CONFLICT');
    expect(conflict.err).toContain('--idempotency-key');
    const asr = await tally(['record', '--kind', 'asr', '--duration-ms', '1500', '--cost', '0.001'], ingest.secret);
    expect(asr.out).toMatch(/audio\s+1\.5 s/);
    expect(asr.out).toMatch(/key\s+cli-[0-9a-f-]{36}/); // a fresh key of its own, printed
    events.e = /event\s+(\S+)/.exec(asr.out)?.[1] as string;
  });

  it('record refuses what is not a number or JSON before calling, naming the option', async () => {
    const tokens = await tally(['record', '--kind', 'llm', '--model', 'm', '--input-tokens', '1.5'], ingest.secret);
    expect(tokens.code).toBe(1);
    expect(tokens.err).toContain('--input-tokens "1.5": use a whole number');
    const meta = await tally(['record', '--kind', 'call', '--metadata', '{nope'], ingest.secret);
    expect(meta.err).toContain('--metadata is not JSON');
    const server = await tally(['record', '--kind', 'llm', '--input-tokens', '5'], ingest.secret);
    expect(server.code).toBe(1);
    expect(server.err).toMatch(/BAD_USER_INPUT: .*\(field input\.model: --model\)/);
  });

  it('events list filters by model, subject, kind and key; JSON keeps exact decimals; paging with --after', async () => {
    const ids = async (args: string[]) =>
      parsed(await tally(['--json', 'events', 'list', ...args], kiri.adminKey)).events.map((e: { id: string }) => e.id);
    const filters: [string[], (string | undefined)[]][] = [
      [[], [events.e, events.d, events.b, events.a, events.c]],
      [
        ['--model', 'gpt-4o-2024-08-06-long-name'],
        [events.b, events.a],
      ],
      [['--subject', 'user-1'], [events.a]],
      [
        ['--kind', 'asr'],
        [events.e, events.c],
      ],
      [['--key', kiri.adminKeyId], []],
      [
        ['--key', ingest.id, '--provider', 'openai'],
        [events.b, events.a, events.c],
      ],
    ];
    const got = await Promise.all(filters.map(([args]) => ids(args)));
    expect(got).toEqual(filters.map(([, want]) => want));
    expect(await ids(['--today'])).not.toContain(events.c);
    const j = parsed(await tally(['--json', 'events', 'list', '--subject', 'user-1'], kiri.adminKey));
    expect(j.events[0]).toMatchObject({ cost: '0.012500000000', currency: 'USD', inputTokens: 1000 });
    expect(j.timezone).toBe(ZONE);

    const first = await tally(['events', 'list', '--limit', '2'], kiri.adminKey);
    const cursor = /--after (\S+)\)/.exec(first.err)?.[1] as string;
    expect(cursor).toBeTruthy();
    expect(await ids(['--limit', '2', '--after', cursor])).toEqual([events.b, events.a]);
  });

  it('events list: times in the tenant zone, whole ids, within 80 columns (a table with --wide)', async () => {
    const r = await tally(['events', 'list'], kiri.adminKey);
    expect(r.code).toBe(0);
    expect(overlong(r.out)).toEqual([]);
    for (const id of Object.values(events)) expect(r.out).toContain(id);
    const [local] = await h.sql(
      `SELECT to_char(occurred_at AT TIME ZONE $2, 'YYYY-MM-DD HH24:MI:SS') AS t FROM usage_events WHERE id = $1`,
      [events.a, ZONE],
    );
    expect(r.out).toContain(local.t);
    expect(r.out.split('\n')[0]).toMatch(
      /^last 7d: \d{4}-\d{2}-\d{2} \d{2}:\d{2} to .* Pacific\/Kiritimati · Kiritimati/,
    );
    const wide = await tally(['events', 'list', '--wide'], kiri.adminKey);
    const row = wide.out.split('\n').find((l) => l.startsWith(events.a as string)) as string;
    expect(row).toContain(local.t);
    expect(row).toMatch(/LLM\s+openai\/gpt-4o-2024-08-06-long-name\s+user-1\s+SUCCEEDED\s+1000\s+200\s+0\.0125 USD$/);
  });

  it('reverse appends the cancelling entry once; the usage nets out', async () => {
    const r = await tally(['reverse', events.b as string, '--reason', 'refund'], kiri.adminKey);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/outcome\s+CREATED/);
    expect(r.out).toMatch(/cost\s+-0\.0001 USD/);
    const rid = /event\s+(\S+)/.exec(r.out)?.[1] as string;
    const [row] = await h.sql('SELECT reverses_id, cost::text, reason FROM usage_events WHERE id = $1', [rid]);
    expect(row).toEqual({ reverses_id: events.b, cost: '-0.000100000000', reason: 'refund' });
    const again = await tally(['reverse', events.b as string, '--reason', 'refund'], kiri.adminKey);
    expect(again.out).toMatch(/outcome\s+DUPLICATE/);
    const twice = await tally(['reverse', events.b as string, '--idempotency-key', 'other'], kiri.adminKey);
    expect(twice.code).toBe(1);
    expect(twice.err).toContain('(field input.eventId: <eventId>)');
    const list = await tally(['events', 'list', '--wide', '--subject', 'user-2'], kiri.adminKey);
    expect(list.out).toMatch(new RegExp(`${rid}.*REVERSAL\\s+-10\\s+-2\\s+-0\\.0001 USD`));
    const u = parsed(await tally(['--json', 'usage', '--group-by', 'subject'], kiri.adminKey));
    const user2 = u.buckets.find((b: { subject: string }) => b.subject === 'user-2');
    expect(user2.totals).toMatchObject({ requests: 0, inputTokens: 0, cost: '0.000000000000' });
  });
});

describe('usage windows', () => {
  it("--today is the tenant's calendar day (PostgreSQL's), --last 7d reaches back, dates in its zone", async () => {
    const today = parsed(await tally(['--json', 'usage', '--today'], kiri.adminKey));
    const [day] = await h.sql(
      `SELECT date_trunc('day', now(), $1) AS "from", date_trunc('day', now() + interval '1 day', $1) AS "to"`,
      [ZONE],
    );
    // (run near local midnight, "now" may differ by the test's own runtime: allow the next day)
    expect([day.from.toISOString(), day.to.toISOString()]).toContain(today.from);
    expect(Date.parse(today.to) - Date.parse(today.from)).toBe(86_400_000); // Kiritimati has no DST
    const week = parsed(await tally(['--json', 'usage'], kiri.adminKey));
    expect(week.totals.requests - today.totals.requests).toBe(1); // the ASR entry two days ago
    expect(week.totals.cost).toMatch(/^\d+\.\d{12}$/);

    const text = await tally(['usage', '--group-by', 'model', '--granularity', 'day'], kiri.adminKey);
    expect(text.code).toBe(0);
    const [asr] = await h.sql(
      `SELECT to_char(occurred_at AT TIME ZONE $1, 'YYYY-MM-DD') AS d FROM usage_events WHERE idempotency_key = 'cli-c'`,
      [ZONE],
    );
    expect(text.out).toMatch(new RegExp(`^${asr.d}\\s+whisper-1\\s+1\\s+0\\s+0\\s+65\\s`, 'm'));
    expect(text.out).toMatch(/^total\s+/m);
    expect(text.out).toMatch(/cost USD/);

    const range = parsed(await tally(['--json', 'usage', '--from', asr.d, '--to', `${asr.d} 23:59:59`], kiri.adminKey));
    expect(range.totals.requests).toBe(1);
    const [start] = await h.sql(`SELECT ($1::date::timestamp AT TIME ZONE $2) AS s`, [asr.d, ZONE]);
    expect(range.from).toBe(start.s.toISOString()); // a bare date is midnight in the tenant's zone
  });

  it('refuses two windows at once, a bad duration and an impossible date, naming the option', async () => {
    const both = await tally(['usage', '--today', '--last', '2d'], kiri.adminKey);
    expect(both.code).toBe(1);
    expect(both.err).toContain('give one of --last, --today');
    expect((await tally(['usage', '--last', '7y'], kiri.adminKey)).err).toContain('--last "7y"');
    expect((await tally(['usage', '--from', '2026-02-30'], kiri.adminKey)).err).toContain('--from "2026-02-30"');
  });

  it('the operator key must name the tenant: usage, events and keys create say to add --tenant', async () => {
    for (const args of [['usage'], ['events', 'list'], ['keys', 'create', '--name', 'k', '--scopes', 'READ']]) {
      const r = await tally(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err, args.join(' ')).toContain('the operator key must name the tenant: add --tenant <id>');
    }
    const ok = await tally(['--json', 'usage', '--tenant', kiri.id]);
    expect(parsed(ok).timezone).toBe(ZONE);
  });
});

describe('80 columns', () => {
  it('no line of a wide case is longer than 80, and nothing that is an id is cut', async () => {
    await h.sql(`UPDATE api_keys SET last_used_at = now() WHERE id = $1`, [ingest.id]);
    await h.seed.price({
      provider: 'anthropic',
      model: 'claude-3-5-sonnet-20241022-with-a-long-suffix',
      inputPerMillion: '3',
      outputPerMillion: '15',
      cachedInputPerMillion: '0.3',
      cacheWriteInputPerMillion: '3.75',
    });
    const runs: [string, string[]][] = [
      ['usage by model and subject', ['usage', '--group-by', 'model,subject,api_key', '--granularity', 'hour']],
      ['events', ['events', 'list']],
      ['keys', ['keys', 'list', '--include-revoked']],
      ['quota', ['quota', '--subject', 'x'.repeat(60)]],
      ['plans', ['plans', 'list']],
      ['prices', ['prices', 'list']],
    ];
    const outs = await Promise.all(runs.map(([, args]) => tally(args, kiri.adminKey)));
    for (const [i, r] of outs.entries()) {
      const what = runs[i]?.[0];
      expect(r.code, `${what}: ${r.err}`).toBe(0);
      expect(overlong(r.out), what).toEqual([]);
    }
    const keys = outs[2] as TallyRun;
    expect(outs[5]?.out).toMatch(/^\s+cache-write\/M 3\.75$/m); // one rate a line, whole
    expect(keys.out).toContain(ingest.id);
    expect(keys.out).toContain(kiri.adminKeyId);
    // Too many columns for 80 even cut: each row becomes "name  value" lines, nothing lost.
    expect(outs[0]?.out).toMatch(/^subject {3}x{60}$/m);
    expect(outs[0]?.out).toMatch(/^hour {6}\d{4}-\d{2}-\d{2} \d{2}:00$/m);
    // Fewer: a table, the long subject cut; a wider terminal (COLUMNS) shows it whole.
    const cutAt80 = await tally(['usage', '--group-by', 'model,subject'], kiri.adminKey);
    expect(overlong(cutAt80.out)).toEqual([]);
    expect(cutAt80.out).toMatch(/ x+… /);
    expect(cutAt80.out).not.toContain('x'.repeat(60));
    const unfit = await cli.run(['usage', '--group-by', 'model,subject'], kiri.adminKey, { COLUMNS: '200' });
    expect(unfit.out).toContain('x'.repeat(60));
    expect(unfit.out.split('\n').some((l) => l.length > 80)).toBe(true);
  });
});

describe('failures', () => {
  it('a URL where nothing listens names the URL and ECONNREFUSED (exit 4), not "fetch failed"', async () => {
    // A port that was free a moment ago: nothing listens there now.
    const dead = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const at = `http://127.0.0.1:${dead}/graphql`;
    const r = await cli.run(['keys', 'list'], kiri.adminKey, { TALLY_URL: at });
    expect(r.code).toBe(4);
    expect(r.err.trim()).toBe(`error: cannot reach Tally at ${at}: ECONNREFUSED (nothing listens there)`);
    // recordUsage retries: still the same answer once the attempts are spent
    const rec = await cli.run(['record', '--kind', 'call'], ingest.secret, { TALLY_URL: at });
    expect(rec.err).toContain('ECONNREFUSED');
  });

  it('a URL that is not the GraphQL endpoint, and one that is no URL, say so', async () => {
    const root = url.replace(/graphql$/, 'nothing-here');
    const r = await cli.run(['keys', 'list'], kiri.adminKey, { TALLY_URL: root });
    expect(r.code).toBe(4);
    expect(r.err).toContain(`error: ${root} answered HTTP 404, not GraphQL`);
    const bad = await cli.run(['keys', 'list'], kiri.adminKey, { TALLY_URL: 'localhost:4000' });
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('--url "localhost:4000" is not an http(s) URL');
  });

  it('the command line itself wrong: exit 2; no key: exit 3; reconcile says where it runs', async () => {
    const unknown = await tally(['events', 'list', '--nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("unknown option '--nope'");
    const nokey = await tally(['keys', 'list'], '');
    expect(nokey.code).toBe(3);
    expect(nokey.err).toContain('UNAUTHENTICATED: give --api-key or set TALLY_API_KEY');
    const rec = await tally(['reconcile', '--rebuild']);
    expect(rec.code).toBe(1);
    expect(rec.err).toContain('npm run reconcile');
  });
});

describe('--json everywhere', () => {
  it('every read command prints JSON that parses, decimals as strings', async () => {
    const reads: [string[], string][] = [
      [['tenants', 'show'], 'id'],
      [['keys', 'list'], '0'],
      [['plans', 'list'], '0'],
      [['prices', 'list'], ''],
      [['quota'], 'items'],
      [['usage'], 'totals'],
      [['events', 'list'], 'events'],
    ];
    const runs = await Promise.all(reads.map(([args]) => tally(['--json', ...args], kiri.adminKey)));
    for (const [i, r] of runs.entries()) {
      const [args, key] = reads[i] as [string[], string];
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(0);
      const j = parsed(r);
      if (key) expect(j[key], args.join(' ')).toBeDefined();
    }
    const q = parsed(runs[4] as TallyRun); // quota
    expect(typeof q.items[0].used).toBe('string');
  });
});
