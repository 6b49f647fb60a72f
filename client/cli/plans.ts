// tally plans set | list | assign | subjects, and tally limits set (a key's own limits)
import { TallyError } from '../src/index';
import { client, collect, list, moreAfter, out, program, tenantOf } from './context';
import { type Cell, dec, fields, table } from './format';
import { count } from './tenants';
import { showInstant } from './time';

/** "COST:DAY:10" with optional ":BLOCK|ALERT", ":80,100" and ":TENANT|API_KEY|SUBJECT". */
export function parseLimit(spec: string) {
  const [metric, period, amount, action = 'BLOCK', thresholds = '80,100', scope = 'TENANT'] = spec.split(':');
  if (!metric || !period || !amount)
    throw new TallyError('BAD_USER_INPUT', `limit "${spec}": use METRIC:PERIOD:AMOUNT[:ACTION[:THRESHOLDS[:SCOPE]]]`);
  return {
    metric: metric.toUpperCase(),
    period: period.toUpperCase(),
    amount,
    action: action.toUpperCase(),
    thresholds: list(thresholds).map(Number),
    scope: scope.toUpperCase(),
  } as never;
}

interface LimitShape {
  metric: string;
  period: string;
  scope: string;
  amount: string;
  action: string;
  thresholds: number[];
}

export function limitsTable(limits: LimitShape[]) {
  return table(
    ['metric', 'period', 'scope', 'amount', 'action', 'thresholds %'],
    limits.map((l) => [l.metric, l.period, l.scope, dec(l.amount), l.action, l.thresholds.join(',')]),
  );
}

/** One line per limit: "COST/DAY 10 BLOCK at 80,100%" (and the scope when not the tenant). */
const limitLines = (limits: LimitShape[]): Cell =>
  limits.length
    ? limits.map(
        (l) =>
          `${l.metric}/${l.period} ${dec(l.amount)} ${l.action} at ${l.thresholds.join(',')}%${l.scope === 'TENANT' ? '' : ` per ${l.scope}`}`,
      )
    : 'none';

const plans = program.command('plans').description('plans and their limits (set and assign: operator)');

plans
  .command('set')
  .description('creates or replaces a plan')
  .requiredOption('--code <code>')
  .requiredOption('--name <name>')
  .option(
    '--limit <spec>',
    'METRIC:PERIOD:AMOUNT[:ACTION[:THRESHOLDS[:SCOPE]]], repeatable, e.g. COST:DAY:10:BLOCK:80,100',
    collect,
    [],
  )
  .action(async (o) => {
    const p = await client().upsertPlan({ code: o.code, name: o.name, limits: o.limit.map(parseLimit) });
    out(p, () => `plan ${p.code} (${p.name})\n${limitsTable(p.limits)}`);
  });

plans
  .command('list')
  .description('every plan with its limits')
  .action(async () => {
    const rows = await client().plans();
    out(rows, () =>
      table(
        [
          { head: 'code', min: 8 },
          { head: 'name', min: 8 },
          { head: 'limits', fit: 'wrap', min: 24 },
        ],
        rows.map((p) => [p.code, p.name, limitLines(p.limits)]),
      ),
    );
  });

plans
  .command('assign')
  .description(
    'puts a tenant (or, with --subject, one of its end users) on a plan from now (or --from); the previous plan ends then',
  )
  .requiredOption('--tenant <id>', 'the tenant')
  .requiredOption('--plan <code>', 'the plan')
  .option('--subject <s>', "only this end user or device: the plan's limits count its usage")
  .option('--from <instant>', 'when it starts, ISO 8601 (default now)')
  .action(async (o) => {
    const m = await client().assignPlan({
      tenantId: o.tenant,
      planCode: o.plan,
      subject: o.subject,
      startsAt: o.from,
    });
    const zone = (await tenantOf(o.tenant)).timezone;
    out(m, () =>
      [
        fields([
          ['tenant', m.tenant.id],
          ...(m.subject != null ? [['subject', m.subject] as [string, string]] : []),
          ['plan', `${m.plan.code} (${m.plan.name})`],
          ['from', `${showInstant(m.startsAt, zone, 'minute')} ${zone}`],
          ...(m.endsAt ? [['until', `${showInstant(m.endsAt, zone, 'minute')} ${zone}`] as [string, string]] : []),
        ]),
        limitsTable(m.plan.limits),
      ].join('\n'),
    );
  });

plans
  .command('subjects')
  .description(
    "end users (subjects) with a plan of their own, not ended yet, newest start first; dates in the tenant's zone",
  )
  .option('--tenant <id>', "the tenant (default: the key's own)")
  .option('--subject <s>', 'only this subject')
  .option('--limit <n>', 'at most this many', '50')
  .option('--after <cursor>', 'continue after this cursor (printed when there are more)')
  .action(async (o: { tenant?: string; subject?: string; limit: string; after?: string }) => {
    const limit = count(o.limit, '--limit');
    const t = await tenantOf(o.tenant);
    const c = client();
    type Page = NonNullable<Awaited<ReturnType<typeof c.subjectMemberships>>>;
    const rows: Page['edges'] = [];
    let after = o.after;
    let more = false;
    while (rows.length < limit) {
      const page: Page | null = await c.subjectMemberships(t.id, {
        first: Math.min(500, limit - rows.length),
        after,
        subject: o.subject,
      });
      if (!page) break;
      rows.push(...page.edges);
      more = page.pageInfo.hasNextPage;
      if (!more || !page.pageInfo.endCursor) break;
      after = page.pageInfo.endCursor;
    }
    const next = more ? (rows.at(-1)?.cursor ?? null) : null;
    moreAfter(next);
    const memberships = rows.map((e) => e.node);
    out({ timezone: t.timezone, memberships, hasNextPage: more, endCursor: next }, () => {
      if (!memberships.length) return '(no subject has a plan of its own)';
      const at = (iso: string | null) => showInstant(iso, t.timezone, 'minute');
      return table(
        [
          { head: 'subject', min: 8 },
          { head: 'plan', min: 8 },
          { head: 'from', fit: 'keep' },
          { head: 'until', fit: 'keep' },
        ],
        memberships.map((m) => [m.subject, `${m.plan.code} (${m.plan.name})`, at(m.startsAt), at(m.endsAt)]),
      );
    });
  });

program
  .command('limits')
  .description("a key's own limits")
  .command('set')
  .requiredOption('--key <id>', 'the API key')
  .option('--limit <spec>', 'METRIC:PERIOD:AMOUNT[:ACTION[:THRESHOLDS]], repeatable; none clears them', collect, [])
  .action(async (o) => {
    const k = await client().setApiKeyLimits({ apiKeyId: o.key, limits: o.limit.map(parseLimit) });
    out(k, () => `limits of ${k.prefix} (${k.name})\n${limitsTable(k.limits)}`);
  });
