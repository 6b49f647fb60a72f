// Keys (ADMIN): the tenant's keys, create one (its secret shown once, with a copy button), revoke.
import { documents, graphql, type ResultOf } from '@tally/client';
import { useEffect, useState } from 'preact/hooks';
import { formatDate, plainDecimal } from '../format';
import type { Session } from '../session';

// The client's key list, plus each key's own limits.
const KeysQuery = graphql(
  `query DashboardKeys($id: ID!) {
    tenant(id: $id) { id apiKeys(includeRevoked: true) { ...ApiKeyFields limits { ...LimitFields } } }
  }`,
  [documents.ApiKeyFields, documents.LimitFields],
);
type Key = NonNullable<ResultOf<typeof KeysQuery>['tenant']>['apiKeys'][number];
type Limit = Key['limits'][number];
const SCOPES = ['READ', 'INGEST', 'ADMIN'] as const;
const METRICS = ['COST', 'REQUESTS', 'TOKENS', 'INPUT_TOKENS', 'OUTPUT_TOKENS', 'ASR_SECONDS'] as const;
const PERIODS = ['DAY', 'MONTH', 'TOTAL'] as const;
const ACTIONS = ['BLOCK', 'ALERT'] as const;

const asInput = (l: Limit) => ({
  metric: l.metric,
  period: l.period,
  amount: l.amount,
  action: l.action,
  scope: l.scope,
  thresholds: l.thresholds,
});

/** A key's own limits (setApiKeyLimits replaces them all): list, add, remove. */
function KeyLimits({ s, k, onSaved }: { s: Session; k: Key; onSaved: () => Promise<unknown> }) {
  const [metric, setMetric] = useState<(typeof METRICS)[number]>('COST');
  const [period, setPeriod] = useState<(typeof PERIODS)[number]>('DAY');
  const [action, setAction] = useState<(typeof ACTIONS)[number]>('BLOCK');
  const [amount, setAmount] = useState('');
  const [error, setError] = useState('');
  const save = async (limits: ReturnType<typeof asInput>[]) => {
    setError('');
    try {
      await s.client.setApiKeyLimits({ apiKeyId: k.id, limits });
      setAmount('');
      await onSaved();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <div class="card limits" data-testid="key-limits" data-id={k.id}>
      <strong>Limits of {k.name}</strong>
      {!k.limits.length && <p class="muted small">None of its own (the tenant's plan still applies).</p>}
      <ul>
        {k.limits.map((l) => (
          <li key={l.id} data-testid="key-limit" data-metric={l.metric} data-period={l.period} data-amount={l.amount}>
            {l.metric} / {l.period}: {plainDecimal(l.amount)} ({l.action}){' '}
            <button type="button" onClick={() => void save(k.limits.filter((x) => x.id !== l.id).map(asInput))}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form
        class="controls"
        onSubmit={(e) => {
          e.preventDefault();
          void save([
            ...k.limits.map(asInput),
            { metric, period, amount: amount.trim(), action, scope: 'API_KEY', thresholds: [80, 100] },
          ]);
        }}
      >
        <select value={metric} onChange={(e) => setMetric((e.target as HTMLSelectElement).value as typeof metric)}>
          {METRICS.map((m) => (
            <option key={m}>{m}</option>
          ))}
        </select>
        <select value={period} onChange={(e) => setPeriod((e.target as HTMLSelectElement).value as typeof period)}>
          {PERIODS.map((p) => (
            <option key={p}>{p}</option>
          ))}
        </select>
        <input
          data-testid="limit-amount"
          placeholder="amount"
          inputMode="decimal"
          value={amount}
          onInput={(e) => setAmount((e.target as HTMLInputElement).value)}
        />
        <select value={action} onChange={(e) => setAction((e.target as HTMLSelectElement).value as typeof action)}>
          {ACTIONS.map((a) => (
            <option key={a}>{a}</option>
          ))}
        </select>
        <button type="submit" data-testid="add-limit" disabled={!amount.trim()}>
          Add limit
        </button>
      </form>
      {error && <p class="error">{error}</p>}
    </div>
  );
}

export function KeysPage({ s }: { s: Session }) {
  const tenantId = s.viewer.tenant?.id ?? '';
  const [keys, setKeys] = useState<Key[]>([]);
  const [name, setName] = useState('');
  const [scope, setScope] = useState<(typeof SCOPES)[number]>('INGEST');
  const [secret, setSecret] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState('');
  const [editing, setEditing] = useState<string | null>(null);

  const load = () =>
    s.client
      .request(KeysQuery, { id: tenantId })
      .then((r) => setKeys(r.tenant?.apiKeys ?? []))
      .catch((e) => setError(e.message));
  useEffect(() => void load(), [s]);

  const create = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const made = await s.client.createApiKey({ name: name.trim(), scopes: [scope] });
      setSecret(made.secret);
      setCopied(false);
      setName('');
      await load();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <section>
      <form class="controls" onSubmit={create}>
        <input
          data-testid="key-name"
          placeholder="key name"
          value={name}
          onInput={(e) => setName((e.target as HTMLInputElement).value)}
        />
        <select value={scope} onChange={(e) => setScope((e.target as HTMLSelectElement).value as typeof scope)}>
          {SCOPES.map((x) => (
            <option key={x}>{x}</option>
          ))}
        </select>
        <button data-testid="create-key" type="submit" disabled={!name.trim()}>
          Create key
        </button>
      </form>
      {error && <p class="error">{error}</p>}
      {secret && (
        <div class="card secret">
          <p>Copy this secret now: it is shown once and cannot be read again.</p>
          <code data-testid="new-secret">{secret}</code>{' '}
          <button
            type="button"
            data-testid="copy-secret"
            onClick={() => void navigator.clipboard?.writeText(secret).then(() => setCopied(true))}
          >
            {copied ? 'Copied' : 'Copy'}
          </button>{' '}
          <button type="button" onClick={() => setSecret(null)}>
            Done
          </button>
        </div>
      )}
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Prefix</th>
            <th>Scopes</th>
            <th>Created</th>
            <th>Last used</th>
            <th>Own limits</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.id} data-testid="key-row" data-id={k.id} data-revoked={k.revokedAt ? 'true' : 'false'}>
              <td>{k.name}</td>
              <td>
                <code>{k.prefix}…</code>
              </td>
              <td>{k.scopes.join(', ')}</td>
              <td>{formatDate(k.createdAt, s.timeZone)}</td>
              <td>{k.lastUsedAt ? formatDate(k.lastUsedAt, s.timeZone) : '—'}</td>
              <td>
                {k.revokedAt ? (
                  '—'
                ) : (
                  <button
                    type="button"
                    data-testid="edit-limits"
                    onClick={() => setEditing(editing === k.id ? null : k.id)}
                  >
                    {k.limits.length ? `${k.limits.length} limit${k.limits.length > 1 ? 's' : ''}` : 'none'} ✎
                  </button>
                )}
              </td>
              <td>
                {k.revokedAt ? (
                  <span class="muted">revoked {formatDate(k.revokedAt, s.timeZone)}</span>
                ) : k.id === s.viewer.apiKey?.id ? (
                  <span class="muted">this key</span>
                ) : (
                  <button
                    type="button"
                    data-testid="revoke-key"
                    onClick={() => void s.client.revokeApiKey(k.id).then(load, (e) => setError(e.message))}
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {keys
        .filter((k) => k.id === editing)
        .map((k) => (
          <KeyLimits key={k.id} s={s} k={k} onSaved={load} />
        ))}
    </section>
  );
}
