// Keys (ADMIN): the tenant's keys, create one (its secret shown once, with a copy button), revoke.
import type { TallyClient } from '@tally/client';
import { useEffect, useState } from 'preact/hooks';
import { formatDate } from '../format';
import type { Session } from '../session';

type Key = Awaited<ReturnType<TallyClient['apiKeys']>>[number];
const SCOPES = ['READ', 'INGEST', 'ADMIN'] as const;

export function KeysPage({ s }: { s: Session }) {
  const tenantId = s.viewer.tenant?.id ?? '';
  const [keys, setKeys] = useState<Key[]>([]);
  const [name, setName] = useState('');
  const [scope, setScope] = useState<(typeof SCOPES)[number]>('INGEST');
  const [secret, setSecret] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState('');

  const load = () =>
    s.client
      .apiKeys(tenantId, { includeRevoked: true })
      .then(setKeys)
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
    </section>
  );
}
