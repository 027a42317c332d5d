// Use cases for users, their quotas and their tokens.
import { checkWholeList, pageToRead } from '../domain/paging.ts';
import { conflict, forbidden, invalid, notFound, type FieldProblem } from '../domain/errors.ts';
import { DEFAULT_QUOTA_LOAD_BALANCERS, DEFAULT_QUOTA_STORAGE_GB, totalBelowUsage, type Resources } from '../domain/quota.ts';
import { coresToMilli, gibToMib } from '../domain/units.ts';
import { isUniqueViolation } from '../store/errors.ts';
import * as tokens from '../store/tokens.ts';
import * as users from '../store/users.ts';
import type { Principal, Services } from './context.ts';
import { generateToken, hashToken } from './tokens.ts';
import { quotaView, tokenView, userView } from './views.ts';

export const DEFAULT_QUOTA_INSTANCES = 10;
export const MAX_QUOTA_INSTANCES = 100_000;

export type CreateUserInput = {
  username: string;
  quota_cpu: number;
  quota_memory: number;
  quota_instances?: number;
  quota_storage_gb?: number;
  quota_load_balancers?: number;
  role?: users.Role;
  token?: string;
};

export async function createUser(s: Services, input: CreateUserInput) {
  const quota: Resources = {
    cpuMilli: coresToMilli(input.quota_cpu),
    memoryMib: gibToMib(input.quota_memory),
    instances: input.quota_instances ?? DEFAULT_QUOTA_INSTANCES,
    storageGb: input.quota_storage_gb ?? DEFAULT_QUOTA_STORAGE_GB,
    loadBalancers: input.quota_load_balancers ?? DEFAULT_QUOTA_LOAD_BALANCERS,
  };
  const token = input.token ?? generateToken();
  try {
    const user = await s.db.transaction(async (tx) => {
      if (await users.findUserByUsername(tx, input.username)) {
        throw conflict(`Username '${input.username}' is already taken`);
      }
      const u = await users.insertUser(tx, { username: input.username, role: input.role ?? 'user', quota });
      await tokens.insertToken(tx, { userId: u.id, name: 'default', hash: hashToken(token), expiresAt: null });
      return u;
    });
    // The token is shown once, now; only its hash is kept.
    return { ...userView(user), token };
  } catch (err) {
    if (isUniqueViolation(err, 'users_username_key')) throw conflict(`Username '${input.username}' is already taken`);
    if (isUniqueViolation(err, 'tokens_token_hash_key')) throw conflict('Token is already in use; choose another');
    throw err;
  }
}

/** A page of users, or all of them (bounded: src/domain/paging.ts) when no limit is given. */
export async function listAllUsers(s: Services, query: { limit?: number; offset?: number }) {
  const page = pageToRead(query.limit, query.offset);
  const rows = await users.listUsers(s.db, page.limit, page.offset);
  checkWholeList(page, rows.length, null, 'users');
  return rows.map(userView);
}

async function mustFindUser(s: Services, id: number) {
  const u = await users.findUserById(s.db, id);
  if (!u) throw notFound('User');
  return u;
}

export async function me(s: Services, p: Principal) {
  return userView(await mustFindUser(s, p.userId));
}

export async function myQuota(s: Services, p: Principal) {
  return quotaView(await mustFindUser(s, p.userId));
}

export type PatchUserInput = {
  quota_cpu?: number;
  quota_memory?: number;
  quota_instances?: number;
  quota_storage_gb?: number;
  quota_load_balancers?: number;
  role?: users.Role;
};

export async function patchUser(s: Services, p: Principal, id: number, input: PatchUserInput) {
  const updated = await s.db.transaction(async (tx) => {
    const u = await users.findUserById(tx, id, { lock: true });
    if (!u) throw notFound('User');
    if (u.id === p.userId && input.role === 'user') throw conflict('You cannot remove your own admin role');
    const total: Resources = {
      cpuMilli: input.quota_cpu !== undefined ? coresToMilli(input.quota_cpu) : u.quota_cpu_milli,
      memoryMib: input.quota_memory !== undefined ? gibToMib(input.quota_memory) : u.quota_memory_mib,
      instances: input.quota_instances ?? u.quota_instances,
      storageGb: input.quota_storage_gb ?? u.quota_storage_gb,
      loadBalancers: input.quota_load_balancers ?? u.quota_load_balancers,
    };
    const below = totalBelowUsage(total, users.userUsage(u));
    if (below.length > 0) {
      const problems: FieldProblem[] = below.map((msg) => ({ loc: ['body', msg.split(' ')[0]!], msg, type: 'value_error.below_usage' }));
      throw invalid(problems);
    }
    return users.updateUser(tx, id, { quota: total, role: input.role });
  });
  return userView(updated!);
}

export async function deleteUser(s: Services, p: Principal, id: number) {
  if (id === p.userId) throw conflict('You cannot delete yourself');
  await s.db.transaction(async (tx) => {
    const u = await users.findUserById(tx, id, { lock: true });
    if (!u) throw notFound('User');
    const owned = await users.countClustersOwned(tx, id);
    if (owned > 0) throw conflict(`User '${u.username}' still owns ${owned} cluster(s); delete them first`);
    await users.deleteUser(tx, id);
  });
  return { message: 'User deleted', detail: { user_id: id } };
}

export async function createToken(s: Services, p: Principal, input: { name: string; expires_in_days?: number }) {
  const token = generateToken();
  const expiresAt = input.expires_in_days ? new Date(Date.now() + input.expires_in_days * 86_400_000) : null;
  const row = await s.db.transaction((tx) => tokens.insertToken(tx, { userId: p.userId, name: input.name, hash: hashToken(token), expiresAt }));
  return { ...tokenView(row), token };
}

export async function listMyTokens(s: Services, p: Principal) {
  return (await tokens.listTokens(s.db, p.userId)).map(tokenView);
}

export async function revokeMyToken(s: Services, p: Principal, tokenId: number) {
  if (!(await s.db.transaction((tx) => tokens.revokeToken(tx, p.userId, tokenId)))) throw notFound('Token');
  return { message: 'Token revoked', detail: { token_id: tokenId } };
}

export function requireAdmin(p: Principal) {
  if (p.role !== 'admin') throw forbidden('This action needs the admin role');
}
