// The bootstrap admin: KUBEKLOUD_ADMIN_TOKEN is the credential of the user
// "admin". Changing the variable and restarting rotates it: the old one is revoked.
import type { Db } from '../store/db.ts';
import { lockUntilCommit } from '../store/locks.ts';
import * as tokens from '../store/tokens.ts';
import * as users from '../store/users.ts';
import { hashToken } from './tokens.ts';

export const ADMIN_USERNAME = 'admin';
const BOOTSTRAP_TOKEN_NAME = 'bootstrap';
const ADMIN_QUOTA = { cpuMilli: 1_000_000, memoryMib: 4_096 * 1024, instances: 100_000, storageGb: 1_000_000, loadBalancers: 100_000 };

export async function bootstrapAdmin(db: Db, adminToken: string): Promise<{ created: boolean; rotated: boolean }> {
  const hash = hashToken(adminToken);
  return db.transaction(async (tx) => {
    await lockUntilCommit(tx, 'bootstrapAdmin');
    let admin = await users.findUserByUsername(tx, ADMIN_USERNAME);
    const created = !admin;
    if (!admin) admin = await users.insertUser(tx, { username: ADMIN_USERNAME, role: 'admin', quota: ADMIN_QUOTA });
    const current = await tokens.findUnrevokedTokens(tx, hash);
    if (current.some((t) => t.user_id === admin!.id)) return { created, rotated: false };
    await tokens.revokeTokensNamed(tx, admin.id, BOOTSTRAP_TOKEN_NAME);
    if (current.length > 0) {
      // The same secret belongs to someone else: refuse rather than merge identities.
      throw new Error('KUBEKLOUD_ADMIN_TOKEN is already the token of another user; choose a different one');
    }
    // Going back to an earlier value: its revoked row would block the new one.
    await tokens.deleteRevokedToken(tx, hash);
    await tokens.insertToken(tx, { userId: admin.id, name: BOOTSTRAP_TOKEN_NAME, hash, expiresAt: null });
    return { created, rotated: !created };
  });
}
