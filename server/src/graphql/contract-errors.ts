// Every error that leaves the server, mapped to the contract in one place, whatever the
// transport (HTTP, SSE and graphql-ws all run this plugin: ws.ts goes through getEnveloped):
// a contract code in extensions.code, the offending input's path in extensions.field for
// BAD_USER_INPUT, and a message that echoes no value whole and, in production, suggests no
// name (error-text.ts). Errors are *made* in lib/errors.ts; this module only maps.
//
//  - An error that already carries a contract code (AppError, armor's QUERY_TOO_COMPLEX) keeps it.
//  - graphql-js's own refusals (syntax, validation, variable coercion) are BAD_USER_INPUT.
//  - Anything unexpected is masked (maskUnexpected, yoga's maskedErrors) as INTERNAL, logged
//    with the request id; nothing from a driver or the ORM reaches a client.
//
// The field path is read from structure, never from graphql-js's message text:
//  - a variable refused by coercion: graphql-js reports the path to its onError callback but
//    prints it only into the message, so the failing variable is coerced again
//    (coerceInputValue) to receive that path. Only on the failure path, once per variable.
//  - a document refused by validation: the rules whose error names a field (RULE_FIELD) are
//    wrapped, so each error is recorded with the field its rule and node say.
//  - an argument graphql-js refuses while executing: the argument holding the error's node.
// A rule or node this does not know names no field: the code is right, the field is absent.
import {
  type ASTNode,
  BREAK,
  coerceInputValue,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  GraphQLError,
  isInputType,
  Kind,
  specifiedRules,
  typeFromAST,
  type ValidationRule,
  visit,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { CONTRACT_CODES, isGraphQLError } from '../lib/errors';
import { type Logger, loggableError } from '../observability';
import { requestIdOf } from '../request-scope';
import { tidyMessage } from './error-text';

/** What a contract error may name as its field, per error made by a validation rule. */
const fieldOfRuleError = new WeakMap<GraphQLError, string[] | null>();

const nameOf = (node: ASTNode | null | undefined) =>
  node && 'name' in node && node.name && typeof node.name === 'object' ? [node.name.value] : null;
const variableOf = (node: ASTNode | null | undefined) =>
  node?.kind === Kind.VARIABLE_DEFINITION ? [node.variable.name.value] : null;

/** The node that holds `target` (null when it is the document, or held in a list). */
function parentOf(document: DocumentNode, target: ASTNode): ASTNode | null {
  let parent: ASTNode | null = null;
  visit(document, {
    enter(node, _key, holder) {
      if (node !== target) return undefined;
      parent = holder && !Array.isArray(holder) ? (holder as ASTNode) : null;
      return BREAK;
    },
  });
  return parent;
}

type FieldOfNode = (node: ASTNode | undefined, document: DocumentNode) => string[] | null;

/**
 * The validation rules whose error names a field, and which: the field missing an argument
 * or a selection (or with one it may not have), an input field no type declares, and the
 * variable a variable rule refused. By rule name: the process may hold two copies of
 * graphql-js (see isGraphQLError), whose rules are different functions.
 */
const RULE_FIELD: Record<string, FieldOfNode> = {
  ProvidedRequiredArgumentsRule: (n) => (n?.kind === Kind.FIELD ? nameOf(n) : null),
  ScalarLeafsRule: (n, doc) =>
    n?.kind === Kind.FIELD ? nameOf(n) : n?.kind === Kind.SELECTION_SET ? nameOf(parentOf(doc, n)) : null,
  ValuesOfCorrectTypeRule: (n) => (n?.kind === Kind.OBJECT_FIELD ? nameOf(n) : null),
  NoUndefinedVariablesRule: (n) => (n?.kind === Kind.VARIABLE ? nameOf(n) : null),
  NoUnusedVariablesRule: variableOf,
  VariablesInAllowedPositionRule: variableOf,
  // Its error's node is the variable's type.
  VariablesAreInputTypesRule: (n, doc) => (n ? variableOf(parentOf(doc, n)) : null),
};

const taggedRules = new WeakMap<ValidationRule, ValidationRule>();

/** The rule, recording for each error it reports the field that error names. */
function tagged(rule: ValidationRule): ValidationRule {
  const field = RULE_FIELD[rule.name];
  if (!field) return rule;
  let t = taggedRules.get(rule);
  if (!t) {
    t = (context) => {
      const c = Object.create(context) as typeof context;
      c.reportError = (e: GraphQLError) => {
        fieldOfRuleError.set(e, field(e.nodes?.[0], context.getDocument()));
        context.reportError(e);
      };
      return rule(c);
    };
    taggedRules.set(rule, t);
  }
  return t;
}

/** The operation an error was raised in: where a failing variable's value and type are found. */
type Operation = Pick<ExecutionArgs, 'schema' | 'document' | 'operationName' | 'variableValues'>;

/**
 * The input paths graphql-js's coercion refuses in one variable's value, in the order it
 * reports them (as it reports the errors). [] for a missing or null value.
 */
function refusedPaths(op: Operation, def: ASTNode & { kind: Kind.VARIABLE_DEFINITION }): string[][] {
  const name = def.variable.name.value;
  const value = op.variableValues?.[name];
  const type = typeFromAST(op.schema, def.type);
  if (value == null || !type || !isInputType(type)) return [];
  const paths: string[][] = [];
  try {
    coerceInputValue(value, type, (path) => paths.push([name, ...path.map(String)]));
  } catch {
    // A scalar's own exception was reported through onError already; nothing more to learn.
  }
  return paths;
}

/**
 * The argument whose value is `node`: graphql-js refuses an argument at execution (a non-null
 * one given null through a variable's default) with the argument's value as the error's node.
 */
function argumentOf(document: DocumentNode, node: ASTNode): string[] | null {
  const holder = parentOf(document, node);
  return holder?.kind === Kind.ARGUMENT ? nameOf(holder) : null;
}

/** extensions.field for the graphql-js errors of one result: variables by coercion, documents by rule. */
function fieldsOf(errors: readonly GraphQLError[], op: Operation | undefined): (string[] | null)[] {
  const byVariable = new Map<ASTNode, { paths: string[][]; next: number }>();
  return errors.map((e) => {
    if (fieldOfRuleError.has(e)) return fieldOfRuleError.get(e) ?? null;
    const node = e.nodes?.[0];
    // graphql-js's own refusal of an argument, raised while executing its field.
    if (e.path && node && op && isGraphQLError(e.originalError) && !e.originalError.extensions?.code)
      return argumentOf(op.document, node);
    if (node?.kind !== Kind.VARIABLE_DEFINITION || e.path) return null;
    let v = byVariable.get(node);
    if (!v) {
      v = { paths: op ? refusedPaths(op, node) : [], next: 0 };
      byVariable.set(node, v);
    }
    return v.paths[v.next++] ?? [node.variable.name.value];
  });
}

/**
 * One error as the contract shows it. `field` is the structural field for a graphql-js error
 * (fieldsOf). Unexpected errors (an original that is not a GraphQLError) are left to masking
 * while it can still run (`masked: false`), and are INTERNAL after it.
 */
function toContract(e: GraphQLError, field: string[] | null, hideSuggestions: boolean, masked: boolean): GraphQLError {
  const ext = { ...(e.extensions ?? {}) } as Record<string, unknown>;
  const unexpected = !!e.originalError && !isGraphQLError(e.originalError);
  if (typeof ext.code !== 'string' || !CONTRACT_CODES.has(ext.code)) {
    if (unexpected && !masked) return tidied(e, ext, hideSuggestions);
    ext.code = unexpected ? 'INTERNAL' : 'BAD_USER_INPUT';
  }
  if (ext.code === 'BAD_USER_INPUT' && !(Array.isArray(ext.field) && ext.field.length)) {
    if (field?.length) ext.field = field;
    else delete ext.field;
  }
  return tidied(e, ext, hideSuggestions);
}

/** A new error (compiled execution's are read-only) with the tidied message and these extensions. */
function tidied(e: GraphQLError, extensions: Record<string, unknown>, hideSuggestions: boolean): GraphQLError {
  return new GraphQLError(tidyMessage(e.message, hideSuggestions), {
    nodes: e.nodes,
    source: e.source,
    positions: e.positions,
    path: e.path,
    originalError: e.originalError,
    extensions,
  });
}

export interface ContractErrorOptions {
  /** Production: no "Did you mean ..." (it maps the schema for someone without introspection). */
  hideSuggestions: boolean;
}

/** The errors of one result (or of a refused document) as the contract shows them. */
export function contractErrors(
  errors: readonly unknown[],
  opts: ContractErrorOptions,
  op?: Operation,
  masked = false,
): GraphQLError[] {
  const gql = errors.filter(isGraphQLError);
  const fields = fieldsOf(gql, op);
  return errors.map((e) => {
    if (!isGraphQLError(e)) return e as GraphQLError;
    return toContract(e, fields[gql.indexOf(e)] ?? null, opts.hideSuggestions, masked);
  });
}

/**
 * What parsing threw (a syntax error, armor's token limit), as the contract shows it: for
 * ws.ts, which parses outside yoga's response step. A parse error never suggests a name.
 */
export function unparsedDocument(e: unknown): GraphQLError {
  if (!isGraphQLError(e))
    return new GraphQLError('the document could not be parsed', { extensions: { code: 'BAD_USER_INPUT' } });
  return contractErrors([e], { hideSuggestions: true }, undefined, true)[0] as GraphQLError;
}

/**
 * The plugin: validation errors as validation returns them, execution and subscription
 * results (each event of a stream included) with their operation at hand, and, for HTTP and
 * SSE, whatever else a response carries (parse errors, the context's UNAUTHENTICATED) last.
 */
export function useContractErrors(opts: ContractErrorOptions): Plugin {
  const mapResult = <R>(result: R, op?: Operation, masked = false): R => {
    const errors = (result as ExecutionResult | null)?.errors;
    return errors?.length ? { ...result, errors: contractErrors(errors, opts, op, masked) } : result;
  };
  const onResult =
    (op: Operation) =>
    ({ result, setResult }: { result: unknown; setResult: (r: never) => void }) => {
      if (result && typeof result === 'object' && 'errors' in result) setResult(mapResult(result, op) as never);
    };
  return {
    onValidate({ validateFn, setValidationFn }) {
      setValidationFn((schema, document, rules, ...rest) =>
        validateFn(schema, document, (rules ?? specifiedRules).map(tagged), ...rest),
      );
      return ({ result, setResult }) => {
        if (result.length) setResult(contractErrors(result, opts, undefined, true));
      };
    },
    onExecute: ({ args }) => ({ onExecuteDone: onResult(args) }),
    onSubscribe: ({ args }) => ({
      onSubscribeResult: (payload) => {
        onResult(args)(payload);
        return { onNext: onResult(args) };
      },
    }),
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result)) setResult(result.map((r) => mapResult(r, undefined, true)) as never);
      else if (result && typeof result === 'object' && 'errors' in result)
        setResult(mapResult(result, undefined, true) as never);
    },
  };
}

/**
 * yoga's maskError: errors raised on purpose (AppError and graphql-js's own) pass; an
 * unexpected one is replaced by INTERNAL (retryable when the database is away) and logged
 * with the request id.
 */
export function maskUnexpected(logger: Logger) {
  return (error: unknown, message: string): Error => {
    if (isGraphQLError(error) && (!error.originalError || isGraphQLError(error.originalError))) return error;
    const original = isGraphQLError(error) ? error.originalError : error;
    // A string PostgreSQL cannot store (NUL) that no field check caught is still the caller's input.
    const sqlState = (original as { driverError?: { code?: string } })?.driverError?.code;
    if (sqlState === '22021' || sqlState === '22P05')
      return new GraphQLError('text may not contain the NUL character', { extensions: { code: 'BAD_USER_INPUT' } });
    // Tagged by useRequestIds (request-scope.ts) on the way out of the operation.
    const requestId = requestIdOf(error) ?? requestIdOf(original);
    if (isDatabaseUnavailable(original ?? error)) {
      logger.warn({ err: loggableError(original ?? error), requestId }, 'database unavailable');
      return new GraphQLError(
        'the database is unavailable; retry (recording is idempotent: reuse the same idempotency key)',
        {
          extensions: { code: 'INTERNAL', retryable: true, ...(requestId ? { requestId } : {}) },
        },
      );
    }
    logger.error({ err: loggableError(original ?? error), requestId }, 'unexpected error');
    return new GraphQLError(message === 'Unexpected error.' ? 'internal error; see the server log' : message, {
      extensions: { code: 'INTERNAL', ...(requestId ? { requestId } : {}) },
    });
  };
}

const UNAVAILABLE_SQLSTATES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '53300',
]);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND']);

/** A failure to reach PostgreSQL (down, restarting, too many connections): retryable. */
function isDatabaseUnavailable(e: unknown): boolean {
  const err = e as { code?: string; driverError?: { code?: string; message?: string }; message?: string };
  const code = err?.driverError?.code ?? err?.code;
  if (code && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_NODE_CODES.has(code))) return true;
  const msg = err?.driverError?.message ?? err?.message ?? '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|terminating connection/i.test(
    msg,
  );
}
