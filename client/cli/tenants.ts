// tally tenants create | list | show
import { documents as D, TallyError } from '../src/index';
import { client, moreAfter, out, program } from './context';
import { fields, table } from './format';
import { limitsTable } from './plans';
import { showInstant } from './time';

const tenants = program.command('tenants').description('tenants (operator)');

tenants
  .command('create')
  .description('a tenant and its first ADMIN key (the secret is shown once)')
  .requiredOption('--name <name>')
  .option('--timezone <zone>', 'IANA zone for days and months', 'UTC')
  .option('--currency <code>', 'ISO 4217 code it is billed in', 'USD')
  .option('--plan <code>', 'start on this plan')
  .action(async (o) => {
    const r = await client().createTenant({
      name: o.name,
      timezone: o.timezone,
      currency: o.currency,
      planCode: o.plan,
    });
    out(r, () =>
      [
        `tenant   ${r.apiKey.tenant.id}`,
        `key      ${r.apiKey.prefix} (${r.apiKey.scopes.join(', ')})`,
        `secret   ${r.secret}   (shown once)`,
      ].join('\n'),
    );
  });

tenants
  .command('list')
  .description('every tenant, newest first (operator)')
  .option('--limit <n>', 'at most this many', '50')
  .option('--after <cursor>', 'continue after this cursor (printed when there are more)')
  .action(async (o) => {
    const limit = count(o.limit, '--limit');
    const rows: {
      cursor: string;
      node: { id: string; name: string; timezone: string; currency: string; createdAt: string };
    }[] = [];
    let after: string | undefined = o.after;
    let more = false;
    while (rows.length < limit) {
      const page: Awaited<ReturnType<typeof fetchPage>> = await fetchPage(Math.min(500, limit - rows.length), after);
      rows.push(...page.edges);
      more = page.pageInfo.hasNextPage;
      if (!more || !page.pageInfo.endCursor) break;
      after = page.pageInfo.endCursor;
    }
    const next = more ? (rows.at(-1)?.cursor ?? null) : null;
    moreAfter(next);
    out({ tenants: rows.map((e) => e.node), hasNextPage: more, endCursor: next }, () => {
      const text = table(
        ['id', { head: 'name', min: 10 }, { head: 'timezone', min: 10 }, { head: 'created', fit: 'keep' }],
        rows.map(({ node: t }) => [t.id, t.name, t.timezone, showInstant(t.createdAt, t.timezone, 'day')]),
      );
      return text;
    });
  });

const fetchPage = async (first: number, after: string | undefined) =>
  (await client().request(D.TenantsQuery, { first, ...(after ? { after } : {}) })).tenants;

tenants
  .command('show [id]')
  .description("a tenant, its plan and its limits (default: the key's own)")
  .action(async (id: string | undefined) => {
    const c = client();
    const own = id ? undefined : (await c.viewer()).tenant?.id;
    if (!id && !own)
      throw new TallyError('BAD_USER_INPUT', 'the operator key must name the tenant: tally tenants show <id>');
    const t = await c.tenant((id ?? own) as string);
    if (!t) throw new TallyError('NOT_FOUND', `no tenant ${id}`);
    out(t, () => {
      const m = t.membership;
      const plan = m
        ? `${m.plan.code} (${m.plan.name}) since ${showInstant(m.startsAt, t.timezone, 'minute')}${m.endsAt ? ` until ${showInstant(m.endsAt, t.timezone, 'minute')}` : ''}`
        : 'none';
      const head = fields([
        ['tenant', t.id],
        ['name', t.name],
        ['timezone', t.timezone],
        ['currency', t.currency],
        ['created', showInstant(t.createdAt, t.timezone, 'minute')],
        ['plan', plan],
      ]);
      return m?.plan.limits.length ? `${head}\n\n${limitsTable(m.plan.limits)}` : head;
    });
  });

/** A positive whole number from an option, or a usage error naming it. */
export function count(s: string, option: string, max = 100_000): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new TallyError('BAD_USER_INPUT', `${option} "${s}": use a whole number from 1 to ${max}`);
  return n;
}
