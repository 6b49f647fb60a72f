// Overview: today's and this month's cost in the tenant's zone, each quota item, and threshold
// alerts, all live: quotaUpdated and usageRecorded pushes re-read the summary (no polling);
// the wallet card (wallet.tsx) is live through walletUpdated.
import type { QuotaAlert, QuotaStatus } from '@tally/client';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { formatDate, formatDecimal, money, zonedRanges } from '../format';
import { coalesce, useSubscription } from '../live';
import type { Session } from '../session';
import { WalletCard } from './wallet';

type Totals = { cost: string; requests: number; totalTokens: number; currency: string };

function percent(used: string, amount: string): number {
  // For the bar's width only (display, not money): a float is fine here.
  const a = Number(amount);
  return a > 0 ? Math.min(100, (Number(used) / a) * 100) : 0;
}

export function OverviewPage({ s }: { s: Session }) {
  const [day, setDay] = useState<Totals | null>(null);
  const [month, setMonth] = useState<Totals | null>(null);
  const [quota, setQuota] = useState<QuotaStatus | null>(null);
  const [alerts, setAlerts] = useState<QuotaAlert[]>([]);
  const [error, setError] = useState('');
  const [pushes, setPushes] = useState(0);
  const subject = s.subject ?? undefined;

  const loadTotals = useMemo(() => {
    // Only the latest read is shown: an earlier one answering late must not roll the cost back.
    let seq = 0;
    return async () => {
      const mine = ++seq;
      const r = zonedRanges(s.timeZone);
      const filter = (x: { from: string; to: string }) => ({ ...x, ...(subject ? { subject } : {}) });
      const [d, m] = await Promise.all([
        s.client.usageSummary({ filter: filter(r.day) }),
        s.client.usageSummary({ filter: filter(r.month) }),
      ]);
      if (mine !== seq) return;
      setDay(d.totals);
      setMonth(m.totals);
    };
  }, [s]);
  const refresh = useMemo(
    () => coalesce(() => void loadTotals().catch((e) => setError(String(e.message)))),
    [loadTotals],
  );

  useEffect(() => {
    void loadTotals().catch((e) => setError(String(e.message)));
    void s.client
      .quotaStatus(subject ? { subject } : {})
      .then(setQuota)
      .catch(() => setQuota(null));
  }, [s]);

  useSubscription(
    () => s.client.quotaUpdated(subject ? { subject } : {}),
    (q) => {
      setQuota(q);
      setPushes((n) => n + 1);
      refresh();
    },
    [s],
  );
  // Usage with no limit moves no quota: the ledger's own feed keeps the totals live too.
  useSubscription(
    () => (s.subject ? null : s.client.usageRecorded()),
    () => {
      setPushes((n) => n + 1);
      refresh();
    },
    [s],
    () => {},
  );
  useSubscription(
    () => (s.subject ? null : s.client.quotaAlerts()),
    (a) => setAlerts((xs) => [a, ...xs].slice(0, 20)),
    [s],
    () => {},
  );

  return (
    <section data-testid="overview" data-pushes={pushes}>
      {error && <p class="error">{error}</p>}
      <div class="tiles">
        <div class="card tile">
          <div class="muted">Today</div>
          <div class="big" data-testid="cost-today" data-value={day?.cost ?? ''}>
            {day ? money(day.cost, day.currency) : '…'}
          </div>
          <div class="muted small">{day ? `${day.requests} requests · ${day.totalTokens} tokens` : ''}</div>
        </div>
        <div class="card tile">
          <div class="muted">This month</div>
          <div class="big" data-testid="cost-month" data-value={month?.cost ?? ''}>
            {month ? money(month.cost, month.currency) : '…'}
          </div>
          <div class="muted small">{month ? `${month.requests} requests · ${month.totalTokens} tokens` : ''}</div>
        </div>
      </div>
      <h2>Prepaid credits</h2>
      <WalletCard s={s} pokes={pushes} />
      <h2>Limits</h2>
      {quota?.blocked && <p class="error">Blocked: a BLOCK limit is exhausted.</p>}
      {!quota?.items.length && <p class="muted">No limits apply.</p>}
      <div class="quota">
        {quota?.items.map((q) => (
          <div
            key={q.limit.id}
            class={`card quota-item${q.exceeded ? ' exceeded' : ''}`}
            data-testid="quota-item"
            data-metric={q.limit.metric}
            data-period={q.limit.period}
            data-used={q.used}
            data-remaining={q.remaining}
          >
            <div>
              <strong>
                {q.limit.metric} / {q.limit.period}
              </strong>{' '}
              <span class="muted small">
                {q.limit.scope} · {q.limit.action}
              </span>
            </div>
            <div class="bar">
              <span style={{ width: `${percent(q.used, q.limit.amount)}%` }} />
            </div>
            <div class="small">
              {formatDecimal(q.used, 4)} / {formatDecimal(q.limit.amount, 4)} used ·{' '}
              <strong>{formatDecimal(q.remaining, 4)}</strong> remaining · resets{' '}
              {q.periodEnd ? formatDate(q.periodEnd, s.timeZone) : 'never'}
            </div>
          </div>
        ))}
      </div>
      <h2>Alerts</h2>
      {!alerts.length && <p class="muted">Threshold alerts appear here live as they cross.</p>}
      <ul class="alerts">
        {alerts.map((a) => (
          <li key={a.id} class="card alert" data-testid="alert" data-threshold={a.threshold}>
            {a.limit.metric} / {a.limit.period} crossed <strong>{a.threshold}%</strong> ({formatDecimal(a.used, 4)} of{' '}
            {formatDecimal(a.limit.amount, 4)}) at {formatDate(a.crossedAt, s.timeZone, true)}
          </li>
        ))}
      </ul>
    </section>
  );
}
