// A request whose parameters cannot be read (a POST body or a GET `variables` / `extensions`
// that is not JSON, a form body the same) is the caller's mistake: BAD_USER_INPUT with a short
// message, never INTERNAL (yoga's GET parser throws a bare SyntaxError, which masking turns
// into INTERNAL and an error-level log line anyone could trigger) and never an echo of the
// body (yoga attaches the parser's message, which quotes the whole input, as originalError).
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

const unreadable = () =>
  new GraphQLError('the request could not be read: its body, variables or extensions are not valid JSON', {
    extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
  });

export function useRequestParseErrors(): Plugin {
  return {
    onRequestParse({ requestParser, setRequestParser }) {
      if (!requestParser) return;
      const parse = requestParser;
      setRequestParser(async (request) => {
        try {
          return await parse(request);
        } catch (e) {
          const err = e as { originalError?: unknown; extensions?: { originalError?: { name?: string } } };
          const original = err.originalError ?? e;
          // By name too: yoga's POST parser keeps only {name, message} of the SyntaxError.
          if (original instanceof SyntaxError || err.extensions?.originalError?.name === 'SyntaxError')
            throw unreadable();
          throw e;
        }
      });
    },
  };
}
