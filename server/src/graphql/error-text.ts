// What an error message may say, for every phase (parse, validate, execute, subscribe) and
// every transport (HTTP and graphql-ws both run these hooks):
//  - no value echoed whole: graphql-js and graphql-jit quote the offending value (twice, for a
//    bad scalar), so a 3 MB bad Decimal answered 6 MB. Quoted values are clipped, the message
//    bounded (lib/input.ts clipMessage).
//  - in production, no "Did you mean ...": graphql-js suggests field, argument, type, input
//    field and enum value names, which maps the schema for someone without introspection.
//    (graphql-armor's blockFieldSuggestion only catches the validation phase's field names.)
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { clipMessage } from '../lib/input';

/** ' Did you mean "a", "b", or "c"?' and ' Did you mean the enum value "CALL"?' */
const SUGGESTION = / ?Did you mean [^?]*\?/g;

export function tidyMessage(message: string, hideSuggestions: boolean): string {
  return clipMessage(hideSuggestions ? message.replace(SUGGESTION, '').trimEnd() : message);
}

/** The same error with a tidied message (a new one: compiled execution's errors are read-only). */
function tidied<E>(e: E, hideSuggestions: boolean): E {
  const err = e as GraphQLError;
  if (typeof err?.message !== 'string') return e;
  const message = tidyMessage(err.message, hideSuggestions);
  if (message === err.message) return e;
  return new GraphQLError(message, {
    nodes: err.nodes,
    source: err.source,
    positions: err.positions,
    path: err.path,
    originalError: err.originalError,
    extensions: err.extensions,
  }) as E;
}

export function useErrorText(opts: { hideSuggestions: boolean }): Plugin {
  const tidyAll = <E>(errors: readonly E[]) => errors.map((e) => tidied(e, opts.hideSuggestions));
  const withTidyErrors = <R>(result: R): R => {
    const errors = (result as { errors?: readonly unknown[] } | null)?.errors;
    return errors?.length ? { ...result, errors: tidyAll(errors) } : result;
  };
  const onResult = ({ result, setResult }: { result: unknown; setResult: (r: never) => void }) => {
    if (result && typeof result === 'object' && 'errors' in result) setResult(withTidyErrors(result) as never);
  };
  return {
    onValidate:
      () =>
      ({ result, setResult }) => {
        if (result.length) setResult(tidyAll(result));
      },
    onExecute: () => ({ onExecuteDone: onResult }),
    onSubscribe: () => ({ onSubscribeResult: onResult }),
    onResultProcess: ({ result, setResult }) => {
      if (Array.isArray(result)) setResult(result.map(withTidyErrors) as never);
      else if (result && typeof result === 'object' && 'errors' in result) setResult(withTidyErrors(result) as never);
    },
  };
}
