// Recognising PostgreSQL errors (same codes from pg and PGlite).

type PgError = { code?: string; constraint?: string; message?: string };

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as PgError;
  if (e?.code !== '23505') return false;
  return constraint === undefined || e.constraint === constraint || (e.message ?? '').includes(constraint);
}

/** Connection-level failures: the database is unreachable, not the query wrong. */
export function isConnectionError(err: unknown): boolean {
  const e = err as PgError & { errno?: number };
  const msg = e?.message ?? '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '08006', '08001', '08003'].includes(
      e?.code ?? '',
    ) || /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED/i.test(msg)
  );
}
