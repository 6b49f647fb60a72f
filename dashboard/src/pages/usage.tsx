// Usage: usageSummary over a range, by granularity and one dimension, as a uPlot chart and
// the exact table under it (the chart draws floats; the table and data-* keep the strings).
import { documents, graphql, type ResultOf } from '@tally/client';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { formatDate, smallMoney } from '../format';
import type { Session } from '../session';

// The client's summary document, plus each bucket's status (for grouping by STATUS).
const SummaryQuery = graphql(
  `query DashboardUsage($filter: UsageFilter!, $groupBy: [UsageDimension!], $granularity: Granularity) {
    usageSummary(filter: $filter, groupBy: $groupBy, granularity: $granularity) {
      totals { ...TotalsFields }
      buckets { start apiKey { id name } subject model provider kind status totals { ...TotalsFields } }
    }
  }`,
  [documents.TotalsFields],
);
type UsageSummary = ResultOf<typeof SummaryQuery>['usageSummary'];

const GRANULARITIES = ['MINUTE', 'HOUR', 'DAY', 'WEEK', 'MONTH'] as const;
const DIMENSIONS = ['MODEL', 'API_KEY', 'SUBJECT', 'STATUS', 'KIND', 'PROVIDER'] as const;
/** MINUTE buckets (RPM / TPM) cover at most 24 hours. */
const MINUTE_MAX_DAYS = 1;
const RANGES: [string, number][] = [
  ['Last hour', 1 / 24],
  ['Last 6 hours', 6 / 24],
  ['Last 24 hours', 1],
  ['Last 7 days', 7],
  ['Last 30 days', 30],
  ['Last 90 days', 90],
];
const METRICS = { cost: 'Cost', requests: 'Requests', totalTokens: 'Tokens' } as const;
type Metric = keyof typeof METRICS;
type Bucket = UsageSummary['buckets'][number];
const COLORS = ['#4f6bed', '#e5534b', '#2da44e', '#d4a72c', '#8250df', '#1b7c83', '#bf3989', '#6e7781'];

const groupOf = (b: Bucket, dim: string) =>
  (dim === 'MODEL'
    ? b.model
    : dim === 'API_KEY'
      ? b.apiKey?.name
      : dim === 'SUBJECT'
        ? b.subject
        : dim === 'KIND'
          ? b.kind
          : dim === 'STATUS'
            ? b.status
            : b.provider) ?? '(none)';

export function UsagePage({ s }: { s: Session }) {
  const [granularity, setGranularity] = useState<(typeof GRANULARITIES)[number]>('DAY');
  const [dim, setDim] = useState<(typeof DIMENSIONS)[number]>('MODEL');
  const [days, setDays] = useState(7);
  const [metric, setMetric] = useState<Metric>('cost');
  const [data, setData] = useState<UsageSummary | null>(null);
  const [range, setRange] = useState<[number, number]>([0, 0]);
  /** What the shown data answers (granularity and dimension), for readers of the page. */
  const [shown, setShown] = useState('');
  const [error, setError] = useState('');
  const chart = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const to = new Date(Date.now() + 60_000).toISOString();
    const from = new Date(Date.now() - days * 86_400_000).toISOString();
    const filter = { from, to, ...(s.subject ? { subject: s.subject } : {}) };
    setError('');
    let current = true;
    setRange([Date.parse(from) / 1000, Date.parse(to) / 1000]);
    s.client
      .request(SummaryQuery, { filter, groupBy: [dim], granularity })
      .then((r) => {
        if (!current) return;
        setData(r.usageSummary);
        setShown(`${granularity}/${dim}`);
      })
      .catch((e) => current && setError(e.message));
    // A slower answer to an earlier choice must not replace this one.
    return () => {
      current = false;
    };
  }, [s, granularity, dim, days]);

  useEffect(() => {
    const el = chart.current;
    if (!el || !data) return;
    const starts = [...new Set(data.buckets.map((b) => b.start ?? ''))].sort();
    const groups = [...new Set(data.buckets.map((b) => groupOf(b, dim)))].sort();
    const series = groups.map((g) =>
      starts.map((t) => {
        const b = data.buckets.find((x) => x.start === t && groupOf(x, dim) === g);
        return b ? Number(b.totals[metric]) : null;
      }),
    );
    const plot = new uPlot(
      {
        width: el.clientWidth || 900,
        height: 280,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), s.timeZone),
        // The whole chosen range, not just the buckets that have usage.
        scales: { x: { time: true, range: () => range } },
        series: [
          {},
          ...groups.map((g, i) => ({
            label: g,
            stroke: COLORS[i % COLORS.length] as string,
            width: 2,
            points: { show: true },
          })),
        ],
        axes: [{}, { label: METRICS[metric], size: 70 }],
      },
      [starts.map((t) => Date.parse(t) / 1000), ...series],
      el,
    );
    return () => plot.destroy();
  }, [data, metric, dim, s, range]);

  return (
    <section>
      <div class="controls">
        <label>
          Range{' '}
          <select value={days} onChange={(e) => setDays(Number((e.target as HTMLSelectElement).value))}>
            {RANGES.map(([l, d]) => (
              <option key={d} value={d} disabled={granularity === 'MINUTE' && d > MINUTE_MAX_DAYS}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Granularity{' '}
          <select
            data-testid="granularity"
            value={granularity}
            onChange={(e) => {
              const g = (e.target as HTMLSelectElement).value as typeof granularity;
              if (g === 'MINUTE' && days > MINUTE_MAX_DAYS) setDays(1 / 24);
              setGranularity(g);
            }}
          >
            {GRANULARITIES.map((g) => (
              <option key={g}>{g}</option>
            ))}
          </select>
        </label>
        <label>
          Group by{' '}
          <select
            data-testid="group-by"
            value={dim}
            onChange={(e) => setDim((e.target as HTMLSelectElement).value as typeof dim)}
          >
            {DIMENSIONS.map((d) => (
              <option key={d}>{d}</option>
            ))}
          </select>
        </label>
        <label>
          Show{' '}
          <select value={metric} onChange={(e) => setMetric((e.target as HTMLSelectElement).value as Metric)}>
            {Object.entries(METRICS).map(([k, l]) => (
              <option key={k} value={k}>
                {l}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && <p class="error">{error}</p>}
      <div
        class="card chart"
        data-testid="usage-chart"
        data-loaded={data ? 'true' : 'false'}
        data-shown={shown}
        ref={chart}
      />
      <table data-testid="usage-table">
        <thead>
          <tr>
            <th>Start ({s.timeZone})</th>
            <th>{dim}</th>
            <th class="num">Requests</th>
            <th class="num">Tokens</th>
            <th class="num">Cost</th>
          </tr>
        </thead>
        <tbody>
          {data?.buckets.map((b) => (
            <tr
              key={`${b.start}-${groupOf(b, dim)}`}
              data-testid="usage-row"
              data-start={b.start}
              data-group={groupOf(b, dim)}
              data-cost={b.totals.cost}
              data-requests={b.totals.requests}
              data-tokens={b.totals.totalTokens}
            >
              <td>{b.start ? formatDate(b.start, s.timeZone) : ''}</td>
              <td>{groupOf(b, dim)}</td>
              <td class="num">{b.totals.requests}</td>
              <td class="num">{b.totals.totalTokens}</td>
              <td class="num">{smallMoney(b.totals.cost, b.totals.currency)}</td>
            </tr>
          ))}
        </tbody>
        {data && (
          <tfoot>
            <tr data-testid="usage-total" data-cost={data.totals.cost} data-requests={data.totals.requests}>
              <td colSpan={2}>Total</td>
              <td class="num">{data.totals.requests}</td>
              <td class="num">{data.totals.totalTokens}</td>
              <td class="num">{smallMoney(data.totals.cost, data.totals.currency)}</td>
            </tr>
          </tfoot>
        )}
      </table>
    </section>
  );
}
