// A reason the service cannot start that the operator can fix (a port taken, a directory
// PostgreSQL cannot reach): main prints its message as one line and exits 1, no stack.
export class StartupError extends Error {
  override name = 'StartupError';
}
