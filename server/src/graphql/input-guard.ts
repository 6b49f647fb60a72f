// The one check of every argument before any resolver (or subscribe) sees it: every String
// and ID for text PostgreSQL cannot store (NUL, lone UTF-16 surrogates), and every custom
// scalar value that its scalar refused (RefusedValue: a bad Decimal, DateTime or JSON). It is
// BAD_USER_INPUT naming the field's path, e.g. ["input", "subject"] or ["filter", "from"].
//
// Why here and not in the String scalar: graphql-jit inlines the coercion of built-in
// scalars, and a coercion error fails the whole operation. A field may instead ask for one
// list argument to be judged item by item (extensions: { judgeItems: '<arg>' }, or
// '<arg>.<field>' for a list inside an input object): a refused item is replaced by a
// RefusedItem (its path relative to the item), which the service answers INVALID while the
// other items are judged. recordUsageBatch and setPrices do.
import {
  defaultFieldResolver,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
  getNamedType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
} from 'graphql';
import { AppError, badInput } from '../lib/errors';
import { isRefused, RefusedItem, textProblem } from '../lib/input';

interface Problem {
  /** Built on the way out, so a valid input allocates no paths. */
  path: string[];
  message: string;
}

function check(value: unknown, type: GraphQLInputType): Problem | null {
  if (value == null) return null;
  if (isRefused(value)) return { path: [], message: value.message };
  if (isNonNullType(type)) return check(value, type.ofType);
  if (isListType(type)) {
    if (!Array.isArray(value)) return check(value, type.ofType);
    for (let i = 0; i < value.length; i++) {
      const p = check(value[i], type.ofType);
      if (p) {
        p.path.unshift(String(i));
        return p;
      }
    }
    return null;
  }
  if (isInputObjectType(type)) {
    const fields = type.getFields();
    const o = value as Record<string, unknown>;
    for (const name in o) {
      const f = fields[name];
      if (!f) continue;
      const p = check(o[name], f.type);
      if (p) {
        p.path.unshift(name);
        return p;
      }
    }
    return null;
  }
  if (typeof value === 'string' && isScalarType(type)) {
    const message = textProblem(value);
    if (message) return { path: [], message };
  }
  return null;
}

/** Checks `args` as typed by `defs`; a list argument named `judgeItems` has its refused items replaced. */
function guard(
  defs: readonly GraphQLArgument[],
  args: Record<string, unknown>,
  judgeItems: string | undefined,
): Record<string, unknown> {
  let out = args;
  for (const def of defs) {
    const value = args[def.name];
    if (value == null) continue;
    const inner = getNamedType(def.type);
    if (judgeItems?.startsWith(`${def.name}.`) && isInputObjectType(inner) && !Array.isArray(value)) {
      try {
        const fields = Object.values(inner.getFields()) as unknown as GraphQLArgument[];
        const judged = guard(fields, value as Record<string, unknown>, judgeItems.slice(def.name.length + 1));
        if (judged !== value) out = { ...out, [def.name]: judged };
      } catch (e) {
        throw e instanceof AppError ? e.within([def.name]) : e;
      }
      continue;
    }
    if (def.name === judgeItems && Array.isArray(value)) {
      const itemType = getNamedType(def.type) as GraphQLInputType;
      // A copy: compiled operations may reuse the arguments of inline literals.
      let items: unknown[] | null = null;
      for (let i = 0; i < value.length; i++) {
        const p = check(value[i], itemType);
        if (!p) continue;
        items ??= [...value];
        items[i] = new RefusedItem(badInput(p.path, p.message));
      }
      if (items) out = { ...out, [def.name]: items };
      continue;
    }
    const p = check(value, def.type);
    if (p) throw badInput([def.name, ...p.path], p.message);
  }
  return out;
}

type Resolver = NonNullable<GraphQLField<unknown, unknown>['resolve']>;

/** Wraps the resolver (or, for subscriptions, subscribe) of every field that takes arguments. */
export function guardInputs(schema: GraphQLSchema): GraphQLSchema {
  const subscription = schema.getSubscriptionType();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      if (!field.args.length) continue;
      const judgeItems = field.extensions?.judgeItems as string | undefined;
      const wrap =
        (inner: Resolver): Resolver =>
        (source, args, ctx, info) =>
          inner(source, guard(field.args, args, judgeItems), ctx, info);
      if (type === subscription) {
        if (field.subscribe) field.subscribe = wrap(field.subscribe);
      } else field.resolve = wrap(field.resolve ?? defaultFieldResolver);
    }
  }
  return schema;
}
