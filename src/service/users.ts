// Use cases for users, their quotas and their tokens.
import { checkWholeList, pageToRead } from '../domain/paging.ts';
import { capMessage, DEFAULT_CAP_RETRY_SECONDS, retryAfterSeconds } from '../domain/caps.ts';
import { conflict, forbidden, invalid, notFound, RateLimited, type FieldProblem } from '../domain/errors.ts';
import { DEFAULT_QUOTA_LOAD_BALANCERS, DEFAULT_QUOTA_STORAGE_GB, totalBelowUsage, type Resources } from '../domain/quota.ts';
import { coresToMilli, gibToMib } from '../domain/units.ts';
import type { Tx } from '../store/db.ts';
import { isUniqueViolation } from '../store/errors.ts';
import { escalationProblem, scopesOfRole, type TokenScope } from '../domain/scopes.ts';
import * as clusters from '../store/clusters.ts';
import * as tokens from '../store/tokens.ts';
import * as users from '../store/users.ts';
import { actsAsAdmin, type Principal, type Services } from './context.ts';
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
  disabled?: boolean;
};

export async function patchUser(s: Services, p: Principal, id: number, input: PatchUserInput) {
  const updated = await s.db.transaction(async (tx) => {
    const u = await users.findUserById(tx, id, { lock: true });
    if (!u) throw notFound('User');
    if (u.id === p.userId && input.role === 'user') throw conflict('You cannot remove your own admin role');
    if (u.id === p.userId && input.disabled === true) throw conflict('You cannot disable yourself');
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
    return users.updateUser(tx, id, { quota: total, role: input.role, disabled: input.disabled });
  });
  // A role taken away or a user disabled holds on every replica before this answers.
  if (input.role !== undefined || input.disabled !== undefined) await s.changes?.settled();
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
  await s.changes?.settled();
  return { message: 'User deleted', detail: { user_id: id } };
}

export type CreateTokenInput = { name: string; expires_in_days?: number; scopes?: TokenScope[]; cluster_ids?: number[] };

/**
 * A new token of the caller's: `scopes` (default: all the user may) and
 * `cluster_ids` (default: every cluster), never beyond the token that asks;
 * each cluster named must be one of the caller's (any, for an admin).
 */
export async function createToken(s: Services, p: Principal, input: CreateTokenInput) {
  const wanted = input.scopes ?? null;
  const wantedClusters = input.cluster_ids ?? null;
  const problems: FieldProblem[] = [];
  const notHeld = (wanted ?? []).filter((sc) => !scopesOfRole(p.role).includes(sc));
  if (notHeld.length > 0) throw invalid([{ loc: ['body', 'scopes'], msg: `${notHeld.join(', ')} is beyond the ${p.role} role`, type: 'value_error.scope' }]);
  const escalation = escalationProblem(p.scopes, p.clusterIds, wanted ?? p.scopes, wantedClusters);
  if (escalation) throw forbidden(`Cannot create this token: ${escalation}`);
  const token = generateToken();
  const expiresAt = input.expires_in_days ? new Date(Date.now() + input.expires_in_days * 86_400_000) : null;
  const row = await s.db.transaction(async (tx) => {
    if (wantedClusters) {
      const found = await clusters.existingClusterIds(tx, wantedClusters, actsAsAdmin(p) ? null : p.userId);
      wantedClusters.forEach((id, i) => {
        if (!found.includes(id)) problems.push({ loc: ['body', 'cluster_ids', i], msg: `cluster ${id} is not one of your clusters`, type: 'value_error.cluster' });
      });
    }
    if (problems.length > 0) throw invalid(problems);
    await refuseBeyondTokenCap(s, tx, p.userId);
    return tokens.insertToken(tx, { userId: p.userId, name: input.name, hash: hashToken(token), expiresAt, scopes: wanted, clusterIds: wantedClusters });
  });
  return { ...tokenView(row, p.role), token };
}

/**
 * Refuses (429) a new token for a user who holds KUBEKLOUD_MAX_TOKENS_PER_USER
 * live ones. Counted under the user's row lock, so two creates at once cannot
 * both take the last place; Retry-After is when the first live token expires, or a minute.
 */
async function refuseBeyondTokenCap(s: Services, tx: Tx, userId: number): Promise<void> {
  if (!(await users.findUserById(tx, userId, { lock: true }))) throw notFound('User');
  const live = await tokens.liveTokenCount(tx, userId);
  const cap = s.config.caps.tokensPerUser;
  // At most a minute: a token revoked (on any replica) frees its place at once.
  const retry = Math.min(DEFAULT_CAP_RETRY_SECONDS.tokens, retryAfterSeconds('tokens', Date.now(), live.nextExpiry?.getTime() ?? null));
  if (live.count >= cap) throw new RateLimited(capMessage('tokens', live.count, cap), retry);
}

export async function listMyTokens(s: Services, p: Principal) {
  return (await tokens.listTokens(s.db, p.userId)).map((t) => tokenView(t, p.role));
}

export async function revokeMyToken(s: Services, p: Principal, tokenId: number) {
  if (!(await s.db.transaction((tx) => tokens.revokeToken(tx, p.userId, tokenId)))) throw notFound('Token');
  // Refused on every replica before this answers.
  await s.changes?.settled();
  return { message: 'Token revoked', detail: { token_id: tokenId } };
}

/** Any user's live tokens (admin). */
export async function listUserTokens(s: Services, userId: number) {
  const u = await mustFindUser(s, userId);
  return (await tokens.listTokens(s.db, userId)).map((t) => tokenView(t, u.role));
}

/** Revokes any user's token (admin): refused from the next request on, on every replica. */
export async function revokeUserToken(s: Services, userId: number, tokenId: number) {
  await mustFindUser(s, userId);
  if (!(await s.db.transaction((tx) => tokens.revokeToken(tx, userId, tokenId)))) throw notFound(`Token with id ${tokenId}`);
  await s.changes?.settled();
  return { message: 'Token revoked', detail: { user_id: userId, token_id: tokenId } };
}

export function requireAdmin(p: Principal) {
  if (p.role !== 'admin') throw forbidden('This action needs the admin role');
  if (!actsAsAdmin(p)) throw forbidden(`This action needs a token with the 'admin' scope; this one has ${p.scopes.join(', ')}`);
}
