// Plain-text output for the terminal (no colour codes, so output pipes cleanly), fitted to a
// width: 80 columns unless the terminal (or COLUMNS) says otherwise, none with --wide.
// A table that is too wide first cuts or wraps its text columns (ids and numbers stay whole,
// since people copy them); if it still does not fit, each row is printed as a block of
// "name  value" lines, as psql's expanded mode does, so nothing that matters is lost.

export const layout = {
  /** Columns the output may use; Infinity with --wide. */
  width: defaultWidth(),
};

function defaultWidth(): number {
  if (process.stdout.isTTY && process.stdout.columns) return process.stdout.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env >= 20 ? env : 80;
}

export interface Column {
  head: string;
  /**
   * What may happen to the column when the table is too wide: 'keep' nothing (ids, numbers,
   * instants), 'cut' end with "…", 'wrap' break the text over lines. Default: 'keep' for a column
   * whose every cell is a number or an id (a UUID), else 'cut'.
   */
  fit?: 'keep' | 'cut' | 'wrap';
  /** Default: right for a column whose every cell is a number. */
  align?: 'left' | 'right';
  /** The narrowest it may become; default its heading's width (at least 6). */
  min?: number;
}

/** A cell: a value, or several lines of one. */
export type Cell = string | number | boolean | null | undefined | readonly string[];

/** Control characters (a tenant named "\x1b[2J" must not clear the terminal) become "?". */
export const clean = (s: string) => s.replace(/\p{Cc}/gu, '?');

const chars = (s: string) => Array.from(s);
const len = (s: string) => chars(s).length;

/** Lines of a cell, cleaned. */
function linesOf(c: Cell): string[] {
  if (c == null) return [''];
  if (Array.isArray(c)) return c.length ? c.map((l) => clean(String(l))) : [''];
  return [clean(String(c))];
}

export function cut(s: string, width: number): string {
  const cs = chars(s);
  return cs.length <= width ? s : `${cs.slice(0, Math.max(0, width - 1)).join('')}…`;
}

/** Breaks `s` into lines of at most `width`: after a space, comma or slash if one is near, else anywhere. */
export function wrap(s: string, width: number): string[] {
  const out: string[] = [];
  let rest = chars(s);
  while (rest.length > width) {
    let at = -1;
    for (let i = width; i > width / 2; i--) {
      const ch = rest[i - 1] as string;
      if (ch === ' ' || ch === ',' || ch === '/' || ch === ';') {
        at = i;
        break;
      }
    }
    if (at < 0) at = width;
    out.push(rest.slice(0, at).join('').trimEnd());
    rest = rest.slice(at);
    while (rest[0] === ' ') rest = rest.slice(1);
  }
  out.push(rest.join(''));
  return out;
}

const NUMBER = /^-?[\d.,]*$/;
const ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$/i;

export function table(columns: readonly (string | Column)[], rows: readonly Cell[][], width = layout.width): string {
  const cols: Column[] = columns.map((c) => (typeof c === 'string' ? { head: c } : c));
  const cells = rows.map((r) => cols.map((_, i) => linesOf(r[i])));
  const numeric = cols.map(
    (_, i) => cells.length > 0 && cells.every((r) => (r[i] as string[]).every((l) => NUMBER.test(l))),
  );
  const ids = cols.map((_, i) => cells.length > 0 && cells.every((r) => (r[i] as string[]).every((l) => ID.test(l))));
  const fit = cols.map((c, i) => c.fit ?? (numeric[i] || ids[i] ? 'keep' : 'cut'));
  const natural = cols.map((c, i) =>
    Math.max(len(c.head), ...cells.map((r) => Math.max(...(r[i] as string[]).map(len)))),
  );
  const gaps = 2 * (cols.length - 1);
  const floor = cols.map((c, i) =>
    fit[i] === 'keep' ? (natural[i] as number) : Math.min(natural[i] as number, c.min ?? Math.max(6, len(c.head))),
  );
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  let widths = natural;
  if (sum(natural) + gaps > width) {
    if (sum(floor) + gaps > width) return records(cols, cells, width);
    // Water-filling: the largest cap c such that every shrinkable column at min(natural, max(floor, c)) fits.
    const at = (cap: number) =>
      natural.map((n, i) => (fit[i] === 'keep' ? n : Math.min(n, Math.max(floor[i] as number, cap))));
    let lo = 0;
    let hi = Math.max(...natural);
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (sum(at(mid)) + gaps <= width) lo = mid;
      else hi = mid - 1;
    }
    widths = at(lo);
  }
  const shaped = (cell: string[], i: number) => {
    const w = widths[i] as number;
    if (fit[i] === 'wrap') return cell.flatMap((l) => wrap(l, w));
    return cell.map((l) => (len(l) > w ? cut(l, w) : l));
  };
  const render = (r: string[][]) => {
    const parts = r.map(shaped);
    const height = Math.max(...parts.map((p) => p.length));
    const out: string[] = [];
    for (let n = 0; n < height; n++)
      out.push(
        parts
          .map((p, i) => {
            const s = p[n] ?? '';
            const pad = (widths[i] as number) - len(s);
            const right = cols[i]?.align ? cols[i]?.align === 'right' : numeric[i];
            return right ? ' '.repeat(Math.max(0, pad)) + s : s + ' '.repeat(Math.max(0, pad));
          })
          .join('  ')
          .trimEnd(),
      );
    return out;
  };
  return [
    ...render(cols.map((c) => [c.head])),
    render(widths.map((w) => ['-'.repeat(w)]))[0] as string,
    ...cells.flatMap(render),
  ].join('\n');
}

/** Each row as "heading  value" lines, rows apart by a blank line; long values wrap. */
function records(cols: Column[], cells: string[][][], width: number): string {
  const label = Math.max(...cols.map((c) => len(c.head)));
  const room = Math.max(10, width - label - 2);
  return cells
    .map((r) =>
      cols
        .flatMap((c, i) => {
          const values = (r[i] as string[]).flatMap((l) => wrap(l, room));
          return values.map((v, n) => `${(n === 0 ? c.head : '').padEnd(label)}  ${v}`.trimEnd());
        })
        .join('\n'),
    )
    .join('\n\n');
}

/** "name  value" lines for one object, fitted like a table's records. */
export function fields(pairs: readonly [string, Cell][], width = layout.width): string {
  return records(
    pairs.map(([head]) => ({ head })),
    [pairs.map(([, v]) => linesOf(v))],
    width,
  );
}

export { dec } from './decimal-text';
