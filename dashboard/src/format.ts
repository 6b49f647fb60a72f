// Display formatting. Money stays a decimal string from the wire to the screen: it is
// rounded and grouped as text, never parsed into a float.
import { dayStart, monthStart } from '../../client/cli/time';

/** "1234.567890000000" → "1,234.57" (half-up at `places`), exactly, from the string itself. */
export function formatDecimal(value: string, places = 2): string {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(value.trim());
  if (!m) return value;
  const [, sign, whole = '0', frac = ''] = m;
  const digits = (whole + frac.padEnd(places + 1, '0').slice(0, places + 1)).split('').map(Number);
  // Round half up on the digit after `places`, carrying through the string.
  const roundUp = (digits.pop() ?? 0) >= 5;
  if (roundUp) {
    let i = digits.length - 1;
    while (i >= 0) {
      if (digits[i] === 9) {
        digits[i] = 0;
        i--;
      } else {
        digits[i] = (digits[i] ?? 0) + 1;
        break;
      }
    }
    if (i < 0) digits.unshift(1);
  }
  const all = digits.join('');
  const int = all.slice(0, all.length - places).replace(/^0+(?=\d)/, '') || '0';
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const out = places ? `${grouped}.${all.slice(all.length - places)}` : grouped;
  return sign && /[1-9]/.test(all) ? `-${out}` : out;
}

export const money = (value: string, currency: string) => `${formatDecimal(value, 2)} ${currency}`;
/** Costs of single events are often fractions of a cent: more places. */
export const smallMoney = (value: string, currency: string) => `${formatDecimal(value, 6)} ${currency}`;

export function formatDate(iso: string, timeZone: string, withSeconds = false): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    ...(withSeconds ? { second: '2-digit' } : {}),
    hourCycle: 'h23',
  }).format(new Date(iso));
}

/** Today's and this month's [start, end) in the tenant's zone, as Tally computes DAY and MONTH windows (the CLI's calendar). */
export function zonedRanges(timeZone: string, now = Date.now()) {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    day: { from: iso(dayStart(now, timeZone)), to: iso(dayStart(now, timeZone, 1)) },
    month: { from: iso(monthStart(now, timeZone)), to: iso(monthStart(now, timeZone, 1)) },
  };
}

/** "5.500000000000" → "5.5", "10.000000000000" → "10": the exact value, without padding. */
export const plainDecimal = (value: string) => value.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
