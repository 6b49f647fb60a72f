// Calendar buckets in the tenant's zone, each case with its expected buckets written out:
// local midnights, `from` inside a bucket, DST days of 23 and 25 hours (and 24.5 in Lord Howe),
// the two 01:00 hours of a fall-back, ISO weeks from Monday, month ends in half/quarter-hour
// zones, :30 and :15 UTC hour starts, and Tenant.usage / ApiKey.usage over partial hours.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, type SeededTenant, SUMMARY } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('windows');
});
afterAll(async () => h?.close());

const BATCH = `mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) {
  created rejected results { error { code message field } } } }`;

interface Ev {
  /** RFC 3339 with the local offset written out, e.g. 2026-01-14T23:59:59+01:00. */
  at: string;
  cost: string;
  apiKeyId?: string;
  extra?: Record<string, unknown>;
}
let seq = 0;

/** Records CALL events (one request each, cost as given) with the server clock just after the last one. */
async function record(t: SeededTenant, events: Ev[]) {
  const last = Math.max(...events.map((e) => Date.parse(e.at)));
  h.clock.set(new Date(last + 60_000));
  const d = await h.ok(t.adminKey, BATCH, {
    input: events.map((e) => ({
      idempotencyKey: `w-${++seq}`,
      kind: 'CALL',
      cost: e.cost,
      occurredAt: e.at,
      ...(e.apiKeyId ? { apiKeyId: e.apiKeyId } : {}),
      ...e.extra,
    })),
  });
  expect(d.recordUsageBatch.rejected, JSON.stringify(d.recordUsageBatch.results)).toBe(0);
  expect(d.recordUsageBatch.created).toBe(events.length);
}

interface B {
  start: string | null;
  requests: number;
  cost: string;
}
/** usageSummary buckets as { start, requests, cost } with cost trimmed ("14.000000000000" -> "14"). */
async function buckets(
  t: SeededTenant,
  from: string,
  to: string,
  granularity: 'HOUR' | 'DAY' | 'WEEK' | 'MONTH' | null,
  filter: Record<string, unknown> = {},
): Promise<B[]> {
  const d = await h.ok(t.adminKey, SUMMARY, { filter: { from, to, ...filter }, granularity });
  const out: B[] = d.usageSummary.buckets.map(
    (b: { start: string | null; totals: { requests: number; cost: string } }) => ({
      start: b.start,
      requests: b.totals.requests,
      cost: trim(b.totals.cost),
    }),
  );
  // totals is the sum of the buckets here too
  expect(d.usageSummary.totals.requests).toBe(out.reduce((a, b) => a + b.requests, 0));
  return out;
}
const trim = (s: string) => s.replace(/\.?0+$/, '');
const hours = (a: string, b: string) => (Date.parse(b) - Date.parse(a)) / 3_600_000;

describe('DAY buckets', () => {
  it('23:59:59 and 00:00:00 local land in different days (Berlin winter and summer)', async () => {
    const t = await h.seed.tenant('berlin-midnight', 'Europe/Berlin');
    await record(t, [
      { at: '2026-01-14T23:59:59+01:00', cost: '1' },
      { at: '2026-01-15T00:00:00+01:00', cost: '2' },
      { at: '2026-01-15T12:00:00+01:00', cost: '4' },
      { at: '2026-01-15T23:59:59.999+01:00', cost: '8' },
      { at: '2026-01-16T00:00:00+01:00', cost: '16' },
    ]);
    expect(await buckets(t, '2026-01-14T00:00:00Z', '2026-01-17T00:00:00Z', 'DAY')).toEqual([
      { start: '2026-01-13T23:00:00.000Z', requests: 1, cost: '1' },
      { start: '2026-01-14T23:00:00.000Z', requests: 3, cost: '14' },
      { start: '2026-01-15T23:00:00.000Z', requests: 1, cost: '16' },
    ]);
    await record(t, [
      { at: '2026-07-14T23:59:59+02:00', cost: '1' },
      { at: '2026-07-15T00:00:00+02:00', cost: '2' },
    ]);
    expect(await buckets(t, '2026-07-14T05:00:00Z', '2026-07-16T00:00:00Z', 'DAY')).toEqual([
      { start: '2026-07-13T22:00:00.000Z', requests: 1, cost: '1' },
      { start: '2026-07-14T22:00:00.000Z', requests: 1, cost: '2' },
    ]);
  });

  it('23:59:59 and 00:00:00 local land in different days (Kolkata +05:30, Kathmandu +05:45)', async () => {
    const kol = await h.seed.tenant('kolkata-midnight', 'Asia/Kolkata');
    await record(kol, [
      { at: '2026-01-14T23:59:59+05:30', cost: '1' }, // 18:29:59Z
      { at: '2026-01-15T00:00:00+05:30', cost: '2' }, // 18:30:00Z
      { at: '2026-01-15T11:00:00+05:30', cost: '4' },
      { at: '2026-01-15T23:59:59.999+05:30', cost: '8' },
      { at: '2026-01-16T00:00:00+05:30', cost: '16' },
    ]);
    expect(await buckets(kol, '2026-01-14T00:00:00Z', '2026-01-17T00:00:00Z', 'DAY')).toEqual([
      { start: '2026-01-13T18:30:00.000Z', requests: 1, cost: '1' },
      { start: '2026-01-14T18:30:00.000Z', requests: 3, cost: '14' },
      { start: '2026-01-15T18:30:00.000Z', requests: 1, cost: '16' },
    ]);

    const ktm = await h.seed.tenant('kathmandu-midnight', 'Asia/Kathmandu');
    await record(ktm, [
      { at: '2026-01-14T23:59:59+05:45', cost: '1' }, // 18:14:59Z
      { at: '2026-01-15T00:00:00+05:45', cost: '2' }, // 18:15:00Z
    ]);
    expect(await buckets(ktm, '2026-01-14T00:00:00Z', '2026-01-17T00:00:00Z', 'DAY')).toEqual([
      { start: '2026-01-13T18:15:00.000Z', requests: 1, cost: '1' },
      { start: '2026-01-14T18:15:00.000Z', requests: 1, cost: '2' },
    ]);
  });

  it('starts at local midnight even when `from` is inside the day, and counts only [from, to)', async () => {
    const t = await h.seed.tenant('berlin-partial', 'Europe/Berlin');
    await record(t, [
      { at: '2026-01-20T08:00:00+01:00', cost: '1' }, // before from
      { at: '2026-01-20T09:17:23.455+01:00', cost: '1' }, // 1 ms before from
      { at: '2026-01-20T09:17:23.456+01:00', cost: '2' }, // exactly from: in
      { at: '2026-01-20T12:00:00+01:00', cost: '4' },
      { at: '2026-01-20T23:59:59+01:00', cost: '8' },
      { at: '2026-01-21T00:00:00+01:00', cost: '16' },
      { at: '2026-01-21T09:29:59.999+01:00', cost: '32' }, // 1 ms before to: in
      { at: '2026-01-21T09:30:00+01:00', cost: '64' }, // exactly to: out
      { at: '2026-01-21T15:00:00+01:00', cost: '128' }, // after to
    ]);
    const from = '2026-01-20T08:17:23.456Z';
    const to = '2026-01-21T08:30:00.000Z';
    expect(await buckets(t, from, to, 'DAY')).toEqual([
      { start: '2026-01-19T23:00:00.000Z', requests: 3, cost: '14' },
      { start: '2026-01-20T23:00:00.000Z', requests: 2, cost: '48' },
    ]);
    expect(await buckets(t, from, to, null)).toEqual([{ start: null, requests: 5, cost: '62' }]);
    expect(await buckets(t, from, to, 'WEEK')).toEqual([
      { start: '2026-01-18T23:00:00.000Z', requests: 5, cost: '62' }, // Monday 2026-01-19 00:00 +01:00
    ]);
    expect(await buckets(t, from, to, 'MONTH')).toEqual([
      { start: '2025-12-31T23:00:00.000Z', requests: 5, cost: '62' },
    ]);

    const kol = await h.seed.tenant('kolkata-partial', 'Asia/Kolkata');
    await record(kol, [
      { at: '2026-01-20T10:04:59.999Z', cost: '1' }, // before from
      { at: '2026-01-20T10:05:00Z', cost: '2' }, // 15:35 IST, exactly from
      { at: '2026-01-20T18:29:59Z', cost: '4' }, // 23:59:59 IST
      { at: '2026-01-20T18:30:00Z', cost: '8' }, // Jan 21 00:00 IST
      { at: '2026-01-21T02:10:30Z', cost: '16' }, // exactly to: out
    ]);
    expect(await buckets(kol, '2026-01-20T10:05:00Z', '2026-01-21T02:10:30Z', 'DAY')).toEqual([
      { start: '2026-01-19T18:30:00.000Z', requests: 2, cost: '6' },
      { start: '2026-01-20T18:30:00.000Z', requests: 1, cost: '8' },
    ]);
  });

  it('New York spring-forward day (2026-03-08) is 23 hours and holds exactly its events', async () => {
    const t = await h.seed.tenant('ny-spring', 'America/New_York');
    await record(t, [
      { at: '2026-03-07T23:59:59-05:00', cost: '1' },
      { at: '2026-03-08T00:00:00-05:00', cost: '2' },
      { at: '2026-03-08T01:59:59-05:00', cost: '4' },
      { at: '2026-03-08T03:00:00-04:00', cost: '8' }, // the instant after 01:59:59 EST
      { at: '2026-03-08T23:59:59-04:00', cost: '16' },
      { at: '2026-03-09T00:00:00-04:00', cost: '32' },
    ]);
    const days = await buckets(t, '2026-03-07T12:00:00Z', '2026-03-10T00:00:00Z', 'DAY');
    expect(days).toEqual([
      { start: '2026-03-07T05:00:00.000Z', requests: 1, cost: '1' },
      { start: '2026-03-08T05:00:00.000Z', requests: 4, cost: '30' },
      { start: '2026-03-09T04:00:00.000Z', requests: 1, cost: '32' },
    ]);
    expect(hours(days[1]?.start as string, days[2]?.start as string)).toBe(23);
    expect(await buckets(t, '2026-03-08T06:30:00Z', '2026-03-08T07:30:00Z', 'HOUR')).toEqual([
      { start: '2026-03-08T06:00:00.000Z', requests: 1, cost: '4' }, // 01:00 EST
      { start: '2026-03-08T07:00:00.000Z', requests: 1, cost: '8' }, // 03:00 EDT
    ]);
  });

  it('New York fall-back day (2026-11-01) is 25 hours; its two 01:00 hours stay apart', async () => {
    const t = await h.seed.tenant('ny-fall', 'America/New_York');
    await record(t, [
      { at: '2026-10-31T23:59:59-04:00', cost: '1' },
      { at: '2026-11-01T00:00:00-04:00', cost: '2' },
      { at: '2026-11-01T01:10:00-04:00', cost: '4' }, // first 01:xx (EDT) = 05:10Z
      { at: '2026-11-01T01:50:00-04:00', cost: '8' }, // 05:50Z
      { at: '2026-11-01T01:20:00-05:00', cost: '16' }, // second 01:xx (EST) = 06:20Z
      { at: '2026-11-01T23:59:59-05:00', cost: '32' },
      { at: '2026-11-02T00:00:00-05:00', cost: '64' },
    ]);
    const days = await buckets(t, '2026-10-31T10:00:00Z', '2026-11-03T00:00:00Z', 'DAY');
    expect(days).toEqual([
      { start: '2026-10-31T04:00:00.000Z', requests: 1, cost: '1' },
      { start: '2026-11-01T04:00:00.000Z', requests: 5, cost: '62' },
      { start: '2026-11-02T05:00:00.000Z', requests: 1, cost: '64' },
    ]);
    expect(hours(days[1]?.start as string, days[2]?.start as string)).toBe(25);
    expect(await buckets(t, '2026-11-01T04:30:00Z', '2026-11-01T07:00:00Z', 'HOUR')).toEqual([
      { start: '2026-11-01T05:00:00.000Z', requests: 2, cost: '12' }, // 01:00 EDT
      { start: '2026-11-01T06:00:00.000Z', requests: 1, cost: '16' }, // 01:00 EST
    ]);
  });

  it("DST days in St John's (-03:30 -> -02:30), Lord Howe (30-minute shift) and Chatham (+12:45)", async () => {
    const sj = await h.seed.tenant('stjohns-spring', 'America/St_Johns');
    await record(sj, [
      { at: '2026-03-07T23:59:59-03:30', cost: '1' },
      { at: '2026-03-08T00:00:00-03:30', cost: '2' },
      { at: '2026-03-08T23:59:59-02:30', cost: '4' },
      { at: '2026-03-09T00:00:00-02:30', cost: '8' },
    ]);
    const sjDays = await buckets(sj, '2026-03-07T12:00:00Z', '2026-03-10T00:00:00Z', 'DAY');
    expect(sjDays).toEqual([
      { start: '2026-03-07T03:30:00.000Z', requests: 1, cost: '1' },
      { start: '2026-03-08T03:30:00.000Z', requests: 2, cost: '6' },
      { start: '2026-03-09T02:30:00.000Z', requests: 1, cost: '8' },
    ]);
    expect(hours(sjDays[1]?.start as string, sjDays[2]?.start as string)).toBe(23);

    // Lord Howe falls back 30 minutes on 2026-04-05 (02:00 +11:00 -> 01:30 +10:30): a 24.5-hour day.
    const lh = await h.seed.tenant('lordhowe-fall', 'Australia/Lord_Howe');
    await record(lh, [
      { at: '2026-04-04T23:59:59+11:00', cost: '1' },
      { at: '2026-04-05T00:00:00+11:00', cost: '2' },
      { at: '2026-04-05T01:45:00+11:00', cost: '4' }, // first 01:45
      { at: '2026-04-05T01:45:00+10:30', cost: '8' }, // second 01:45
      { at: '2026-04-05T23:59:59+10:30', cost: '16' },
      { at: '2026-04-06T00:00:00+10:30', cost: '32' },
    ]);
    const lhDays = await buckets(lh, '2026-04-04T00:00:00Z', '2026-04-06T12:00:00Z', 'DAY');
    expect(lhDays).toEqual([
      { start: '2026-04-03T13:00:00.000Z', requests: 1, cost: '1' },
      { start: '2026-04-04T13:00:00.000Z', requests: 4, cost: '30' },
      { start: '2026-04-05T13:30:00.000Z', requests: 1, cost: '32' },
    ]);
    expect(hours(lhDays[1]?.start as string, lhDays[2]?.start as string)).toBe(24.5);

    // Chatham springs forward on 2026-09-27 (02:45 +12:45 -> 03:45 +13:45): a 23-hour day.
    const ch = await h.seed.tenant('chatham-spring', 'Pacific/Chatham');
    await record(ch, [
      { at: '2026-09-26T23:59:59+12:45', cost: '1' },
      { at: '2026-09-27T00:00:00+12:45', cost: '2' },
      { at: '2026-09-27T02:44:59+12:45', cost: '4' },
      { at: '2026-09-27T03:45:00+13:45', cost: '8' },
      { at: '2026-09-27T23:59:59+13:45', cost: '16' },
      { at: '2026-09-28T00:00:00+13:45', cost: '32' },
    ]);
    const chDays = await buckets(ch, '2026-09-25T20:00:00Z', '2026-09-28T20:00:00Z', 'DAY');
    expect(chDays).toEqual([
      { start: '2026-09-25T11:15:00.000Z', requests: 1, cost: '1' },
      { start: '2026-09-26T11:15:00.000Z', requests: 4, cost: '30' },
      { start: '2026-09-27T10:15:00.000Z', requests: 1, cost: '32' },
    ]);
    expect(hours(chDays[1]?.start as string, chDays[2]?.start as string)).toBe(23);
  });
});

describe('WEEK buckets', () => {
  it('start on Monday local midnight (Berlin, Kolkata, and New York across the DST change)', async () => {
    const ber = await h.seed.tenant('berlin-week', 'Europe/Berlin');
    await record(ber, [
      { at: '2026-01-08T10:00:00+01:00', cost: '8' }, // Thursday
      { at: '2026-01-11T23:59:59+01:00', cost: '1' }, // Sunday, last second of the week
      { at: '2026-01-12T00:00:00+01:00', cost: '2' }, // Monday 00:00
      { at: '2026-01-14T15:00:00+01:00', cost: '4' }, // Wednesday
    ]);
    expect(await buckets(ber, '2026-01-07T13:45:12.345Z', '2026-01-20T00:00:00Z', 'WEEK')).toEqual([
      { start: '2026-01-04T23:00:00.000Z', requests: 2, cost: '9' }, // Mon 2026-01-05 00:00 +01:00
      { start: '2026-01-11T23:00:00.000Z', requests: 2, cost: '6' }, // Mon 2026-01-12 00:00 +01:00
    ]);

    const kol = await h.seed.tenant('kolkata-week', 'Asia/Kolkata');
    await record(kol, [
      { at: '2026-01-11T23:59:59+05:30', cost: '1' },
      { at: '2026-01-12T00:00:00+05:30', cost: '2' },
    ]);
    expect(await buckets(kol, '2026-01-09T00:00:00Z', '2026-01-13T00:00:00Z', 'WEEK')).toEqual([
      { start: '2026-01-04T18:30:00.000Z', requests: 1, cost: '1' },
      { start: '2026-01-11T18:30:00.000Z', requests: 1, cost: '2' },
    ]);

    const ny = await h.seed.tenant('ny-week', 'America/New_York');
    await record(ny, [
      { at: '2026-03-02T00:00:00-05:00', cost: '1' }, // Monday before the change
      { at: '2026-03-08T23:00:00-04:00', cost: '2' }, // Sunday after the change
      { at: '2026-03-09T00:30:00-04:00', cost: '4' }, // Monday
    ]);
    const weeks = await buckets(ny, '2026-03-01T00:00:00Z', '2026-03-12T00:00:00Z', 'WEEK');
    expect(weeks).toEqual([
      { start: '2026-03-02T05:00:00.000Z', requests: 2, cost: '3' },
      { start: '2026-03-09T04:00:00.000Z', requests: 1, cost: '4' },
    ]);
    expect(hours(weeks[0]?.start as string, weeks[1]?.start as string)).toBe(7 * 24 - 1);
  });
});

describe('MONTH buckets', () => {
  it('split Jan 31 23:30 from Feb 1 00:30 local, in half- and quarter-hour zones and New York', async () => {
    const cases: [string, string, string, string][] = [
      // zone, offset in January, expected January start, expected February start
      ['Asia/Kolkata', '+05:30', '2025-12-31T18:30:00.000Z', '2026-01-31T18:30:00.000Z'],
      ['Asia/Kathmandu', '+05:45', '2025-12-31T18:15:00.000Z', '2026-01-31T18:15:00.000Z'],
      ['America/New_York', '-05:00', '2026-01-01T05:00:00.000Z', '2026-02-01T05:00:00.000Z'],
      ['Pacific/Chatham', '+13:45', '2025-12-31T10:15:00.000Z', '2026-01-31T10:15:00.000Z'],
    ];
    for (const [zone, off, jan, feb] of cases) {
      const t = await h.seed.tenant(`month-${zone}`, zone);
      await record(t, [
        { at: `2026-01-31T23:30:00${off}`, cost: '1' },
        { at: `2026-02-01T00:30:00${off}`, cost: '2' },
      ]);
      expect(await buckets(t, '2026-01-15T07:07:07Z', '2026-02-10T00:00:00Z', 'MONTH'), zone).toEqual([
        { start: jan, requests: 1, cost: '1' },
        { start: feb, requests: 1, cost: '2' },
      ]);
      // DAY agrees: the two events are on different local days.
      expect((await buckets(t, '2026-01-15T07:07:07Z', '2026-02-10T00:00:00Z', 'DAY')).length, zone).toBe(2);
    }
  });

  it('a month that starts in standard time and ends in daylight time (New York March)', async () => {
    const t = await h.seed.tenant('ny-month-dst', 'America/New_York');
    await record(t, [
      { at: '2026-03-01T00:00:00-05:00', cost: '1' },
      { at: '2026-03-31T23:30:00-04:00', cost: '2' },
      { at: '2026-04-01T00:30:00-04:00', cost: '4' },
    ]);
    expect(await buckets(t, '2026-02-27T00:00:00Z', '2026-04-03T00:00:00Z', 'MONTH')).toEqual([
      { start: '2026-03-01T05:00:00.000Z', requests: 2, cost: '3' },
      { start: '2026-04-01T04:00:00.000Z', requests: 1, cost: '4' },
    ]);
  });
});

describe('HOUR buckets', () => {
  it('start at :30 UTC in Kolkata and at :15 UTC in Kathmandu', async () => {
    const kol = await h.seed.tenant('kolkata-hour', 'Asia/Kolkata');
    await record(kol, [
      { at: '2026-01-10T10:00:00Z', cost: '1' }, // 15:30 IST
      { at: '2026-01-10T10:29:59.999Z', cost: '2' }, // 15:59:59.999 IST
      { at: '2026-01-10T10:30:00Z', cost: '4' }, // 16:00 IST
      { at: '2026-01-10T11:15:00Z', cost: '8' },
      { at: '2026-01-10T11:29:59Z', cost: '16' },
      { at: '2026-01-10T11:30:00Z', cost: '32' },
      { at: '2026-01-10T11:40:00Z', cost: '64' }, // exactly to: out
    ]);
    expect(await buckets(kol, '2026-01-10T09:45:00Z', '2026-01-10T11:40:00Z', 'HOUR')).toEqual([
      { start: '2026-01-10T09:30:00.000Z', requests: 2, cost: '3' },
      { start: '2026-01-10T10:30:00.000Z', requests: 3, cost: '28' },
      { start: '2026-01-10T11:30:00.000Z', requests: 1, cost: '32' },
    ]);

    const ktm = await h.seed.tenant('kathmandu-hour', 'Asia/Kathmandu');
    await record(ktm, [
      { at: '2026-01-10T10:14:59Z', cost: '1' },
      { at: '2026-01-10T10:15:00Z', cost: '2' },
      { at: '2026-01-10T11:14:59.999Z', cost: '4' },
    ]);
    expect(await buckets(ktm, '2026-01-10T10:00:00Z', '2026-01-10T12:00:00Z', 'HOUR')).toEqual([
      { start: '2026-01-10T09:15:00.000Z', requests: 1, cost: '1' },
      { start: '2026-01-10T10:15:00.000Z', requests: 2, cost: '6' },
    ]);
  });

  it('whole UTC hours inside a Kolkata day still split at :30 (rollup hours cut by a bucket)', async () => {
    // Many events per UTC hour, so any hour wrongly served from its rollup would move whole
    // events across the :30 bucket boundary.
    const t = await h.seed.tenant('kolkata-hour-bulk', 'Asia/Kolkata');
    const evs: Ev[] = [];
    for (let m = 0; m < 6 * 60; m += 7)
      evs.push({ at: new Date(Date.parse('2026-01-12T06:00:00Z') + m * 60_000).toISOString(), cost: '1' });
    await record(t, evs);
    const got = await buckets(t, '2026-01-12T06:00:00Z', '2026-01-12T12:00:00Z', 'HOUR');
    const expected = new Map<string, number>();
    for (const e of evs) {
      const ms = Date.parse(e.at);
      const start = new Date(Math.floor((ms - 30 * 60_000) / 3_600_000) * 3_600_000 + 30 * 60_000).toISOString();
      expected.set(start, (expected.get(start) ?? 0) + 1);
    }
    expect(got).toEqual([...expected.entries()].map(([start, n]) => ({ start, requests: n, cost: String(n) })));
    expect(got[0]?.start).toBe('2026-01-12T05:30:00.000Z');
  });
  it('Lord Howe fall-back (30-minute shift) keeps the two 01:30-02:00 passes in separate HOUR buckets', async () => {
    // 2026-04-05 02:00 +11:00 -> 01:30 +10:30 (15:00Z). The second pass of 01:30-02:00 is its own
    // bucket, whose start is 01:00 at the offset then in force (+10:30), i.e. 14:30Z, the same as
    // PostgreSQL's date_trunc('hour', t, zone).
    const t = await h.seed.tenant('lordhowe-hour', 'Australia/Lord_Howe');
    await record(t, [
      { at: '2026-04-05T01:10:00+11:00', cost: '1' }, // 14:10Z
      { at: '2026-04-05T01:40:00+11:00', cost: '2' }, // 14:40Z, first pass
      { at: '2026-04-05T01:40:00+10:30', cost: '4' }, // 15:10Z, second pass
      { at: '2026-04-05T02:10:00+10:30', cost: '8' }, // 15:40Z
    ]);
    expect(await buckets(t, '2026-04-04T14:05:00Z', '2026-04-04T16:00:00Z', 'HOUR')).toEqual([
      { start: '2026-04-04T14:00:00.000Z', requests: 2, cost: '3' },
      { start: '2026-04-04T14:30:00.000Z', requests: 1, cost: '4' },
      { start: '2026-04-04T15:30:00.000Z', requests: 1, cost: '8' },
    ]);
  });
});

describe('Tenant.usage and ApiKey.usage', () => {
  it('equal usageSummary totals (and the events) for the same partial-hour range', async () => {
    const t = await h.seed.tenant('usage-fields', 'Asia/Kolkata');
    const second = await t.key(['INGEST', 'READ'], 'second');
    const from = '2026-01-10T09:17:31.250Z';
    const to = '2026-01-10T14:42:05.000Z';
    const evs: (Ev & { inside: boolean; key: string; tokens: [number, number] })[] = [];
    const atList = [
      '2026-01-10T08:59:59.999Z',
      '2026-01-10T09:17:31.249Z',
      '2026-01-10T09:17:31.250Z',
      '2026-01-10T09:29:59Z',
      '2026-01-10T09:30:00Z',
      '2026-01-10T10:00:00Z',
      '2026-01-10T11:11:11.111Z',
      '2026-01-10T12:30:00Z',
      '2026-01-10T13:59:59.999Z',
      '2026-01-10T14:00:00Z',
      '2026-01-10T14:42:04.999Z',
      '2026-01-10T14:42:05Z',
      '2026-01-10T15:10:00Z',
    ];
    atList.forEach((at, i) => {
      const key = i % 2 ? second.id : t.adminKeyId;
      evs.push({
        at,
        cost: `${i}.${String(i * 7919).padStart(12, '0')}`,
        apiKeyId: key,
        key,
        tokens: [1000 * (i + 1), 17 * i],
        inside: Date.parse(at) >= Date.parse(from) && Date.parse(at) < Date.parse(to),
        extra: { kind: 'LLM', model: 'gpt-4o', inputTokens: 1000 * (i + 1), outputTokens: 17 * i },
      });
    });
    await record(t, evs);

    const T = 'requests inputTokens outputTokens totalTokens cost';
    const d = await h.ok(
      t.adminKey,
      `query($from: DateTime!, $to: DateTime!, $k: ID!) {
        viewer { tenant { usage(from: $from, to: $to) { ${T} } apiKeys { id usage(from: $from, to: $to) { ${T} } } } }
        all: usageSummary(filter: { from: $from, to: $to }) { totals { ${T} } }
        one: usageSummary(filter: { from: $from, to: $to, apiKeyId: $k }) { totals { ${T} } }
        hourly: usageSummary(filter: { from: $from, to: $to }, granularity: HOUR) { totals { ${T} } }
      }`,
      { from, to, k: second.id },
    );
    const expectFor = (keyId?: string) => {
      const inside = evs.filter((e) => e.inside && (!keyId || e.key === keyId));
      const input = inside.reduce((a, e) => a + e.tokens[0], 0);
      const output = inside.reduce((a, e) => a + e.tokens[1], 0);
      let cost = 0n;
      for (const e of inside) cost += BigInt(e.cost.replace('.', ''));
      const c = cost.toString().padStart(13, '0');
      return {
        requests: inside.length,
        inputTokens: input,
        outputTokens: output,
        totalTokens: input + output,
        cost: `${c.slice(0, -12)}.${c.slice(-12)}`,
      };
    };
    expect(evs.filter((e) => e.inside)).toHaveLength(9);
    expect(d.viewer.tenant.usage).toEqual(expectFor());
    expect(d.all.totals).toEqual(expectFor());
    expect(d.hourly.totals).toEqual(expectFor());
    const keys = new Map<string, unknown>(
      d.viewer.tenant.apiKeys.map((k: { id: string; usage: unknown }) => [k.id, k.usage]),
    );
    expect(keys.get(second.id)).toEqual(expectFor(second.id));
    expect(keys.get(t.adminKeyId)).toEqual(expectFor(t.adminKeyId));
    expect(d.one.totals).toEqual(expectFor(second.id));
  });
});
