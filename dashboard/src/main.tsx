// Tally's dashboard: a Preact single-page app on the typed client. Hash routes (#/usage),
// the key in session storage only.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { EventsPage } from './pages/events';
import { KeysPage } from './pages/keys';
import { PlansPage, PricesPage, TenantsPage } from './pages/operator';
import { OverviewPage } from './pages/overview';
import { UsagePage } from './pages/usage';
import { type Session, signIn, signOut, storedKey } from './session';

const route = () => location.hash.replace(/^#\/?/, '') || 'overview';

function SignIn({ onSession }: { onSession: (s: Session) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onSession(await signIn(key));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="signin card" onSubmit={submit}>
      <h1>Tally</h1>
      <p>Sign in with a tenant API key or a subject token. It stays in this tab only.</p>
      <input
        data-testid="api-key"
        type="password"
        autocomplete="off"
        placeholder="tly_… key or subject token"
        value={key}
        onInput={(e) => setKey((e.target as HTMLInputElement).value)}
      />
      <button data-testid="sign-in" type="submit" disabled={busy || !key.trim()}>
        Sign in
      </button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [restoring, setRestoring] = useState(!!storedKey());
  const [page, setPage] = useState(route());
  useEffect(() => {
    const on = () => setPage(route());
    addEventListener('hashchange', on);
    const key = storedKey();
    if (key)
      signIn(key)
        .then(setSession)
        .catch(() => signOut(null))
        .finally(() => setRestoring(false));
    return () => removeEventListener('hashchange', on);
  }, []);
  if (restoring) return <p class="muted pad">Signing in…</p>;
  if (!session) return <SignIn onSession={setSession} />;
  const operator = session.viewer.isOperator;
  const tabs: [string, string][] = operator
    ? [
        ['tenants', 'Tenants'],
        ['plans', 'Plans'],
        ['prices', 'Prices'],
      ]
    : [
        ['overview', 'Overview'],
        ['usage', 'Usage'],
        ['events', 'Events'],
        ...(session.isAdmin && !session.subject ? ([['keys', 'Keys']] as [string, string][]) : []),
      ];
  const who = session.subject
    ? `subject ${session.subject}`
    : session.viewer.isOperator
      ? 'operator'
      : `${session.viewer.apiKey?.name ?? 'key'} (${session.viewer.apiKey?.scopes.join(', ')})`;
  return (
    <div class="shell">
      <header>
        <strong>Tally</strong>
        <span class="muted">{session.viewer.tenant?.name}</span>
        <nav>
          {tabs.map(([id, label]) => (
            <a key={id} href={`#/${id}`} data-testid={`nav-${id}`} class={page === id ? 'active' : ''}>
              {label}
            </a>
          ))}
        </nav>
        <span class="muted small">
          {who} · {session.timeZone}
        </span>
        <button
          type="button"
          data-testid="sign-out"
          onClick={() => {
            void signOut(session);
            setSession(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        {operator ? (
          page === 'plans' ? (
            <PlansPage s={session} />
          ) : page === 'prices' ? (
            <PricesPage s={session} />
          ) : (
            <TenantsPage s={session} />
          )
        ) : page === 'usage' ? (
          <UsagePage s={session} />
        ) : page === 'events' ? (
          <EventsPage s={session} />
        ) : page === 'keys' && session.isAdmin ? (
          <KeysPage s={session} />
        ) : (
          <OverviewPage s={session} />
        )}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
