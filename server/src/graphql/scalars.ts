// The contract's scalars. Decimal is a string both ways (never a float); BigInt is a JSON
// number exact up to 2^53-1; DateTime is RFC 3339 with an offset; JSON is any JSON value.
import { Kind } from 'graphql';
import { badInput } from '../lib/errors';
import { Dec, fmt, parseDecimal } from '../lib/money';
import { builder } from './builder';

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseDateTime(value: unknown, field: string[] = []): Date {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value;
  if (typeof value !== 'string' || !RFC3339.test(value))
    throw badInput(field, 'must be an RFC 3339 timestamp with an offset, e.g. "2026-01-05T19:56:12.000Z"');
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw badInput(field, `"${value}" is not a valid instant`);
  return d;
}

builder.scalarType('Decimal', {
  description:
    'Exact decimal number carried as a JSON string, e.g. "0.000150000000". Never a float. Money and fractional quantities use it.',
  serialize: (v) => (typeof v === 'string' ? v : fmt(new Dec(v as never))),
  parseValue: (v) => fmt(parseDecimal(v, [])),
  parseLiteral: (ast) => {
    if (ast.kind === Kind.STRING || ast.kind === Kind.INT) return fmt(parseDecimal(ast.value, []));
    throw badInput([], 'Decimal literals must be strings, e.g. "0.15"');
  },
});

builder.scalarType('BigInt', {
  description:
    '64-bit integer carried as a JSON number (exact up to 2^53-1). Aggregated counters use it: they outgrow 32-bit Int.',
  serialize: (v) => {
    const b = typeof v === 'bigint' ? v : BigInt(v as string | number);
    if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER))
      throw new Error('BigInt value outside the exact range of a JSON number');
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
  parseValue: (v) => parseDateTime(v),
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw badInput([], 'DateTime literals must be strings');
    return parseDateTime(ast.value);
  },
});

builder.scalarType('JSON', {
  description: 'Any JSON value (object metadata).',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: function literal(ast): unknown {
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
        return ast.values.map((v) => literal(v));
      case Kind.OBJECT:
        return Object.fromEntries(ast.fields.map((f) => [f.name.value, literal(f.value)]));
      default:
        throw badInput([], 'variables are not allowed inside JSON literals');
    }
  },
});
