// usageEvents: keyset pagination, newest first (occurredAt desc, then id desc). Walking
// every page returns every event once and in order, stays correct while events arrive
// between page fetches, validates first/after, filters narrow, and nested fields resolve.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY, type SeededTenant } from './support/harness';

// ---------------------------------------------------------------------------------------
// helpers

const EVENTS = `query Events($filter: UsageFilter!, $first: Int, $after: String) {
  usageEvents(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id occurredAt kind model subject apiKey { id } tenant { id } price { id } reverses { id } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const BATCH = `mutation Batch($input: [RecordUsageInput!]!) {
  recordUsageBatch(input: $input) { created rejected results { outcome error { code field } event { id occurredAt } } }
}`;
const REVERSE = `mutation Reverse($input: ReverseUsageInput!) {
  reverseUsage(input: $input) { outcome event { id occurredAt } }
}`;

interface Node {
  id: string;
  occurredAt: string;
  kind: string;
  model: string | null;
  subject: string | null;
  apiKey: { id: string } | null;
  tenant: { id: string };
  price: { id: string } | null;
  reverses: { id: string } | null;
}
interface Page {
  edges: { cursor: string; node: Node }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** What the test knows about an event it recorded. */
interface Known {
  id: string;
  occurredAt: string;
  kind: string;
  model: string | null;
  subject: string | null;
  apiKeyId: string;
  priceId: string | null;
  reversesId: string | null;
}

/** The contract's order, computed here: occurredAt desc, then id desc. */
const newestFirst = (a: { occurredAt: string; id: string }, b: { occurredAt: string; id: string }) =>
  Date.parse(b.occurredAt) - Date.parse(a.occurredAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

const iso = (ms: number) => new Date(ms).toISOString();

let h: Harness;
beforeAll(async () => {
  h = await createHarness('pagination');
});
afterAll(async () => h?.close());

async function page(key: string, filter: object, first?: number, after?: string | null): Promise<Page> {
  const vars: Record<string, unknown> = { filter };
  if (first !== undefined) vars.first = first;
  if (after != null) vars.after = after;
  return (await h.ok(key, EVENTS, vars)).usageEvents as Page;
}

/** Walks every page; `between` runs after each page (e.g. to record more usage). */
async function walk(
  key: string,
  filter: object,
  first: number,
  between?: (p: Page, n: number) => Promise<void>,
): Promise<{ nodes: Node[]; pages: Page[] }> {
  const pages: Page[] = [];
  let after: string | null = null;
  for (let n = 0; n < 1000; n++) {
    const p = await page(key, filter, first, after);
    pages.push(p);
    if (between) await between(p, n);
    if (!p.pageInfo.hasNextPage) break;
    after = p.pageInfo.endCursor;
  }
  return { nodes: pages.flatMap((p) => p.edges.map((e) => e.node)), pages };
}

/** Records items through one batch as `key`; returns their ids and instants in input order. */
async function record(key: string, items: Record<string, unknown>[]): Promise<{ id: string; occurredAt: string }[]> {
  const d = await h.ok(key, BATCH, { input: items });
  const b = d.recordUsageBatch;
  expect(b.rejected, JSON.stringify(b.results.filter((r: { error: unknown }) => r.error))).toBe(0);
  return b.results.map((r: { event: { id: string; occurredAt: string } }) => r.event);
}

// ---------------------------------------------------------------------------------------
// One tenant with 45 varied events (several sharing an instant) and one reversal.

describe('usageEvents', () => {
  let t: SeededTenant;
  let other: { secret: string; id: string };
  let reader: { secret: string; id: string };
  let known: Known[];
  let range: { from: string; to: string };
  const prices: Record<string, string> = {};

  beforeAll(async () => {
    t = await h.seed.tenant('pages');
    other = await t.key(['INGEST'], 'gateway-2');
    reader = await t.key(['READ'], 'dashboard');
    prices.a = (
      await h.seed.price({ provider: 'prov-a', model: 'pg-a', inputPerMillion: '1', outputPerMillion: '2' })
    ).id;
    prices.b = (await h.seed.price({ provider: 'prov-b', model: 'pg-b', perUnit: '0.01' })).id;
    prices.s = (await h.seed.price({ provider: 'prov-s', model: 'pg-s', perSecond: '0.001' })).id;

    const now = Date.now();
    const base = Math.floor(now / 1000) * 1000 - 60_000;
    range = { from: iso(now - 20 * 86_400_000), to: iso(now + 86_400_000) };
    type Item = Record<string, unknown> & { kind: string; apiKeyId: string; subject: string | null };
    const items = Array.from({ length: 45 }, (_, i): Item => {
      // groups of three share one instant (ties are ordered by id); spread over ~15 days
      const occurredAt = iso(base - Math.floor(i / 3) * 86_400_000);
      const subject = ['u1', 'u2', null][i % 3] ?? null;
      const apiKeyId = i % 4 === 0 ? other.id : t.adminKeyId;
      const common = { idempotencyKey: `ev-${i}`, occurredAt, subject, apiKeyId };
      switch (i % 5) {
        case 0:
          return { ...common, kind: 'LLM', provider: 'prov-a', model: 'pg-a', inputTokens: 100 + i, outputTokens: i };
        case 1:
          return { ...common, kind: 'CALL', provider: 'prov-b', model: 'pg-b', quantity: String(i) };
        case 2:
          return { ...common, kind: 'ASR', provider: 'prov-s', model: 'pg-s', durationMs: 1000 * i };
        case 3:
          return { ...common, kind: 'LLM', model: 'upstream', inputTokens: 5, cost: '0.01' };
        default:
          return { ...common, kind: 'CALL', cost: '0.5' };
      }
    });
    const ids = await record(t.adminKey, items);
    known = items.map((it, i) => {
      const ev = ids[i] as { id: string; occurredAt: string };
      const priceId = 'cost' in it ? null : it.model === 'pg-a' ? prices.a : it.model === 'pg-b' ? prices.b : prices.s;
      return {
        id: ev.id,
        occurredAt: ev.occurredAt,
        kind: it.kind,
        model: (it.model as string | undefined) ?? null,
        subject: it.subject ?? null,
        apiKeyId: it.apiKeyId,
        priceId: priceId ?? null,
        reversesId: null,
      };
    });
    // A reversal: a new entry with the original's instant, key, model and kind.
    const orig = known[4] as Known;
    const rev = await h.ok(t.adminKey, REVERSE, { input: { eventId: orig.id, idempotencyKey: 'rev-4' } });
    expect(rev.reverseUsage.outcome).toBe('CREATED');
    known.push({ ...orig, id: rev.reverseUsage.event.id, reversesId: orig.id });
    known.sort(newestFirst);

    // Another tenant's usage in the same range never shows up.
    const stranger = await h.seed.tenant('stranger');
    await record(stranger.adminKey, [{ idempotencyKey: 'ev-0', kind: 'CALL', cost: '1', occurredAt: iso(base) }]);
  });

  it('walks every page with first=7: each event exactly once, newest first, ties by id desc', async () => {
    const { nodes, pages } = await walk(reader.secret, range, 7);
    expect(known).toHaveLength(46);
    expect(pages).toHaveLength(7); // 6 x 7 + 4
    expect(nodes.map((n) => n.id)).toEqual(known.map((k) => k.id));
    expect(new Set(nodes.map((n) => n.id)).size).toBe(nodes.length);
    for (const [i, p] of pages.entries()) {
      const last = i === pages.length - 1;
      expect(p.edges).toHaveLength(last ? 4 : 7);
      expect(p.pageInfo.hasNextPage).toBe(!last);
      expect(p.pageInfo.endCursor).toBe(p.edges.at(-1)?.cursor);
    }
    // the order really has ties to break
    expect(new Set(known.map((k) => k.occurredAt)).size).toBeLessThan(known.length);
  });

  it('gets hasNextPage and endCursor right on an exactly full last page and after it', async () => {
    const first = await page(reader.secret, range, 23);
    expect(first.edges).toHaveLength(23);
    expect(first.pageInfo).toEqual({ hasNextPage: true, endCursor: first.edges[22]?.cursor });
    const second = await page(reader.secret, range, 23, first.pageInfo.endCursor);
    expect(second.edges.map((e) => e.node.id)).toEqual(known.slice(23).map((k) => k.id));
    expect(second.pageInfo).toEqual({ hasNextPage: false, endCursor: second.edges[22]?.cursor });
    const beyond = await page(reader.secret, range, 23, second.pageInfo.endCursor);
    expect(beyond).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });

    const all = await page(reader.secret, range); // default first = 50
    expect(all.edges.map((e) => e.node.id)).toEqual(known.map((k) => k.id));
    expect(all.pageInfo.hasNextPage).toBe(false);
    expect((await page(reader.secret, range, 46)).pageInfo.hasNextPage).toBe(false);
    expect((await page(reader.secret, range, 45)).pageInfo.hasNextPage).toBe(true);
    expect((await page(reader.secret, range, 500)).edges).toHaveLength(46);
  });

  it('rejects first over 500 or below 0, and a garbage after, naming the argument', async () => {
    for (const first of [501, 1000, -1]) {
      const r = await h.gql(reader.secret, EVENTS, { filter: range, first });
      expect(r.errors?.[0]?.extensions, String(first)).toMatchObject({ code: 'BAD_USER_INPUT', field: ['first'] });
    }
    const garbage = [
      'garbage',
      '!!!not-base64!!!',
      Buffer.from('{"a":1}').toString('base64url'),
      Buffer.from('["not a date","00000000-0000-0000-0000-000000000000"]').toString('base64url'),
      Buffer.from(JSON.stringify([new Date().toISOString(), 'not-a-uuid'])).toString('base64url'),
      // forged: a date Date rolls over, and instants PostgreSQL cannot hold
      Buffer.from('["2026-02-30T00:00:00.000Z","00000000-0000-4000-8000-000000000000"]').toString('base64url'),
      Buffer.from('["+010000-01-01T00:00:00.000Z","00000000-0000-4000-8000-000000000000"]').toString('base64url'),
      Buffer.from('["0000-01-01T00:00:00.000Z","00000000-0000-4000-8000-000000000000"]').toString('base64url'),
    ];
    for (const after of garbage) {
      const r = await h.gql(reader.secret, EVENTS, { filter: range, first: 7, after });
      expect(r.errors?.[0]?.extensions, after).toMatchObject({ code: 'BAD_USER_INPUT', field: ['after'] });
    }
  });

  it('filters by apiKeyId, model, kind and subject, each walked page by page', async () => {
    const cases: [Record<string, unknown>, (k: Known) => boolean][] = [
      [{ apiKeyId: other.id }, (k) => k.apiKeyId === other.id],
      [{ apiKeyId: t.adminKeyId }, (k) => k.apiKeyId === t.adminKeyId],
      [{ model: 'pg-a' }, (k) => k.model === 'pg-a'],
      [{ kind: 'CALL' }, (k) => k.kind === 'CALL'],
      [{ kind: 'ASR' }, (k) => k.kind === 'ASR'],
      [{ subject: 'u2' }, (k) => k.subject === 'u2'],
      [{ kind: 'LLM', subject: 'u1' }, (k) => k.kind === 'LLM' && k.subject === 'u1'],
      [{ apiKeyId: other.id, model: 'pg-b' }, (k) => k.apiKeyId === other.id && k.model === 'pg-b'],
    ];
    for (const [f, pred] of cases) {
      const want = known.filter(pred).map((k) => k.id);
      expect(want.length, JSON.stringify(f)).toBeGreaterThan(0);
      expect(want.length, JSON.stringify(f)).toBeLessThan(known.length);
      const { nodes } = await walk(reader.secret, { ...range, ...f }, 7);
      expect(
        nodes.map((n) => n.id),
        JSON.stringify(f),
      ).toEqual(want);
    }
    // the range narrows too: [from, to) of the newest day only
    const newest = known[0] as Known;
    const narrow = { from: newest.occurredAt, to: iso(Date.parse(newest.occurredAt) + 1) };
    const { nodes } = await walk(reader.secret, narrow, 2);
    expect(nodes.map((n) => n.id)).toEqual(known.filter((k) => k.occurredAt === newest.occurredAt).map((k) => k.id));
  });

  it('resolves apiKey, tenant, price and reverses on every node', async () => {
    const { nodes } = await walk(reader.secret, range, 7);
    const byId = new Map(known.map((k) => [k.id, k]));
    for (const n of nodes) {
      const k = byId.get(n.id) as Known;
      expect(n, n.id).toMatchObject({
        occurredAt: k.occurredAt,
        kind: k.kind,
        model: k.model,
        subject: k.subject,
        apiKey: { id: k.apiKeyId },
        tenant: { id: t.id },
        price: k.priceId ? { id: k.priceId } : null,
        reverses: k.reversesId ? { id: k.reversesId } : null,
      });
    }
    expect(nodes.filter((n) => n.reverses)).toHaveLength(1);
    expect(nodes.filter((n) => n.price).length).toBeGreaterThan(10);
    expect(nodes.filter((n) => !n.price).length).toBeGreaterThan(10);
    expect(new Set(nodes.map((n) => n.apiKey?.id)).size).toBe(2);
  });
});

describe('usageEvents while usage keeps arriving', () => {
  it('never repeats a seen event nor skips a pre-existing one; newer arrivals stay out, older ones come in order', async () => {
    const t = await h.seed.tenant('moving');
    const now = Date.now();
    const base = Math.floor(now / 1000) * 1000 - 120_000;
    const range = { from: iso(now - 30 * 86_400_000), to: iso(now + 86_400_000) };
    const pre = await record(
      t.adminKey,
      Array.from({ length: 40 }, (_, i) => ({
        idempotencyKey: `pre-${i}`,
        kind: 'CALL',
        cost: '1',
        // pairs share an instant, ten minutes apart
        occurredAt: iso(base - Math.floor(i / 2) * 600_000),
      })),
    );
    const newer: string[] = [];
    const older: { id: string; occurredAt: string }[] = [];
    let n = 0;
    const { nodes } = await walk(t.adminKey, range, 7, async (p) => {
      const last = p.edges.at(-1)?.node;
      if (!last || !p.pageInfo.hasNextPage) return; // the walk ends here
      const cursorAt = Date.parse(last.occurredAt);
      const at = [
        // newer than the cursor (one even newer than everything)
        iso(cursorAt + 60_000),
        iso(Math.min(now + 60_000, base + 30_000)),
        // older than the cursor: just below it, and much older than everything
        iso(cursorAt - 1),
        iso(cursorAt - 5 * 60_000),
        iso(base - 25 * 86_400_000 - n * 1000),
      ];
      const evs = await record(
        t.adminKey,
        at.map((occurredAt, j) => ({ idempotencyKey: `mid-${n}-${j}`, kind: 'CALL', cost: '1', occurredAt })),
      );
      n++;
      for (const ev of evs) {
        if (Date.parse(ev.occurredAt) > cursorAt) newer.push(ev.id);
        else older.push(ev);
      }
    });
    expect(n).toBeGreaterThan(5);
    const seen = nodes.map((x) => x.id);
    // no repeats
    expect(new Set(seen).size).toBe(seen.length);
    // every pre-existing event, none skipped, in the contract's order
    const preSorted = [...pre].sort(newestFirst).map((e) => e.id);
    expect(seen.filter((id) => preSorted.includes(id))).toEqual(preSorted);
    // arrivals newer than the cursor at the time are behind the walk: never shown
    expect(seen.filter((id) => newer.includes(id))).toEqual([]);
    // arrivals older than the cursor are ahead of it: each shown once, and the whole walk is in order
    expect([...seen].sort()).toEqual([...preSorted, ...older.map((e) => e.id)].sort());
    const at = new Map([...pre, ...older].map((e) => [e.id, e.occurredAt]));
    const walked = seen.map((id) => ({ id, occurredAt: at.get(id) as string }));
    expect(walked).toEqual([...walked].sort(newestFirst));
  });
});

describe('tenants (operator)', () => {
  const TENANTS = `query($first: Int, $after: String) {
    tenants(first: $first, after: $after) { edges { cursor node { id createdAt } } pageInfo { hasNextPage endCursor } }
  }`;

  it('walks every tenant once, newest first, also tenants created within one millisecond', async () => {
    // Microseconds apart inside one millisecond: a cursor holds milliseconds, so the order must too.
    await h.sql(
      `INSERT INTO tenants (name, created_at)
       SELECT 'same-ms-' || i, '2026-03-01T12:00:00.123Z'::timestamptz + i * interval '1 microsecond'
         FROM generate_series(1, 5) AS i`,
    );
    const ids: string[] = [];
    let after: string | null = null;
    for (let n = 0; n < 100; n++) {
      const r: any = (await h.ok(OPERATOR_KEY, TENANTS, { first: 2, ...(after ? { after } : {}) })).tenants;
      ids.push(...r.edges.map((e: { node: { id: string } }) => e.node.id));
      if (!r.pageInfo.hasNextPage) break;
      after = r.pageInfo.endCursor;
    }
    const all = await h.sql<{ id: string }>(
      `SELECT id FROM tenants ORDER BY date_trunc('milliseconds', created_at) DESC, id DESC`,
    );
    expect(all.length).toBeGreaterThanOrEqual(6);
    expect(ids).toEqual(all.map((r) => r.id));
  });

  it('rejects first over 500 and a garbage after, naming the argument', async () => {
    const big = await h.gql(OPERATOR_KEY, TENANTS, { first: 501 });
    expect(big.errors?.map((e: any) => [e.extensions?.code, e.extensions?.field])).toEqual([
      ['BAD_USER_INPUT', ['first']],
    ]);
    const bad = await h.gql(OPERATOR_KEY, TENANTS, { after: 'nope' });
    expect(bad.errors?.map((e: any) => [e.extensions?.code, e.extensions?.field])).toEqual([
      ['BAD_USER_INPUT', ['after']],
    ]);
  });
});
