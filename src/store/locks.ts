// Transaction-scoped advisory locks: work that every replica may start at once
// (at start-up, say) and that must run one at a time. Each lock is a constant
// shared by every replica; it is released when the transaction ends.
// (Migrations take their own, in migrate.ts.)
import type { Tx } from './db.ts';

const LOCKS = {
  /** Creating or rotating the bootstrap admin's token. */
  bootstrapAdmin: 7040,
} as const;

export type LockName = keyof typeof LOCKS;

/** Waits for the lock `name`, held until the transaction ends. */
export async function lockUntilCommit(tx: Tx, name: LockName): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCKS[name]]);
}
