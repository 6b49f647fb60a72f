// A reason the service cannot start that the operator can act on: printed as one line
// (no stack), and the process exits non-zero.
export class StartupError extends Error {
  override name = 'StartupError';
}
