// The contract's error codes live in the client package (client/src/codes.ts, no imports), so
// the client, which runs in browsers and is published alone, needs nothing of the server; the
// server reads the same list from there.
export { ERROR_CODES, type ErrorCode } from '../../../client/src/codes';
