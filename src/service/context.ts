// What every use case needs: the database, the clock of the reconciler, the
// settings that bound requests, and who is asking.
import type { Config } from '../config/config.ts';
import { forbidden } from '../domain/errors.ts';
import type { TokenScope } from '../domain/scopes.ts';
import type { Reach } from '../store/clusters.ts';
import type { Db, Tx } from '../store/db.ts';
import type { Role } from '../store/users.ts';
import type { Notifications } from './notifications.ts';

/**
 * Who is asking, through which token: `scopes` what the token may do (never
 * beyond the role), `clusterIds` the only clusters it reaches (null: all).
 */
export type Principal = { userId: number; username: string; role: Role; tokenId: number; scopes: TokenScope[]; clusterIds: number[] | null };

export type Services = {
  db: Db;
  config: Config;
  /** Tells the local reconciler there is new work (other replicas hear of it through the notifications). */
  wake: () => void;
  /** What every replica commits, heard as it commits: wakes ?wait=, event streams, clears cached tokens; absent, they poll and nothing is cached. */
  changes?: Notifications;
};

/** The caller acts as an admin: the admin role, through a token with the admin scope. */
export const actsAsAdmin = (p: Principal): boolean => p.role === 'admin' && p.scopes.includes('admin');

/**
 * Admins read everything; a user reads only their own; a token limited to
 * some clusters reaches only those (in SQL: store/clusters.ts reachWhere).
 */
export const ownerScope = (p: Principal): Reach => ({ ownerId: actsAsAdmin(p) ? null : p.userId, clusterIds: p.clusterIds });

/** Why this caller may not `what` (make something not yet one of its clusters), or null: a token limited to some clusters cannot. */
export const beyondClusterLimit = (p: Principal, what: string): string | null =>
  p.clusterIds === null ? null : `This token is limited to cluster${p.clusterIds.length > 1 ? 's' : ''} ${p.clusterIds.join(', ')}: it cannot ${what}`;

export function requireAllClusters(p: Principal, what: string): void {
  const problem = beyondClusterLimit(p, what);
  if (problem) throw forbidden(problem);
}

/** `s`, with `last` run at the end of each of its write transactions, inside them: both commit or neither. */
export function endingEachWrite(s: Services, last: (tx: Tx) => Promise<void>): Services {
  const db: Db = {
    ...s.db,
    transaction: (fn) =>
      s.db.transaction(async (tx) => {
        const out = await fn(tx);
        await last(tx);
        return out;
      }),
  };
  return { ...s, db };
}
