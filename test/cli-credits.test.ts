// `tally grant` and `tally wallet`, run as processes against one real server: money in
// (idempotent on --idempotency-key), a wallet with its grants in the tenant's zone within 80
// columns, the threshold, voids, and refusals that name their option.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY, type SeededTenant } from './support/harness';
import { overlong, parsed, type TallyRun, tallyAt } from './support/tally-cli';

let h: Harness;
let cli: ReturnType<typeof tallyAt>;
const tally = (args: string[], key = OPERATOR_KEY): Promise<TallyRun> => cli.run(args, key);
let acme: SeededTenant;

beforeAll(async () => {
  h = await createHarness('cli_credits');
  cli = tallyAt(`http://127.0.0.1:${(await h.listen()).port}/graphql`, OPERATOR_KEY);
  acme = await h.seed.tenant('Credits Acme', 'Asia/Tokyo');
});
afterAll(async () => h?.close());

describe('tally grant and tally wallet', () => {
  it('grant puts money in once per key; wallet shows balance and grants; void takes the rest out', async () => {
    const args = [
      'grant',
      '--tenant',
      acme.id,
      '--amount',
      '25.50',
      '--reason',
      'trial credits',
      '--idempotency-key',
      'cli-g1',
    ];
    const first = await tally(args);
    expect(first.code).toBe(0);
    const id = /grant\s+(\S+)/.exec(first.out)?.[1] as string;
    expect(first.out).toContain('amount   25.5');
    const again = parsed(await tally(['--json', ...args]));
    expect(again.id).toBe(id);
    expect(again.amount).toBe('25.500000000000');
    const conflict = await tally(['grant', '--tenant', acme.id, '--amount', '26', '--idempotency-key', 'cli-g1']);
    expect(conflict.code).not.toBe(0);
    expect(conflict.err).toContain('IDEMPOTENCY_CONFLICT');
    const second = await tally([
      'grant',
      '--tenant',
      acme.id,
      '--amount',
      '5',
      '--priority=-1',
      '--expires-at',
      '2099-01-01T00:00:00Z',
    ]);
    expect(second.err).toBe('');
    expect(second.out).toContain('priority -1');

    const shown = await tally(['wallet', '--tenant', acme.id]);
    expect(shown.code).toBe(0);
    expect(overlong(shown.out)).toEqual([]);
    expect(shown.out).toMatch(/balance\s+30\.5 USD/);
    expect(shown.out).toMatch(/available\s+30\.5/);
    expect(shown.out).toContain(id);
    expect(shown.out).toContain('2099-01-01 09:00'); // the expiry in Tokyo
    const json = parsed(await tally(['--json', 'wallet', '--tenant', acme.id]));
    expect(json).toMatchObject({ balance: '30.500000000000', subject: null, currency: 'USD' });
    expect(json.grants).toHaveLength(2);

    // The tenant's own READ key reads it without --tenant; an ADMIN key sets the threshold.
    const read = await acme.key(['READ']);
    expect(parsed(await tally(['--json', 'wallet'], read.secret)).balance).toBe('30.500000000000');
    const th = await tally(['wallet', 'threshold', '40'], acme.adminKey);
    expect(th.code).toBe(0);
    expect(th.out).toContain('low balance below 40 USD; available 30.5 (below it now: fired)');
    expect((await tally(['wallet', 'threshold', 'none'], acme.adminKey)).out).toContain('no low-balance threshold');

    const voided = await tally(['grant', 'void', id]);
    expect(voided.code).toBe(0);
    expect(voided.out).toContain(`voided ${id}`);
    expect(parsed(await tally(['--json', 'wallet', '--tenant', acme.id])).balance).toBe('5.000000000000');
    const all = await tally(['wallet', '--tenant', acme.id, '--all']);
    expect(all.out).toContain('voided');
  });

  it('refusals name what is wrong: no wallet, a bad amount, a tenant key granting', async () => {
    const other = await h.seed.tenant('No Credits');
    const none = await tally(['wallet', '--tenant', other.id]);
    expect(none.code).not.toBe(0);
    expect(none.err).toContain('NOT_FOUND');
    const bad = await tally(['grant', '--tenant', acme.id, '--amount', '1e3']);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/amount/);
    const tenantKey = await tally(['grant', '--tenant', acme.id, '--amount', '1'], acme.adminKey);
    expect(tenantKey.code).toBe(3);
    expect(tenantKey.err).toContain('only the operator grants credits');
    const missing = await tally(['grant', '--amount', '1']);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('--tenant');
  });
});
