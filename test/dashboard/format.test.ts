// The dashboard's display formatting: money from the decimal string itself (never a float),
// and today's / this month's range in the tenant's zone (across DST changes).
import { describe, expect, it } from 'vitest';
import { formatDecimal, plainDecimal, zonedRanges } from '../../dashboard/src/format';

describe('formatDecimal', () => {
  it.each([
    ['0.000000000000', '0.00'],
    ['1.544213000000', '1.54'],
    ['1.545000000000', '1.55'],
    ['-1.545000000000', '-1.55'],
    ['-0.001000000000', '0.00'],
    ['999.995000000000', '1,000.00'],
    ['1234567.891000000000', '1,234,567.89'],
    // Beyond a double's precision: still exact.
    ['12345678901234567890123.455000000000', '12,345,678,901,234,567,890,123.46'],
    ['7', '7.00'],
  ])('%s -> %s', (value, shown) => expect(formatDecimal(value)).toBe(shown));

  it('keeps more places when asked, and trims padding exactly', () => {
    expect(formatDecimal('0.000212850000', 6)).toBe('0.000213');
    expect(plainDecimal('5.500000000000')).toBe('5.5');
    expect(plainDecimal('10.000000000000')).toBe('10');
    expect(plainDecimal('0.000000000001')).toBe('0.000000000001');
  });
});

describe('zonedRanges', () => {
  it("starts today and this month at midnight in the tenant's zone", () => {
    const now = Date.parse('2026-03-08T15:00:00Z'); // 10:00 in New York, the day DST starts there
    expect(zonedRanges('America/New_York', now)).toEqual({
      day: { from: '2026-03-08T05:00:00.000Z', to: '2026-03-09T04:00:00.000Z' },
      month: { from: '2026-03-01T05:00:00.000Z', to: '2026-04-01T04:00:00.000Z' },
    });
    // Already tomorrow in Tokyo.
    expect(zonedRanges('Asia/Tokyo', Date.parse('2026-12-31T16:00:00Z'))).toEqual({
      day: { from: '2026-12-31T15:00:00.000Z', to: '2027-01-01T15:00:00.000Z' },
      month: { from: '2026-12-31T15:00:00.000Z', to: '2027-01-31T15:00:00.000Z' },
    });
    expect(zonedRanges('UTC', Date.parse('2026-06-15T12:00:00Z')).day).toEqual({
      from: '2026-06-15T00:00:00.000Z',
      to: '2026-06-16T00:00:00.000Z',
    });
  });
});
