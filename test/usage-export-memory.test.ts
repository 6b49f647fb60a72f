// The CSV export's memory is flat in the number of rows: 1,000,000 ledger entries (seeded by
// SQL) stream through a real HTTP server whose app runs in this process, and the heap,
// sampled while the rows flow, never grows by more than a bound far below what holding the
// rows would take (1,000,000 rows as CSV are about 350 MB; as JavaScript objects, several GB).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, type Harness, type SeededTenant } from './support/harness';

const ROWS = 1_000_000;
const HEAP_BOUND = 64 * 1024 * 1024;

let h: Harness;
let t: SeededTenant;
beforeAll(async () => {
  h = await createHarness('usage-export-memory');
  t = await h.seed.tenant('million');
  // Spread over the last 20 hours, a few subjects and models, costs with every decimal place.
  await h.sql(
    `INSERT INTO usage_events (id, tenant_id, idempotency_key, fingerprint, api_key_id, subject, kind, provider, model,
       model_source, status, requests, input_tokens, output_tokens, cached_input_tokens, cache_write_input_tokens,
       reasoning_tokens, cost, currency, occurred_at)
     SELECT gen_random_uuid(), $1, 'm-' || g, '\\x00', $2, 'user-' || (g % 1000), 'LLM', 'openai',
            (ARRAY['gpt-4o', 'gpt-4o-mini'])[1 + g % 2], 'VENDOR', CASE WHEN g % 50 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' END,
            1, 1000 + g % 500, 200, 100, 0, 0, 0.000123456789 * (g % 7), 'USD',
            now() - interval '20 hours' + g * interval '70 milliseconds'
       FROM generate_series(1, $3::int) g`,
    [t.id, t.adminKeyId, ROWS],
  );
}, 600_000);
afterAll(async () => h?.close());

it('exports 1,000,000 entries with the server heap flat', { timeout: 600_000 }, async () => {
  const server = await h.listen();
  const from = new Date(Date.now() - 21 * 3_600_000).toISOString();
  const to = new Date(Date.now() + 3_600_000).toISOString();
  const res = await fetch(
    `http://127.0.0.1:${server.port}/export/usage-events.csv?${new URLSearchParams({ from, to })}`,
    { headers: { authorization: `Bearer ${t.adminKey}` } },
  );
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');

  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 20);
  let lines = 0;
  let bytes = 0;
  let last = 0;
  try {
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      for (let i = value.indexOf(10); i !== -1; i = value.indexOf(10, i + 1)) lines++;
      last = value[value.length - 1] as number;
    }
  } finally {
    clearInterval(sampler);
  }
  expect(lines).toBe(ROWS + 1); // the header and every entry
  expect(last).toBe(10); // the stream ended with a whole row
  expect(bytes).toBeGreaterThan(ROWS * 200); // every row really came (about 350 bytes each)
  expect(peak - base, `heap grew by ${Math.round((peak - base) / 2 ** 20)} MB`).toBeLessThan(HEAP_BOUND);
});
