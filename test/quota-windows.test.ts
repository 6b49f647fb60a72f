// Quota windows in the tenant's zone, each case with its expected window written out:
// 23:59:59 and 00:00:00 local in different DAY windows (a :30 zone, where both instants share
// one UTC hour, and Berlin in winter and summer), DST days of 23 and 25 hours in New York
// (with both 01:30s of the fall-back), month ends (MONTH windows), authorizations at a local
// midnight, and TOTAL limits that never reset.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, type SeededTenant } from './support/harness';
import { type LimitInput, uniq, World } from './support/world';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('quota-windows');
});
afterAll(async () => h?.close());

const QUOTA = `query($apiKeyId: ID, $subject: String) { quotaStatus(apiKeyId: $apiKeyId, subject: $subject) {
  blocked items { limit { id period } periodStart periodEnd used reserved remaining exceeded } } }`;
const BATCH = `mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) {
  created rejected results { event { id } error { code message field } } } }`;
const AUTHORIZE = `mutation($input: AuthorizeUsageInput!) { authorizeUsage(input: $input) {
  allowed deniedBy { limit { id } used } reservation { id expiresAt } } }`;

const dec = (v: string | number) => {
  const [i, f = ''] = String(v).split('.');
  return `${i}.${f.padEnd(12, '0')}`;
};
const HOUR = 3600_000;

/** A plan of the given limits and a tenant on it since long before any clock set here. */
async function tenantWith(limits: LimitInput[], timezone: string) {
  h.clock.set('2026-01-01T00:00:00Z');
  const t = await World.on(h).tenant(uniq('win'), timezone).onPlan(limits);
  return { t, limits: t.plan?.limits.map((l) => l.id) ?? [] };
}

let seq = 0;
/** Records CALL events (cost as given) with the server clock one minute after the last one. */
async function recordAt(t: SeededTenant, events: [at: string, cost: string][]) {
  h.clock.set(new Date(Math.max(...events.map(([at]) => Date.parse(at))) + 60_000));
  const d = await h.ok(t.adminKey, BATCH, {
    input: events.map(([at, cost]) => ({ idempotencyKey: `qw-${++seq}`, kind: 'CALL', cost, occurredAt: at })),
  });
  expect(d.recordUsageBatch.rejected, JSON.stringify(d.recordUsageBatch.results)).toBe(0);
  return d.recordUsageBatch.results.map((r: { event: { id: string } }) => r.event.id) as string[];
}

/** The quota item of `limitId` with the server clock at `at`. */
async function itemAt(t: SeededTenant, limitId: string, at: string) {
  h.clock.set(at);
  const q = (await h.ok(t.adminKey, QUOTA, {})).quotaStatus;
  const found = q.items.filter((i: { limit: { id: string } }) => i.limit.id === limitId);
  expect(found).toHaveLength(1);
  return found[0] as { periodStart: string | null; periodEnd: string | null; used: string; exceeded: boolean };
}

const DAY_AND_MONTH: LimitInput[] = [
  { metric: 'COST', period: 'DAY', amount: '1000', action: 'ALERT', thresholds: [] },
  { metric: 'COST', period: 'MONTH', amount: '1000', action: 'ALERT', thresholds: [] },
];

describe('DAY windows in the tenant zone', () => {
  it('Asia/Kolkata: 23:59:59 and 00:00:00 local fall in different days (same UTC hour)', async () => {
    const {
      t,
      limits: [day, month],
    } = await tenantWith(DAY_AND_MONTH, 'Asia/Kolkata');
    await recordAt(t, [
      ['2026-04-13T23:59:59.999+05:30', '8'],
      ['2026-04-14T00:00:00+05:30', '4'],
      ['2026-04-14T23:59:59+05:30', '1'],
      ['2026-04-15T00:00:00+05:30', '2'],
    ]);
    expect(await itemAt(t, day!, '2026-04-15T00:00:30+05:30')).toMatchObject({
      periodStart: '2026-04-14T18:30:00.000Z',
      periodEnd: '2026-04-15T18:30:00.000Z',
      used: dec(2),
    });
    expect(await itemAt(t, month!, '2026-04-15T00:00:30+05:30')).toMatchObject({
      periodStart: '2026-03-31T18:30:00.000Z',
      periodEnd: '2026-04-30T18:30:00.000Z',
      used: dec(15),
    });
    for (const at of ['2026-04-14T23:59:59.999+05:30', '2026-04-14T00:00:00+05:30'])
      expect(await itemAt(t, day!, at), at).toMatchObject({
        periodStart: '2026-04-13T18:30:00.000Z',
        periodEnd: '2026-04-14T18:30:00.000Z',
        used: dec(5),
      });
    expect(await itemAt(t, day!, '2026-04-13T23:59:59.999+05:30')).toMatchObject({
      periodStart: '2026-04-12T18:30:00.000Z',
      used: dec(8),
    });
  });

  it('Europe/Berlin: local midnight in winter (+01:00) splits the days', async () => {
    const {
      t,
      limits: [day],
    } = await tenantWith(DAY_AND_MONTH, 'Europe/Berlin');
    await recordAt(t, [
      ['2026-01-14T23:59:59+01:00', '1'],
      ['2026-01-15T00:00:00+01:00', '2'],
      ['2026-01-15T23:30:00+01:00', '4'],
    ]);
    expect(await itemAt(t, day!, '2026-01-15T00:00:30+01:00')).toMatchObject({
      periodStart: '2026-01-14T23:00:00.000Z',
      periodEnd: '2026-01-15T23:00:00.000Z',
      used: dec(6),
    });
    expect(await itemAt(t, day!, '2026-01-14T23:59:59.999+01:00')).toMatchObject({
      periodStart: '2026-01-13T23:00:00.000Z',
      periodEnd: '2026-01-14T23:00:00.000Z',
      used: dec(1),
    });
    // 23:30 UTC on the 14th is already the 15th in Berlin.
    expect((await itemAt(t, day!, '2026-01-14T23:30:00Z')).used).toBe(dec(6));
  });

  it('America/New_York 2026-03-08 (spring forward) is a 23-hour day between local midnights', async () => {
    const {
      t,
      limits: [day, month],
    } = await tenantWith(DAY_AND_MONTH, 'America/New_York');
    await recordAt(t, [
      ['2026-03-07T23:59:59-05:00', '1'],
      ['2026-03-08T00:00:00-05:00', '2'],
      ['2026-03-08T01:59:59-05:00', '4'],
      ['2026-03-08T03:00:00-04:00', '8'],
      ['2026-03-08T23:59:59-04:00', '16'],
      ['2026-03-09T00:00:00-04:00', '32'],
    ]);
    const d = await itemAt(t, day!, '2026-03-08T12:00:00-04:00');
    expect(d).toMatchObject({
      periodStart: '2026-03-08T05:00:00.000Z',
      periodEnd: '2026-03-09T04:00:00.000Z',
      used: dec(30),
    });
    expect(Date.parse(d.periodEnd!) - Date.parse(d.periodStart!)).toBe(23 * HOUR);
    expect((await itemAt(t, day!, '2026-03-08T01:59:59.999-05:00')).used).toBe(dec(30));
    const next = await itemAt(t, day!, '2026-03-09T00:00:30-04:00');
    expect(next).toMatchObject({ periodStart: '2026-03-09T04:00:00.000Z', used: dec(32) });
    expect(Date.parse(next.periodEnd!) - Date.parse(next.periodStart!)).toBe(24 * HOUR);
    expect(await itemAt(t, month!, '2026-03-08T12:00:00-04:00')).toMatchObject({
      periodStart: '2026-03-01T05:00:00.000Z',
      periodEnd: '2026-04-01T04:00:00.000Z',
      used: dec(63),
    });
  });

  it('America/New_York 2026-11-01 (fall back) is a 25-hour day holding both 01:30s', async () => {
    const {
      t,
      limits: [day, month],
    } = await tenantWith(DAY_AND_MONTH, 'America/New_York');
    await recordAt(t, [
      ['2026-10-31T23:59:59-04:00', '1'],
      ['2026-11-01T00:00:00-04:00', '2'],
      ['2026-11-01T01:30:00-04:00', '4'],
      ['2026-11-01T01:30:00-05:00', '8'],
      ['2026-11-01T23:59:59-05:00', '16'],
      ['2026-11-02T00:00:00-05:00', '32'],
    ]);
    for (const at of ['2026-11-01T12:00:00-05:00', '2026-11-01T01:45:00-05:00', '2026-11-01T00:00:00-04:00']) {
      const d = await itemAt(t, day!, at);
      expect(d, at).toMatchObject({
        periodStart: '2026-11-01T04:00:00.000Z',
        periodEnd: '2026-11-02T05:00:00.000Z',
        used: dec(30),
      });
      expect(Date.parse(d.periodEnd!) - Date.parse(d.periodStart!)).toBe(25 * HOUR);
    }
    expect(await itemAt(t, month!, '2026-11-01T12:00:00-05:00')).toMatchObject({
      periodStart: '2026-11-01T04:00:00.000Z',
      periodEnd: '2026-12-01T05:00:00.000Z',
      used: dec(62),
    });
    expect(await itemAt(t, day!, '2026-10-31T23:59:59.999-04:00')).toMatchObject({
      periodStart: '2026-10-31T04:00:00.000Z',
      periodEnd: '2026-11-01T04:00:00.000Z',
      used: dec(1),
    });
    expect(await itemAt(t, month!, '2026-10-31T23:59:59.999-04:00')).toMatchObject({
      periodStart: '2026-10-01T04:00:00.000Z',
      periodEnd: '2026-11-01T04:00:00.000Z',
      used: dec(1),
    });
  });
});

describe('MONTH windows', () => {
  it('month ends in a :30 zone, in summer time and at the turn of the year', async () => {
    const cases: {
      zone: string;
      events: [string, string][];
      at: string;
      start: string;
      end: string;
      used: string;
    }[] = [
      {
        zone: 'Asia/Kolkata',
        events: [
          ['2026-02-28T23:59:59+05:30', '1'],
          ['2026-03-01T00:00:00+05:30', '2'],
        ],
        at: '2026-03-01T00:00:30+05:30',
        start: '2026-02-28T18:30:00.000Z',
        end: '2026-03-31T18:30:00.000Z',
        used: '2',
      },
      {
        zone: 'Asia/Kolkata',
        events: [
          ['2026-02-28T23:59:59+05:30', '1'],
          ['2026-03-01T00:00:00+05:30', '2'],
        ],
        at: '2026-02-28T23:59:59.999+05:30',
        start: '2026-01-31T18:30:00.000Z',
        end: '2026-02-28T18:30:00.000Z',
        used: '1',
      },
      {
        zone: 'Europe/Berlin',
        events: [
          ['2026-06-30T23:59:59+02:00', '1'],
          ['2026-07-01T00:00:00+02:00', '2'],
        ],
        at: '2026-07-01T00:00:30+02:00',
        start: '2026-06-30T22:00:00.000Z',
        end: '2026-07-31T22:00:00.000Z',
        used: '2',
      },
      {
        zone: 'Europe/Berlin',
        events: [
          ['2026-06-30T23:59:59+02:00', '1'],
          ['2026-07-01T00:00:00+02:00', '2'],
        ],
        at: '2026-06-30T23:59:59.999+02:00',
        start: '2026-05-31T22:00:00.000Z',
        end: '2026-06-30T22:00:00.000Z',
        used: '1',
      },
      {
        zone: 'UTC',
        events: [
          ['2025-12-31T23:59:59.999Z', '1'],
          ['2026-01-01T00:00:00Z', '2'],
        ],
        at: '2026-01-01T00:00:30Z',
        start: '2026-01-01T00:00:00.000Z',
        end: '2026-02-01T00:00:00.000Z',
        used: '2',
      },
    ];
    for (const c of cases) {
      const {
        t,
        limits: [, month],
      } = await tenantWith(DAY_AND_MONTH, c.zone);
      await recordAt(t, c.events);
      expect(await itemAt(t, month!, c.at), `${c.zone} ${c.at}`).toMatchObject({
        periodStart: c.start,
        periodEnd: c.end,
        used: dec(c.used),
      });
    }
  });
});

describe('authorizations at a local midnight', () => {
  it('a DAY BLOCK limit resets at local midnight; an open reservation still counts across it', async () => {
    const {
      t,
      limits: [day],
    } = await tenantWith([{ metric: 'COST', period: 'DAY', amount: '1', action: 'BLOCK' }], 'Asia/Kolkata');
    await recordAt(t, [['2026-04-14T23:00:00+05:30', '1']]);
    h.clock.set('2026-04-14T23:59:30+05:30');
    const late = (await h.ok(t.adminKey, AUTHORIZE, { input: { estimate: { cost: '0' } } })).authorizeUsage;
    expect(late.allowed).toBe(false);
    expect(late.deniedBy).toMatchObject({ limit: { id: day }, used: dec(1) });

    h.clock.set('2026-04-15T00:00:00+05:30');
    const fresh = (await h.ok(t.adminKey, AUTHORIZE, { input: { estimate: { cost: '0.75' }, reserveSeconds: 600 } }))
      .authorizeUsage;
    expect(fresh.allowed).toBe(true);
    expect(fresh.reservation.expiresAt).toBe('2026-04-14T18:40:00.000Z');
    expect(await itemAt(t, day!, '2026-04-15T00:05:00+05:30')).toMatchObject({
      used: dec(0),
      reserved: dec('0.75'),
      remaining: dec('0.25'),
    });
  });
});

describe('TOTAL limits', () => {
  it('never reset: not at a month, not at a year; reversals still reduce them', async () => {
    const {
      t,
      limits: [total, day],
    } = await tenantWith(
      [
        { metric: 'REQUESTS', period: 'TOTAL', amount: '3', action: 'BLOCK' },
        { metric: 'REQUESTS', period: 'DAY', amount: '100', action: 'BLOCK' },
      ],
      'Pacific/Auckland',
    );
    const [first] = await recordAt(t, [['2026-01-10T10:17:00Z', '0.5']]);
    await recordAt(t, [['2026-03-31T11:59:59Z', '0.5']]);
    await recordAt(t, [['2026-08-20T23:45:00+12:00', '0.5']]);
    for (const at of ['2026-08-21T00:00:00+12:00', '2026-12-31T23:59:59+13:00', '2027-06-01T00:00:00+12:00']) {
      const q = await itemAt(t, total!, at);
      expect(q, at).toMatchObject({ periodStart: null, periodEnd: null, used: dec(3), exceeded: true });
      const s = (await h.ok(t.adminKey, QUOTA, {})).quotaStatus;
      expect(s.blocked, at).toBe(true);
    }
    // The DAY limit next to it did reset.
    expect((await itemAt(t, day!, '2027-06-01T00:00:00+12:00')).used).toBe(dec(0));
    const denied = (await h.ok(t.adminKey, AUTHORIZE, { input: { estimate: { requests: 0 } } })).authorizeUsage;
    expect(denied.allowed).toBe(false);
    expect(denied.deniedBy.limit.id).toBe(total);

    await h.ok(t.adminKey, 'mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { outcome } }', {
      input: { eventId: first, idempotencyKey: 'total-rev' },
    });
    expect(await itemAt(t, total!, '2027-06-01T00:00:00+12:00')).toMatchObject({ used: dec(2), exceeded: false });
    const allowed = (await h.ok(t.adminKey, AUTHORIZE, { input: { estimate: { requests: 1 } } })).authorizeUsage;
    expect(allowed.allowed).toBe(true);

    // Alerts of a TOTAL limit have no window: 80 and 100 were stored once, and crossing them
    // again after the reversal stores nothing new.
    const alerts = async () =>
      h.sql('SELECT threshold, period_start FROM quota_alerts WHERE limit_id = $1 ORDER BY threshold', [total]);
    expect(await alerts()).toEqual([
      { threshold: 80, period_start: null },
      { threshold: 100, period_start: null },
    ]);
    await recordAt(t, [['2027-06-01T00:00:00+12:00', '0.5']]);
    expect((await itemAt(t, total!, '2027-06-01T00:01:00+12:00')).used).toBe(dec(3));
    expect(await alerts()).toHaveLength(2);
  });
});
