// What every use case needs: the database, the clock of the reconciler, the
// settings that bound requests, and who is asking.
import type { Config } from '../config/config.ts';
import type { Db } from '../store/db.ts';
import type { Role } from '../store/users.ts';

export type Principal = { userId: number; username: string; role: Role; tokenId: number };

export type Services = {
  db: Db;
  config: Config;
  /** Tells the local reconciler there is new work (other replicas poll). */
  wake: () => void;
};

/** Admins read everything; a user reads only their own (owner scope in SQL). */
export const ownerScope = (p: Principal): number | null => (p.role === 'admin' ? null : p.userId);
