// The overview's wallet card: balance, reserved, available, the low-balance state and the live
// grants. Live through walletUpdated (each push shows the new amounts at once and re-reads the
// grants, coalesced). `wallet` answering NOT_FOUND (no credits ever granted) is a quiet empty
// state; walletUpdated cannot be opened before a wallet exists, so the empty card asks `wallet`
// again on each push the overview already receives (`pokes`): no polling.
import type { Wallet } from '@tally/client';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { formatDate, money } from '../format';
import { coalesce, useSubscription } from '../live';
import type { Session } from '../session';

type State = { kind: 'loading' } | { kind: 'none' } | { kind: 'error'; message: string } | { kind: 'live'; w: Wallet };

export function WalletCard({ s, pokes }: { s: Session; pokes: number }) {
  const [state, setState] = useState<State>({ kind: 'loading' });
  const subject = s.subject ?? undefined;
  const vars = subject ? { subject } : {};

  const load = useMemo(() => {
    // Only the latest read is shown: an earlier one answering late must not roll the wallet back.
    let seq = 0;
    return async () => {
      const mine = ++seq;
      try {
        const w = await s.client.wallet(vars);
        if (mine === seq) setState({ kind: 'live', w });
      } catch (e) {
        if (mine !== seq) return;
        const err = e as { code?: string; message?: string };
        setState(err.code === 'NOT_FOUND' ? { kind: 'none' } : { kind: 'error', message: String(err.message) });
      }
    };
  }, [s]);
  const reload = useMemo(() => coalesce(() => void load()), [load]);

  useEffect(() => void load(), [load]);
  // Empty: a push the overview got may follow a first grant (ours to check, not to poll).
  useEffect(() => {
    if (pokes && state.kind === 'none') reload();
  }, [pokes]);

  const live = state.kind === 'live';
  useSubscription(
    () => (live ? s.client.walletUpdated(vars) : null),
    (u) => {
      setState((p) => (p.kind === 'live' ? { kind: 'live', w: { ...p.w, ...u } } : p));
      reload();
    },
    [s, live],
    () => {},
  );

  if (state.kind === 'loading') return null;
  if (state.kind === 'error')
    return (
      <p class="error" data-testid="wallet-error">
        {state.message}
      </p>
    );
  if (state.kind === 'none')
    return (
      <p class="muted" data-testid="wallet" data-state="none">
        No prepaid credits.
      </p>
    );
  const w = state.w;
  const status = w.depletedSince ? 'depleted' : w.lowBalanceSince ? 'low' : 'ok';
  const cell = (id: string, label: string, value: string) => (
    <div>
      <div class="muted small">{label}</div>
      <div class="big" data-testid={id} data-value={value}>
        {money(value, w.currency)}
      </div>
    </div>
  );
  return (
    <div class={`card wallet ${status}`} data-testid="wallet" data-state={status}>
      <div class="wallet-amounts">
        {cell('wallet-balance', 'Balance', w.balance)}
        {cell('wallet-reserved', 'Reserved', w.reserved)}
        {cell('wallet-available', 'Available', w.available)}
      </div>
      <p class="small" data-testid="wallet-status" data-threshold={w.lowBalanceThreshold ?? ''}>
        Low-balance threshold: {w.lowBalanceThreshold ? money(w.lowBalanceThreshold, w.currency) : 'none'}
        {w.depletedSince && <strong class="error"> · Depleted since {formatDate(w.depletedSince, s.timeZone)}</strong>}
        {!w.depletedSince && w.lowBalanceSince && (
          <strong class="error"> · Low since {formatDate(w.lowBalanceSince, s.timeZone)}</strong>
        )}
      </p>
      {!w.grants.length ? (
        <p class="muted small">No live grants.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Amount</th>
              <th>Remaining</th>
              <th>Priority</th>
              <th>Expires</th>
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            {w.grants.map((g) => (
              <tr key={g.id} data-testid="wallet-grant" data-amount={g.amount} data-remaining={g.remaining}>
                <td>{money(g.amount, w.currency)}</td>
                <td>{money(g.remaining, w.currency)}</td>
                <td>{g.priority}</td>
                <td>{g.expiresAt ? formatDate(g.expiresAt, s.timeZone) : 'never'}</td>
                <td>{g.reason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
