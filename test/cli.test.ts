// The `tally` command, run as a process against a real server, as an operator would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY } from './support/harness';
import { type TallyRun, tallyAt } from './support/tally-cli';

let h: Harness;
let cli: ReturnType<typeof tallyAt>;
beforeAll(async () => {
  h = await createHarness('cli');
  cli = tallyAt(`http://127.0.0.1:${(await h.listen()).port}/graphql`, OPERATOR_KEY);
});
afterAll(async () => h?.close());

const tally = (args: string[], key = OPERATOR_KEY): Promise<TallyRun> => cli.run(args, key);

const secretOf = (out: string) => /secret\s+(tly_\S+)/.exec(out)?.[1] as string;

describe('tally', () => {
  let admin: string;
  let tenantId: string;

  it('tenants create prints the tenant and its ADMIN secret once', async () => {
    const r = await tally(['tenants', 'create', '--name', 'CLI Corp', '--timezone', 'Europe/Berlin']);
    expect(r.code).toBe(0);
    tenantId = /tenant\s+(\S+)/.exec(r.out)?.[1] as string;
    admin = secretOf(r.out);
    expect(admin).toMatch(/^tly_[0-9a-f]{8}_/);
    const [row] = await h.sql('SELECT name, timezone FROM tenants WHERE id = $1', [tenantId]);
    expect(row).toEqual({ name: 'CLI Corp', timezone: 'Europe/Berlin' });
  });

  it('keys create | list | revoke', async () => {
    const c = await tally(['keys', 'create', '--name', 'gateway', '--scopes', 'ingest,read'], admin);
    expect(c.code).toBe(0);
    const keyId = /key\s+(\S+)/.exec(c.out)?.[1] as string;
    expect(c.out).toContain('INGEST, READ');
    const l = await tally(['keys', 'list', '--wide'], admin);
    expect(l.out).toMatch(/gateway\s+tly_[0-9a-f]{8}\s+INGEST,READ\s+never/);
    const j = JSON.parse((await tally(['--json', 'keys', 'list', '--tenant', tenantId])).out) as { id: string }[];
    expect(j.map((k) => k.id)).toContain(keyId);
    const r = await tally(['keys', 'revoke', keyId], admin);
    expect(r.out).toMatch(/^revoked tly_/);
    expect((await tally(['keys', 'list'], admin)).out).not.toContain('gateway');
    expect((await tally(['keys', 'list', '--include-revoked'], admin)).out).toContain('gateway');
  });

  it('plans set and limits set', async () => {
    const p = await tally([
      'plans',
      'set',
      '--code',
      'cli-pro',
      '--name',
      'CLI Pro',
      '--limit',
      'COST:DAY:1:BLOCK:50,100',
      '--limit',
      'REQUESTS:MONTH:1000:ALERT',
    ]);
    expect(p.code).toBe(0);
    expect(p.out).toMatch(/COST\s+DAY\s+TENANT\s+1\s+BLOCK\s+50,100/);
    await h.ok(
      OPERATOR_KEY,
      `mutation($t: ID!) { assignPlan(input: { tenantId: $t, planCode: "cli-pro" }) { startsAt } }`,
      { t: tenantId },
    );
    const keyId = (
      await h.sql('SELECT id FROM api_keys WHERE tenant_id = $1 ORDER BY created_at LIMIT 1', [tenantId])
    )[0].id;
    const l = await tally(['limits', 'set', '--key', keyId, '--limit', 'TOKENS:DAY:100000:BLOCK:90'], admin);
    expect(l.code).toBe(0);
    expect(l.out).toMatch(/TOKENS\s+DAY\s+API_KEY\s+100000\s+BLOCK\s+90/);
  });

  it('prices set, and prices import of a LiteLLM price map reports what it set and skipped (more: test/pricing/import.test.ts)', async () => {
    const s = await tally([
      'prices',
      'set',
      '--provider',
      'acme',
      '--model',
      'm1',
      '--input',
      '0.15',
      '--output',
      '0.6',
    ]);
    expect(s.out).toContain('input/M 0.15, output/M 0.6');
    const i = await tally(['prices', 'import', 'test/fixtures/litellm-prices.json']);
    expect(i.code).toBe(0);
    expect(i.out).toContain('set 22 price(s) (22 added, 0 changed), 0 unchanged, skipped 7');
    expect(i.err).toContain('importing'); // the progress bar, on stderr
    const [row] = await h.sql(
      `SELECT input_per_million::text AS i, cache_write_input_per_million::text AS w, cached_input_per_million::text AS c
         FROM prices WHERE tenant_id IS NULL AND provider = 'anthropic' AND model = 'claude-sonnet-4-5'`,
    );
    expect(row).toEqual({ i: '3.000000000000', w: '3.750000000000', c: '0.300000000000' });
    const [whisper] = await h.sql(`SELECT per_second::text AS s FROM prices WHERE model = 'whisper-1'`);
    expect(whisper.s).toBe('0.000100000000');
    // "deepseek/deepseek-chat" and "deepseek-chat" name one price: one row, the qualified entry's
    const deepseek = await h.sql(`SELECT provider FROM prices WHERE model = 'deepseek-chat'`);
    expect(deepseek).toEqual([{ provider: 'deepseek' }]);
  });

  it('usage prints a table (and --json), quota prints the limits', async () => {
    for (const [k, model, n] of [
      ['u1', 'gpt-4o-mini', 1000],
      ['u2', 'gpt-4o', 2000],
      ['u3', 'gpt-4o', 500],
    ] as const)
      await h.ok(admin, 'mutation($i: RecordUsageInput!) { recordUsage(input: $i) { outcome } }', {
        i: { idempotencyKey: k, kind: 'LLM', provider: 'openai', model, inputTokens: n, outputTokens: 100 },
      });
    const from = new Date(Date.now() - 86_400_000).toISOString();
    const to = new Date(Date.now() + 86_400_000).toISOString();
    const u = await tally(['usage', '--from', from, '--to', to, '--group-by', 'model', '--granularity', 'day'], admin);
    expect(u.code).toBe(0);
    expect(u.out).toMatch(/gpt-4o\s+2\s+2500\s+200/);
    expect(u.out).toMatch(/gpt-4o-mini\s+1\s+1000\s+100/);
    expect(u.out).toMatch(/total\s+3\s+3500\s+300/);
    const j = JSON.parse((await tally(['--json', 'usage', '--from', from, '--to', to], admin)).out);
    expect(j.totals.requests).toBe(3);
    const q = await tally(['quota'], admin);
    expect(q.out).toMatch(/^ok \(tenant /);
    expect(q.out).toMatch(/COST\s+DAY\s+TENANT\s+1\s+/);
  });

  it('watch prints alerts and quota updates live', async () => {
    const w = cli.start(['watch'], admin);
    const p = w.p;
    try {
      const until = async (re: RegExp) => {
        const deadline = Date.now() + 15_000;
        while (!re.test(w.out()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(w.out()).toMatch(re);
      };
      await until(/QUOTA\s+ok/);
      await h.ok(admin, 'mutation($i: RecordUsageInput!) { recordUsage(input: $i) { outcome } }', {
        i: { idempotencyKey: 'w1', kind: 'CALL', cost: '0.6' },
      });
      await until(/ALERT\s+COST DAY reached 50% \(used 0\.6\d* of 1\)/);
      await until(/QUOTA\s+ok\s+COST\/DAY 0\.6/);
    } finally {
      p.kill('SIGINT');
    }
  });

  it('errors carry the contract code and exit non-zero', async () => {
    const bad = await tally(['keys', 'list'], 'tly_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(bad.code).toBe(3);
    expect(bad.err).toContain('error: UNAUTHENTICATED');
    const input = await tally(['tenants', 'create', '--name', 'x', '--timezone', 'Mars/Olympus']);
    expect(input.code).toBe(1);
    expect(input.err).toContain('BAD_USER_INPUT');
    expect(input.err).toContain('field input.timezone');
  });
});
