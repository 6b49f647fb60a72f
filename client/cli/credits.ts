// tally wallet / tally grant: prepaid credits. `wallet` shows a tenant's (or one subject's)
// balance, holds and grants, dates in the tenant's zone; `wallet threshold` sets the low-balance
// threshold; `grant` puts money in (operator; idempotent on --idempotency-key, so repeating
// the printed command is harmless); `grant void` takes a grant's remainder out.
import { randomUUID } from 'node:crypto';
import { TallyError } from '../src/index';
import { client, out, program, tenantOf } from './context';
import { dec, fields, table } from './format';
import { showInstant } from './time';

/** A whole number, negative allowed (a priority), or a usage error naming the option. */
const signedInt = (option: string) => (s: string) => {
  if (!/^-?\d{1,7}$/.test(s.trim())) throw new TallyError('BAD_USER_INPUT', `${option} "${s}": use a whole number`);
  return Number(s);
};

const wallet = program
  .command('wallet')
  .description("a wallet's balance, holds and grants (READ key, or the operator with --tenant)")
  .option('--subject <s>', "one subject's own wallet (default: the tenant's)")
  .option('--tenant <id>', 'operator: the tenant')
  .option('--all', 'also spent, expired and voided grants', false)
  .action(async (o: { subject?: string; tenant?: string; all: boolean }) => {
    const t = await tenantOf(o.tenant);
    const w = await client().wallet({ tenantId: t.id, subject: o.subject, includeSpent: o.all });
    const at = (iso: string | null) => showInstant(iso, t.timezone, 'minute');
    out(w, () =>
      [
        fields([
          ['wallet', w.subject === null ? `${t.name} (tenant)` : `subject ${w.subject}`],
          ['balance', `${dec(w.balance)} ${w.currency}`],
          ['reserved', dec(w.reserved)],
          ['available', dec(w.available)],
          ['low below', w.lowBalanceThreshold === null ? 'no threshold' : dec(w.lowBalanceThreshold)],
          ['low since', at(w.lowBalanceSince) || '-'],
          ['depleted', at(w.depletedSince) || '-'],
        ]),
        '',
        w.grants.length
          ? table(
              [
                'id',
                { head: 'remaining', align: 'right' },
                { head: 'amount', align: 'right' },
                { head: 'prio', align: 'right' },
                { head: 'expires', fit: 'keep' },
                { head: 'reason', fit: 'cut', min: 6 },
              ],
              w.grants.map((g) => [
                g.id,
                g.voidedAt ? 'voided' : dec(g.remaining),
                dec(g.amount),
                g.priority,
                at(g.expiresAt) || 'never',
                g.reason ?? '',
              ]),
            )
          : o.all
            ? 'no grants'
            : 'no grant holds money (--all shows every grant)',
      ].join('\n'),
    );
  });

wallet
  .command('threshold <amount>')
  .description('wallet.low_balance fires once when available falls below it ("none" clears it); ADMIN key or operator')
  .option('--subject <s>', "one subject's own wallet")
  .option('--tenant <id>', 'operator: the tenant')
  .action(async (amount: string, o: { subject?: string; tenant?: string }) => {
    const w = await client().setWalletThreshold({
      tenantId: o.tenant,
      subject: o.subject,
      lowBalanceThreshold: amount === 'none' ? null : amount,
    });
    out(w, () =>
      w.lowBalanceThreshold === null
        ? `no low-balance threshold; available ${dec(w.available)} ${w.currency}`
        : `low balance below ${dec(w.lowBalanceThreshold)} ${w.currency}; available ${dec(w.available)}${w.lowBalanceSince ? ' (below it now: fired)' : ''}`,
    );
  });

const grant = program
  .command('grant')
  .description("operator: prepaid credits into a tenant's (or a subject's) wallet")
  .option('--tenant <id>', 'the tenant (required)')
  .option('--amount <amount>', 'exact decimal, in the tenant currency (required)')
  .option('--subject <s>', "one subject's own wallet (default: the tenant's)")
  .option('--priority <n>', 'lower is spent first (default 0)', signedInt('--priority'))
  .option('--effective-at <instant>', 'ISO 8601 (default now)')
  .option('--expires-at <instant>', 'ISO 8601 (default never)')
  .option('--reason <text>')
  .option('--idempotency-key <key>', 'default: a new random one (printed)')
  .action(
    async (o: {
      tenant?: string;
      amount?: string;
      subject?: string;
      priority?: number;
      effectiveAt?: string;
      expiresAt?: string;
      reason?: string;
      idempotencyKey?: string;
    }) => {
      // Checked here rather than by commander, which would also demand them of `grant void`.
      for (const [flag, v] of [
        ['--tenant <id>', o.tenant],
        ['--amount <amount>', o.amount],
      ] as const)
        if (v === undefined) grant.error(`error: required option '${flag}' not specified`, { exitCode: 2 });
      const key = o.idempotencyKey ?? `cli-${randomUUID()}`;
      const g = await client().grantCredits({
        tenantId: o.tenant as string,
        subject: o.subject,
        amount: o.amount as string,
        priority: o.priority,
        effectiveAt: o.effectiveAt,
        expiresAt: o.expiresAt,
        reason: o.reason,
        idempotencyKey: key,
      });
      out(g, () =>
        [
          `grant    ${g.id}`,
          `amount   ${dec(g.amount)}`,
          `priority ${g.priority}`,
          `expires  ${g.expiresAt ?? 'never'}`,
          `key      ${key}   (repeat with --idempotency-key ${key} to retry safely)`,
        ].join('\n'),
      );
    },
  );

grant
  .command('void <id>')
  .description("operator: the grant's remainder leaves the balance; what it paid stays paid")
  .action(async (id: string) => {
    const g = await client().voidCreditGrant(id);
    out(g, () => `voided ${g.id} at ${g.voidedAt}; ${dec(g.amount)} granted, ${dec(g.remaining)} left`);
  });
