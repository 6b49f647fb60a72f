// What an error message may say, for every phase (parse, validate, execute, subscribe) and
// every transport (contract-errors.ts applies it to every error that leaves the server):
//  - no value echoed whole: graphql-js and graphql-jit quote the offending value (twice, for a
//    bad scalar), so a 3 MB bad Decimal answered 6 MB. Quoted values are clipped, the message
//    bounded (lib/input.ts clipMessage).
//  - in production, no "Did you mean ...": graphql-js suggests field, argument, type, input
//    field and enum value names, which maps the schema for someone without introspection.
//    (graphql-armor's blockFieldSuggestion only catches the validation phase's field names.)
import { clipMessage } from '../lib/input';

/** ' Did you mean "a", "b", or "c"?' and ' Did you mean the enum value "CALL"?' */
const SUGGESTION = / ?Did you mean [^?]*\?/g;

export function tidyMessage(message: string, hideSuggestions: boolean): string {
  return clipMessage(hideSuggestions ? message.replace(SUGGESTION, '').trimEnd() : message);
}
