// Calendar math in a tenant's zone for the CLI, with nothing but Intl: the wall-clock fields of
// an instant in a zone, the instant a zone's local midnight falls on, and the windows the
// commands accept (--today, --month, --last 7d, --from/--to). Tally computes DAY and MONTH
// windows in the tenant's zone; the CLI asks for the same calendar so its "today" is Tally's.
import { TallyError } from '../src/index';

export interface Wall {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The wall-clock fields of `ms` in `zone` (years before 1 come out as 0, -1, ...). */
export function wallOf(ms: number, zone: string): Wall {
  const parts: Record<string, string> = {};
  for (const p of formatter(zone).formatToParts(new Date(ms))) parts[p.type] = p.value;
  const y = Number(parts.year);
  return {
    year: parts.era === 'BC' || parts.era === 'B' ? 1 - y : y,
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
  };
}

const asUtc = (w: Wall) => {
  const d = new Date(0);
  d.setUTCFullYear(w.year, w.month - 1, w.day);
  d.setUTCHours(w.hour, w.minute, w.second, 0);
  return d.getTime();
};

/** The zone's offset from UTC at `ms`, in ms (Berlin in winter: +3,600,000). */
export function offsetAt(ms: number, zone: string): number {
  return asUtc(wallOf(ms, zone)) - Math.floor(ms / 1000) * 1000;
}

/**
 * The instant a wall-clock time in `zone` names, resolved as PostgreSQL resolves
 * `timestamp AT TIME ZONE` (and so `date_trunc(unit, t, zone)`, which Tally's windows use): a
 * time the clocks skip (spring forward) takes the offset from before the change, so it moves
 * forward; a time that happens twice (fall back) takes the later one. Both are the later of the
 * two readings.
 */
export function instantOf(w: Wall, zone: string): number {
  const local = asUtc(w);
  const before = offsetAt(local - 36 * 3_600_000, zone);
  const after = offsetAt(local + 36 * 3_600_000, zone);
  if (before === after) {
    // No change near: one offset (checked once more, for a change inside the 72 hours).
    const guess = local - before;
    const again = local - offsetAt(guess, zone);
    return again === guess ? guess : Math.max(guess, again);
  }
  const readings = [local - before, local - after];
  const valid = readings.filter((ms) => asUtc(wallOf(ms, zone)) === local);
  return valid.length === 1 ? (valid[0] as number) : Math.max(...readings);
}

/** Midnight in `zone` of the calendar day `days` away from the day of `ms` there. */
export function dayStart(ms: number, zone: string, days = 0): number {
  const w = wallOf(ms, zone);
  return instantOf({ year: w.year, month: w.month, day: w.day + days, hour: 0, minute: 0, second: 0 }, zone);
}

/** The 1st of the month `months` away from the month of `ms`, at midnight in `zone`. */
export function monthStart(ms: number, zone: string, months = 0): number {
  const w = wallOf(ms, zone);
  return instantOf({ year: w.year, month: w.month + months, day: 1, hour: 0, minute: 0, second: 0 }, zone);
}

const pad = (n: number, l = 2) => String(n).padStart(l, '0');

/** "2026-11-22 14:05:09" (unit second), "… 14:05" (minute), "2026-11-22" (day) in `zone`. */
export function showInstant(
  iso: string | null | undefined,
  zone: string,
  unit: 'second' | 'minute' | 'day' = 'second',
) {
  if (!iso) return '';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const w = wallOf(ms, zone);
  const date = `${w.year < 0 ? '-' : ''}${pad(Math.abs(w.year), 4)}-${pad(w.month)}-${pad(w.day)}`;
  if (unit === 'day') return date;
  const time = `${pad(w.hour)}:${pad(w.minute)}`;
  return unit === 'minute' ? `${date} ${time}` : `${date} ${time}:${pad(w.second)}`;
}

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "90m", "24h", "7d", "2w" in ms; anything else is a usage error naming the option. */
export function parseDuration(s: string): number {
  const m = /^(\d{1,6})([mhdw])$/.exec(s.trim());
  if (!m) throw new TallyError('BAD_USER_INPUT', `--last "${s}": use a number and m, h, d or w, e.g. 7d`);
  return Number(m[1]) * (UNITS[m[2] as string] as number);
}

export interface WindowOptions {
  from?: string;
  to?: string;
  last?: string;
  today?: boolean;
  month?: boolean;
}

export interface Window {
  from: string;
  to: string;
  /** How the window was chosen, for the heading: "today", "this month", "last 7d", "from … to …". */
  label: string;
}

/**
 * The [from, to) a command reads. --today and --month are calendar windows in the tenant's
 * zone; --last ends a few minutes ahead of now, because Tally accepts usage stamped up to five
 * minutes in the future and "the last 7 days" should show what was just recorded.
 */
export function windowOf(o: WindowOptions, zone: string, now: number, fallback = '7d'): Window {
  const chosen = [o.from || o.to ? '--from/--to' : null, o.last ? '--last' : null, o.today ? '--today' : null]
    .concat(o.month ? '--month' : null)
    .filter(Boolean);
  if (chosen.length > 1) throw new TallyError('BAD_USER_INPUT', `give one of ${chosen.join(', ')}`);
  const iso = (ms: number) => new Date(ms).toISOString();
  if (o.today) return { from: iso(dayStart(now, zone)), to: iso(dayStart(now, zone, 1)), label: 'today' };
  if (o.month) return { from: iso(monthStart(now, zone)), to: iso(monthStart(now, zone, 1)), label: 'this month' };
  if (o.from || o.to) {
    const from = o.from ? parseInstant(o.from, '--from', zone) : now - parseDuration(fallback);
    const to = o.to ? parseInstant(o.to, '--to', zone) : now + 5 * 60_000;
    return { from: iso(from), to: iso(to), label: 'range' };
  }
  const last = o.last ?? fallback;
  return { from: iso(now - parseDuration(last)), to: iso(now + 5 * 60_000), label: `last ${last}` };
}

/**
 * An instant from the command line: ISO 8601 with a zone ("2026-11-22T00:00:00Z"), or a date
 * or local date-time without one ("2026-11-22", "2026-11-22 08:00"), read in the tenant's zone.
 */
export function parseInstant(s: string, option: string, zone: string): number {
  const local = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(s.trim());
  if (local) {
    const [, y, mo, d, h = '0', mi = '0', se = '0'] = local;
    const w = { year: +y!, month: +mo!, day: +d!, hour: +h, minute: +mi, second: +se };
    const ms = instantOf(w, zone);
    const back = wallOf(ms, zone);
    // 2026-02-30 or 25:00 would roll over silently; refuse them instead.
    if (w.month >= 1 && w.month <= 12 && back.day === w.day && back.month === w.month && w.hour < 24) return ms;
  } else if (/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/i.test(s.trim())) {
    const ms = Date.parse(s);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new TallyError(
    'BAD_USER_INPUT',
    `${option} "${s}": use a date (2026-11-22), a local time (2026-11-22 08:00) or ISO 8601 with a zone`,
  );
}
