// The CLI's output fitting and calendar math, without a server: tables that fit a width (text
// cut or wrapped, ids and numbers whole, rows as records when even that cannot fit), and the
// tenant-zone day and month starts the CLI computes with Intl, checked against PostgreSQL's
// date_trunc(unit, t, zone), which is what Tally's own windows use.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { clean, cut, fields, table, wrap } from '../client/cli/format';
import { dayStart, monthStart, parseInstant, showInstant, windowOf } from '../client/cli/time';
import { overlong } from './support/tally-cli';

const ID = '6f582961-0ad0-4741-a747-9ade956afd41';

describe('table', () => {
  it('fits a width by cutting the widest text columns first; ids and numbers stay whole', () => {
    const t = table(
      ['id', 'name', 'model', 'requests', 'cost'],
      [
        [ID, 'A very long tenant name that goes on and on', 'gpt-4o', 12345, '0.0125'],
        [ID.replace('6f', '7a'), 'Short', 'm', 1, '10'],
      ],
      80,
    );
    expect(overlong(t)).toEqual([]);
    expect(t).toContain(ID);
    expect(t).toContain('12345');
    expect(t).toMatch(/ A very long\S* \S*… /);
    expect(t).toMatch(/ gpt-4o /); // narrower than what is left: untouched
    // numbers right-aligned under their heading
    expect(t.split('\n')[3]).toMatch(/\s{4}1\s+10$/);
  });

  it('leaves a table alone that fits, and at Infinity never cuts', () => {
    const rows = [[ID, 'x'.repeat(100)]];
    expect(table(['id', 'name'], rows, Number.POSITIVE_INFINITY)).toContain('x'.repeat(100));
    const small = table(['a', 'b'], [['1', 'two']], 80);
    expect(small).toBe('a  b\n-  ---\n1  two');
  });

  it('wraps a wrap column at spaces or commas, keeping each line within the width', () => {
    const t = table(
      [{ head: 'code' }, { head: 'limits', fit: 'wrap', min: 10 }],
      [['pro', 'COST/DAY 5 BLOCK at 80,100%, REQUESTS/MONTH 100000 ALERT at 90%']],
      30,
    );
    expect(overlong(t, 30)).toEqual([]);
    const lines = t.split('\n').slice(2);
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.every((l) => l.startsWith(lines[0] === l ? 'pro  ' : '     '))).toBe(true);
    expect(
      lines
        .map((l) => l.slice(5))
        .join('')
        .replace(/\s+/g, ''),
    ).toBe('COST/DAY5BLOCKat80,100%,REQUESTS/MONTH100000ALERTat90%');
  });

  it('prints rows as "heading value" records when ids alone do not fit, wrapping long values', () => {
    const t = table(
      ['id', 'key', 'note'],
      [
        [ID, ID, 'n'.repeat(150)],
        [ID, ID, 'short'],
      ],
      60,
    );
    expect(overlong(t, 60)).toEqual([]);
    const blocks = t.split('\n\n');
    expect(blocks).toHaveLength(2);
    expect(blocks[0]?.split('\n')[0]).toBe(`id    ${ID}`);
    expect(blocks[0]?.replace(/\n\s+/g, '')).toContain('n'.repeat(150));
    expect(blocks[1]).toBe(`id    ${ID}\nkey   ${ID}\nnote  short`);
  });

  it('multi-line cells, empty tables and fields()', () => {
    expect(table(['a', 'b'], [[['1', '2'], 'x']], 80)).toBe('a  b\n-  -\n1  x\n2');
    expect(table(['name'], [], 80)).toBe('name\n----');
    expect(
      fields(
        [
          ['tenant', ID],
          ['plan', null],
        ],
        80,
      ),
    ).toBe(`tenant  ${ID}\nplan`);
  });

  it('cut, wrap and clean work on code points: no emoji is split, no control character passes', () => {
    expect(cut('ab😀cd', 4)).toBe('ab😀…');
    expect(wrap('😀'.repeat(5), 2)).toEqual(['😀😀', '😀😀', '😀']);
    expect(clean('a\u001b[2J\u0007b\u009bc')).toBe('a?[2J?b?c');
    expect(table(['n'], [['x\ny']], 80)).toBe('n\n---\nx?y');
  });

  it('stays fast with a 1 MB cell', () => {
    const started = Date.now();
    const t = table(['id', 'name'], [[ID, 'y'.repeat(1_000_000)]], 80);
    expect(overlong(t)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('calendar in the tenant zone', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: inject('pgAdminUrl') });
    await client.connect();
  });
  afterAll(() => client?.end());

  const ZONES = [
    'UTC',
    'Europe/Berlin',
    'America/New_York',
    'America/Santiago', // DST starts at local midnight: some days begin at 01:00
    'America/Havana', // likewise
    'Asia/Beirut',
    'Asia/Kolkata',
    'Australia/Lord_Howe', // a 30-minute DST shift
    'Pacific/Chatham', // +12:45 / +13:45
    'Pacific/Kiritimati', // +14
    'America/St_Johns', // -03:30 / -02:30
  ];

  it("day and month starts (and the next ones) equal PostgreSQL's date_trunc in the zone, DST days included", async () => {
    // Every 5 hours through 2026 and across the 2025/2027 year ends: every DST change, both ways.
    const instants: number[] = [];
    for (let t = Date.UTC(2025, 11, 20); t < Date.UTC(2027, 0, 10); t += 5 * 3_600_000) instants.push(t);
    for (const zone of ZONES) {
      const js = instants.map((t) => ({
        day: dayStart(t, zone),
        next: dayStart(t, zone, 1),
        month: monthStart(t, zone),
        nextMonth: monthStart(t, zone, 1),
      }));
      // The next start: the local calendar start plus one day or month, read back in the zone.
      const { rows } = await client.query(
        `SELECT (extract(epoch FROM date_trunc('day', t, $2)) * 1000)::float8 AS day,
                (extract(epoch FROM date_trunc('month', t, $2)) * 1000)::float8 AS month,
                (extract(epoch FROM (date_trunc('day', t AT TIME ZONE $2) + interval '1 day') AT TIME ZONE $2) * 1000)::float8 AS next,
                (extract(epoch FROM (date_trunc('month', t AT TIME ZONE $2) + interval '1 month') AT TIME ZONE $2) * 1000)::float8 AS next_month
           FROM unnest($1::timestamptz[]) AS x(t)`,
        [instants.map((t) => new Date(t).toISOString()), zone],
      );
      const wrong = js.flatMap((j, i) => {
        const r = rows[i];
        const bad = (['day', 'month', 'next', 'nextMonth'] as const).filter(
          (k) => j[k] !== r[k === 'nextMonth' ? 'next_month' : k],
        );
        return bad.length ? [`${zone} ${new Date(instants[i] as number).toISOString()}: ${bad.join(', ')}`] : [];
      });
      expect(wrong.slice(0, 8)).toEqual([]);
    }
  });

  it('shows instants in the zone; reads bare dates and local times in it', () => {
    const t = '2026-03-29T00:30:00Z'; // Berlin: 01:30 CET, half an hour before the clocks jump
    expect(showInstant(t, 'Europe/Berlin')).toBe('2026-03-29 01:30:00');
    expect(showInstant('2026-03-29T01:30:00Z', 'Europe/Berlin', 'minute')).toBe('2026-03-29 03:30');
    expect(showInstant(t, 'Pacific/Kiritimati', 'day')).toBe('2026-03-29');
    expect(showInstant('2026-03-28T23:00:00Z', 'Pacific/Kiritimati', 'day')).toBe('2026-03-29');
    expect(new Date(parseInstant('2026-11-22', '--from', 'Europe/Berlin')).toISOString()).toBe(
      '2026-11-21T23:00:00.000Z',
    );
    expect(new Date(parseInstant('2026-07-01 08:15', '--from', 'Europe/Berlin')).toISOString()).toBe(
      '2026-07-01T06:15:00.000Z',
    );
    // 02:30 does not exist in Berlin that night: read as PostgreSQL does, 03:30 CEST
    expect(new Date(parseInstant('2026-03-29 02:30', '--from', 'Europe/Berlin')).toISOString()).toBe(
      '2026-03-29T01:30:00.000Z',
    );
    expect(parseInstant('2026-11-22T10:00:00+05:30', '--from', 'UTC')).toBe(Date.parse('2026-11-22T04:30:00Z'));
    for (const bad of ['2026-02-30', '2026-13-01', '2026-11-22 25:00', 'yesterday', '2026-11-22T10:00:00 UTC'])
      expect(() => parseInstant(bad, '--from', 'UTC'), bad).toThrow(/--from/);
  });

  it('windows: today, this month, last N, from/to; two at once is an error', () => {
    const now = Date.parse('2026-11-22T23:30:00Z'); // already the 23rd in Berlin
    expect(windowOf({ today: true }, 'Europe/Berlin', now)).toEqual({
      from: '2026-11-22T23:00:00.000Z',
      to: '2026-11-23T23:00:00.000Z',
      label: 'today',
    });
    expect(windowOf({ month: true }, 'Europe/Berlin', now)).toMatchObject({
      from: '2026-10-31T23:00:00.000Z',
      to: '2026-11-30T23:00:00.000Z',
    });
    expect(windowOf({}, 'UTC', now)).toEqual({
      from: '2026-11-15T23:30:00.000Z',
      to: '2026-11-22T23:35:00.000Z', // five minutes ahead: Tally accepts usage stamped up to then
      label: 'last 7d',
    });
    expect(windowOf({ last: '90m' }, 'UTC', now).from).toBe('2026-11-22T22:00:00.000Z');
    expect(windowOf({ from: '2026-11-01', to: '2026-11-02' }, 'UTC', now)).toMatchObject({
      from: '2026-11-01T00:00:00.000Z',
      to: '2026-11-02T00:00:00.000Z',
    });
    expect(() => windowOf({ today: true, last: '2d' }, 'UTC', now)).toThrow(/give one of --last, --today/);
    expect(() => windowOf({ last: '7' }, 'UTC', now)).toThrow(/--last "7"/);
  });
});
