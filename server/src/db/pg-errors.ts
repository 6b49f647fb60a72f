// What PostgreSQL said about a failed statement, whichever layer threw it (TypeORM's
// QueryFailedError wraps pg's DatabaseError as driverError; pg's own errors carry it directly).
export function pgCode(err: unknown): string | undefined {
  const e = err as { driverError?: { code?: string; constraint?: string }; code?: string };
  return e?.driverError?.code ?? e?.code;
}
export function pgConstraint(err: unknown): string | undefined {
  const e = err as { driverError?: { constraint?: string }; constraint?: string };
  return e?.driverError?.constraint ?? e?.constraint;
}
