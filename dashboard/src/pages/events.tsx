// Events: the ledger newest first, paged by cursor, with filters; a row opens the entry with
// its price snapshot and metadata.
import { documents, graphql, type ResultOf } from '@tally/client';
import { useEffect, useState } from 'preact/hooks';
import { formatDate, smallMoney } from '../format';
import { downloadCsv, type Session } from '../session';

const EventsQuery = graphql(
  `query DashboardEvents($filter: UsageFilter!, $first: Int, $after: String) {
    usageEvents(filter: $filter, first: $first, after: $after) {
      edges { node { ...EventFields price { ...PriceFields } } }
      pageInfo { hasNextPage endCursor }
    }
  }`,
  [documents.EventFields, documents.PriceFields],
);
type Event = ResultOf<typeof EventsQuery>['usageEvents']['edges'][number]['node'];
const PAGE = 20;
const KINDS = ['', 'LLM', 'ASR', 'CALL'] as const;

export function EventsPage({ s }: { s: Session }) {
  const [filters, setFilters] = useState({ model: '', subject: '', apiKeyId: '', kind: '', status: '' });
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<ResultOf<typeof EventsQuery>['usageEvents'] | null>(null);
  const [open, setOpen] = useState<Event | null>(null);
  const [error, setError] = useState('');
  const after = cursors[cursors.length - 1] ?? null;

  const filterNow = () => {
    return {
      from: new Date(Date.now() - 365 * 86_400_000).toISOString(),
      to: new Date(Date.now() + 60_000).toISOString(),
      ...(filters.model ? { model: filters.model } : {}),
      ...(s.subject ? { subject: s.subject } : filters.subject ? { subject: filters.subject } : {}),
      ...(filters.apiKeyId ? { apiKeyId: filters.apiKeyId } : {}),
      ...(filters.kind ? { kind: filters.kind as 'LLM' } : {}),
      ...(filters.status ? { status: filters.status as 'FAILED' } : {}),
    };
  };
  useEffect(() => {
    const filter = filterNow();
    let current = true;
    setError('');
    s.client
      .request(EventsQuery, { filter, first: PAGE, after })
      .then((r) => current && setPage(r.usageEvents))
      .catch((e) => current && setError(e.message));
    // A slower answer to earlier filters must not replace this one.
    return () => {
      current = false;
    };
  }, [s, filters, after]);

  const field = (name: keyof typeof filters, label: string) => (
    <label>
      {label}{' '}
      <input
        data-testid={`filter-${name}`}
        value={filters[name]}
        onChange={(e) => {
          setCursors([null]);
          setFilters({ ...filters, [name]: (e.target as HTMLInputElement).value.trim() });
        }}
      />
    </label>
  );

  return (
    <section>
      <div class="controls">
        {field('model', 'Model')}
        {!s.subject && field('subject', 'Subject')}
        {!s.subject && field('apiKeyId', 'Key id')}
        <label>
          Kind{' '}
          <select
            value={filters.kind}
            onChange={(e) => {
              setCursors([null]);
              setFilters({ ...filters, kind: (e.target as HTMLSelectElement).value });
            }}
          >
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {k || 'any'}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status{' '}
          <select
            data-testid="filter-status"
            value={filters.status}
            onChange={(e) => {
              setCursors([null]);
              setFilters({ ...filters, status: (e.target as HTMLSelectElement).value });
            }}
          >
            {['', 'SUCCEEDED', 'FAILED'].map((x) => (
              <option key={x} value={x}>
                {x || 'any'}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          data-testid="export-csv"
          onClick={() =>
            void downloadCsv(s, '/export/usage-events.csv', filterNow() as Record<string, string>).catch((e) =>
              setError(e.message),
            )
          }
        >
          Export CSV
        </button>
      </div>
      {error && <p class="error">{error}</p>}
      <table>
        <thead>
          <tr>
            <th>Occurred ({s.timeZone})</th>
            <th>Kind</th>
            <th>Model</th>
            <th>Subject</th>
            <th class="num">Tokens</th>
            <th class="num">Cost</th>
          </tr>
        </thead>
        <tbody>
          {page?.edges.map(({ node: e }) => (
            <tr key={e.id} data-testid="event-row" data-id={e.id} class="clickable" onClick={() => setOpen(e)}>
              <td>{formatDate(e.occurredAt, s.timeZone, true)}</td>
              <td>{e.kind}</td>
              <td>{e.model ?? ''}</td>
              <td>{e.subject ?? ''}</td>
              <td class="num">{e.totalTokens}</td>
              <td class="num">{smallMoney(e.cost, e.currency)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page && !page.edges.length && <p class="muted">No events in this range.</p>}
      <div class="controls">
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← Newer
        </button>
        <span class="muted small">page {cursors.length}</span>
        <button
          type="button"
          data-testid="next-page"
          disabled={!page?.pageInfo.hasNextPage}
          onClick={() => page?.pageInfo.endCursor && setCursors([...cursors, page.pageInfo.endCursor])}
        >
          Older →
        </button>
      </div>
      {open && (
        <aside class="card detail" data-testid="event-detail" data-id={open.id}>
          <button type="button" class="close" onClick={() => setOpen(null)}>
            ×
          </button>
          <h3>Event {open.id}</h3>
          <dl>
            <dt>Idempotency key</dt>
            <dd>{open.idempotencyKey}</dd>
            <dt>Occurred / recorded</dt>
            <dd>
              {formatDate(open.occurredAt, s.timeZone, true)} / {formatDate(open.recordedAt, s.timeZone, true)}
            </dd>
            <dt>Cost</dt>
            <dd data-testid="detail-cost" data-value={open.cost}>
              {open.cost} {open.currency}
            </dd>
            <dt>Tokens in / out / cached / reasoning</dt>
            <dd>
              {open.inputTokens} / {open.outputTokens} / {open.cachedInputTokens} / {open.reasoningTokens}
            </dd>
            <dt>Key</dt>
            <dd>{open.apiKey?.id ?? ''}</dd>
          </dl>
          <h4>Price snapshot</h4>
          {open.price ? (
            <dl data-testid="detail-price">
              <dt>Model</dt>
              <dd>
                {open.price.provider} / {open.price.model} ({open.price.currency})
              </dd>
              <dt>Input / output / cached per million</dt>
              <dd>
                {open.price.inputPerMillion} / {open.price.outputPerMillion} / {open.price.cachedInputPerMillion ?? '—'}
              </dd>
              <dt>Effective</dt>
              <dd>
                {formatDate(open.price.effectiveFrom, s.timeZone)} →{' '}
                {open.price.effectiveTo ? formatDate(open.price.effectiveTo, s.timeZone) : 'now'}
              </dd>
            </dl>
          ) : (
            <p class="muted">No price (cost given by the caller).</p>
          )}
          <h4>Metadata</h4>
          <pre data-testid="detail-metadata">{JSON.stringify(open.metadata ?? {}, null, 2)}</pre>
        </aside>
      )}
    </section>
  );
}
