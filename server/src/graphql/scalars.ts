// The contract's scalars. Decimal is a string both ways (never a float); BigInt is a JSON
// number exact up to 2^53-1; DateTime is RFC 3339 with an offset; JSON is any JSON value.
import { Kind, type ValueNode } from 'graphql';
import { AppError, badInput } from '../lib/errors';
import { clip, jsonProblem, RefusedValue } from '../lib/input';
import { Dec, fmt, parseDecimal } from '../lib/money';
import { builder } from './builder';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
/** What PostgreSQL's timestamptz holds and JavaScript prints as RFC 3339: years 1 to 9999, in UTC. */
const FIRST = new Date('0001-01-01T00:00:00Z').getTime();
const LAST = new Date('9999-12-31T23:59:59.999Z').getTime();
const leap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const daysIn = (year: number, month: number) => (month === 2 && leap(year) ? 29 : (DAYS[month - 1] as number));

/**
 * An RFC 3339 timestamp, strictly: a real calendar date and time (no 2026-02-30, no 24:00,
 * which JavaScript's Date rolls over silently) whose instant lies in years 1 to 9999 UTC
 * (PostgreSQL has no year 0, and 9999-12-31T23:59:59-05:00 is already year 10000).
 */
export function parseDateTime(value: unknown, field: string[] = []): Date {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value;
  const m = typeof value === 'string' ? RFC3339.exec(value) : null;
  if (!m) throw badInput(field, 'must be an RFC 3339 timestamp with an offset, e.g. "2026-01-05T19:56:12.000Z"');
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const [offHours, offMinutes] = [Number(m[9] ?? 0), Number(m[10] ?? 0)];
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysIn(year, month) ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    offHours > 23 ||
    offMinutes > 59
  )
    throw badInput(field, `"${clip(value as string)}" is not a real date and time`);
  const d = new Date(value as string);
  const t = d.getTime();
  if (Number.isNaN(t)) throw badInput(field, `"${clip(value as string)}" is not a valid instant`);
  if (t < FIRST || t > LAST) throw badInput(field, 'must lie between years 1 and 9999 (UTC)');
  return d;
}

/**
 * A scalar's parse that answers a RefusedValue for bad input instead of throwing (see
 * lib/input.ts). Typed as the scalar's value: the argument guard takes every RefusedValue out
 * before a resolver sees the arguments.
 */
const refusing =
  <A extends unknown[], R>(parse: (...a: A) => R) =>
  (...a: A): R => {
    try {
      return parse(...a);
    } catch (e) {
      if (e instanceof AppError) return new RefusedValue(e.message) as never;
      throw e;
    }
  };

builder.scalarType('Decimal', {
  description:
    'Exact decimal number carried as a JSON string, e.g. "0.000150000000". Never a float. Money and fractional quantities use it.',
  serialize: (v) => (typeof v === 'string' ? v : fmt(new Dec(v as never))),
  parseValue: refusing((v) => fmt(parseDecimal(v, []))),
  parseLiteral: refusing((ast) => {
    if (ast.kind === Kind.STRING || ast.kind === Kind.INT) return fmt(parseDecimal(ast.value, []));
    throw badInput([], 'Decimal literals must be strings, e.g. "0.15"');
  }),
});

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_EXACT = BigInt(Number.MIN_SAFE_INTEGER);

builder.scalarType('BigInt', {
  description:
    '64-bit integer carried as a JSON number (exact up to 2^53-1). Aggregated counters use it: they outgrow 32-bit Int.',
  serialize: (v) => {
    const b = typeof v === 'bigint' ? v : BigInt(v as string | number);
    if (b > MAX_EXACT || b < MIN_EXACT) throw new Error('BigInt value outside the exact range of a JSON number');
    return Number(b);
  },
  parseValue: (v) => {
    if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
    if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
    throw badInput([], 'must be an integer');
  },
});

builder.scalarType('DateTime', {
  description: 'RFC 3339 timestamp with offset, e.g. "2026-01-05T19:56:12.000Z".',
  serialize: (v) => (v instanceof Date ? v.toISOString() : new Date(v as string).toISOString()),
  parseValue: refusing((v) => parseDateTime(v)),
  parseLiteral: refusing((ast) => {
    if (ast.kind !== Kind.STRING) throw badInput([], 'DateTime literals must be strings');
    return parseDateTime(ast.value);
  }),
});

builder.scalarType('JSON', {
  description: 'Any JSON value (object metadata).',
  serialize: (v) => v,
  parseValue: (v) => refuseText(v),
  parseLiteral: (ast) => refuseText(jsonLiteral(ast)),
});

/** JSON is stored as jsonb: text in it (keys too) must be storable. */
const refuseText = (v: unknown) => {
  const problem = jsonProblem(v);
  return problem ? new RefusedValue(problem) : v;
};

function jsonLiteral(ast: ValueNode): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map((v) => jsonLiteral(v));
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, jsonLiteral(f.value)]));
    default:
      throw badInput([], 'variables are not allowed inside JSON literals');
  }
}
