// Operator pages (the operator key): tenants, plans, the platform price book. Read-only views,
// but for the Prices page's LiteLLM import (price-import.tsx, loaded lazily); other changes go
// through the API or the `tally` command line.
import { documents } from '@tally/client';
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { formatDate, plainDecimal } from '../format';
import type { Session } from '../session';

function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [T | null, string] {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    load().then(setData, (e) => setError(e.message));
  }, deps);
  return [data, error];
}

export function TenantsPage({ s }: { s: Session }) {
  const [after, setAfter] = useState<string[]>([]);
  const [page, error] = useLoad(async () => {
    return (await s.client.request(documents.TenantsQuery, { first: 50, after: after.at(-1) ?? null })).tenants;
  }, [s, after]);
  return (
    <section>
      {error && <p class="error">{error}</p>}
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Id</th>
            <th>Zone</th>
            <th>Currency</th>
            <th>Created (UTC)</th>
          </tr>
        </thead>
        <tbody>
          {page?.edges.map(({ node: t }) => (
            <tr key={t.id} data-testid="tenant-row" data-id={t.id}>
              <td>{t.name}</td>
              <td>
                <code>{t.id}</code>
              </td>
              <td>{t.timezone}</td>
              <td>{t.currency}</td>
              <td>{formatDate(t.createdAt, 'UTC')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="controls">
        <button type="button" disabled={!after.length} onClick={() => setAfter(after.slice(0, -1))}>
          ← Previous
        </button>
        <button
          type="button"
          disabled={!page?.pageInfo.hasNextPage}
          onClick={() => page?.pageInfo.endCursor && setAfter([...after, page.pageInfo.endCursor])}
        >
          Next →
        </button>
      </div>
    </section>
  );
}

export function PlansPage({ s }: { s: Session }) {
  const [plans, error] = useLoad(() => s.client.plans(), [s]);
  return (
    <section>
      {error && <p class="error">{error}</p>}
      {plans?.map((p) => (
        <div key={p.id} class="card plan" data-testid="plan" data-code={p.code}>
          <strong>{p.name}</strong> <code class="muted">{p.code}</code>
          <ul>
            {p.limits.map((l) => (
              <li key={l.id}>
                {l.metric} / {l.period}: {plainDecimal(l.amount)} · {l.scope} · {l.action} · alerts at{' '}
                {l.thresholds.join(', ')}%
              </li>
            ))}
          </ul>
        </div>
      ))}
      {plans && !plans.length && <p class="muted">No plans yet.</p>}
    </section>
  );
}

type ImportPanel = ComponentType<{ s: Session; onApplied: () => void }>;

export function PricesPage({ s }: { s: Session }) {
  const [version, setVersion] = useState(0);
  const [prices, error] = useLoad(() => s.client.prices(), [s, version]);
  const [Import, setImport] = useState<{ C: ImportPanel } | null>(null);
  useEffect(() => {
    import('./price-import').then((m) => setImport({ C: m.default }));
  }, []);
  return (
    <section>
      {Import && <Import.C s={s} onApplied={() => setVersion((v) => v + 1)} />}
      {error && <p class="error">{error}</p>}
      <table>
        <thead>
          <tr>
            <th>Provider / model</th>
            <th>Currency</th>
            <th class="num">Input / M</th>
            <th class="num">Output / M</th>
            <th class="num">Cached input / M</th>
            <th>Effective from (UTC)</th>
          </tr>
        </thead>
        <tbody>
          {prices?.map((p) => (
            <tr key={p.id} data-testid="price-row" data-model={p.model} data-input={p.inputPerMillion}>
              <td>
                {p.provider} / {p.model}
              </td>
              <td>{p.currency}</td>
              <td class="num">{p.inputPerMillion == null ? '—' : plainDecimal(p.inputPerMillion)}</td>
              <td class="num">{p.outputPerMillion == null ? '—' : plainDecimal(p.outputPerMillion)}</td>
              <td class="num">{p.cachedInputPerMillion == null ? '—' : plainDecimal(p.cachedInputPerMillion)}</td>
              <td>{formatDate(p.effectiveFrom, 'UTC')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
