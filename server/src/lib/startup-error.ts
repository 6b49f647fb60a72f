// A reason the service cannot start that the operator can act on: printed as one line
// (no stack), and the process exits non-zero.
export class StartupError extends Error {
  override name = 'StartupError';
}

/** For entry points: a StartupError as its one line, anything else with its stack; exit 1. */
export function exitOnStartupError(err: unknown): never {
  console.error(err instanceof StartupError ? `tally: ${err.message}` : err);
  process.exit(1);
}
