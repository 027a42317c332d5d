// Bearer tokens, stored only as SHA-256 hashes.
import type { TokenScope } from '../domain/scopes.ts';
import type { Queryable } from './db.ts';
import type { UserRow } from './users.ts';

export type TokenRow = {
  id: number;
  user_id: number;
  name: string;
  token_hash: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  /** What the token may do; null: all its user may. */
  scopes: TokenScope[] | null;
  /** The only clusters the token reaches; null: all its user's. */
  cluster_ids: number[] | null;
};

export async function insertToken(
  q: Queryable,
  t: { userId: number; name: string; hash: string; expiresAt: Date | null; scopes?: TokenScope[] | null; clusterIds?: number[] | null },
): Promise<TokenRow> {
  const rows = await q.query<TokenRow>(
    'INSERT INTO tokens (user_id, name, token_hash, expires_at, scopes, cluster_ids) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *',
    [t.userId, t.name, t.hash, t.expiresAt, t.scopes ?? null, t.clusterIds ?? null],
  );
  return rows[0]!;
}

/** The tokens with this hash not revoked (expired ones included): at most one, the hash being unique. */
export async function findUnrevokedTokens(q: Queryable, hash: string): Promise<Pick<TokenRow, 'id' | 'user_id'>[]> {
  return q.query<Pick<TokenRow, 'id' | 'user_id'>>('SELECT id, user_id FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL', [hash]);
}

/** Deletes the revoked token with this hash, whose row would keep the same secret from being issued again. */
export async function deleteRevokedToken(q: Queryable, hash: string): Promise<void> {
  await q.query('DELETE FROM tokens WHERE token_hash = $1 AND revoked_at IS NOT NULL', [hash]);
}

export type TokenLookup = { token: TokenRow; user: UserRow };

/**
 * The live token with this hash and its user; revoked and expired tokens are
 * not found. A disabled user's token is found (the caller says why it is refused).
 */
export async function findLiveToken(q: Queryable, hash: string): Promise<TokenLookup | null> {
  const rows = await q.query<{ t: TokenRow; u: UserRow }>(
    `SELECT row_to_json(t.*) AS t, row_to_json(u.*) AS u
       FROM tokens t JOIN users u ON u.id = t.user_id
      WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())`,
    [hash],
  );
  const row = rows[0];
  if (!row) return null;
  return { token: reviveDates(row.t), user: reviveDates(row.u) };
}

function reviveDates<T>(o: T): T {
  const out = { ...o } as Record<string, unknown>;
  for (const k of ['created_at', 'updated_at', 'expires_at', 'revoked_at', 'last_used_at', 'disabled_at']) {
    if (typeof out[k] === 'string') out[k] = new Date(out[k] as string);
  }
  return out as T;
}

/**
 * How many live (unrevoked, unexpired) tokens the user holds, and when the
 * first of them to expire does (null: none expires). Call it under the user's
 * row lock for the count to hold until the transaction ends.
 */
export async function liveTokenCount(q: Queryable, userId: number): Promise<{ count: number; nextExpiry: Date | null }> {
  const [row] = await q.query<{ count: number; next_expiry: Date | string | null }>(
    `SELECT count(*)::int AS count, min(expires_at) AS next_expiry FROM tokens
      WHERE user_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
    [userId],
  );
  const next = row!.next_expiry;
  return { count: row!.count, nextExpiry: next === null ? null : new Date(next) };
}

export async function listTokens(q: Queryable, userId: number): Promise<TokenRow[]> {
  return q.query<TokenRow>('SELECT * FROM tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id', [userId]);
}

/** Revokes a token of this user; another user's token id is simply not found. */
export async function revokeToken(q: Queryable, userId: number, tokenId: number): Promise<boolean> {
  const rows = await q.query(
    'UPDATE tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id',
    [tokenId, userId],
  );
  return rows.length > 0;
}

export async function revokeTokensNamed(q: Queryable, userId: number, name: string): Promise<void> {
  await q.query('UPDATE tokens SET revoked_at = now() WHERE user_id = $1 AND name = $2 AND revoked_at IS NULL', [userId, name]);
}

export async function touchToken(q: Queryable, tokenId: number): Promise<void> {
  await q.query(
    `UPDATE tokens SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [tokenId],
  );
}

/** Of these tokens, those that still work (unrevoked, unexpired, their user enabled), with their user's role. */
export async function stillWorkingTokens(q: Queryable, ids: number[]): Promise<Map<number, UserRow['role']>> {
  if (ids.length === 0) return new Map();
  const rows = await q.query<{ id: number; role: UserRow['role'] }>(
    `SELECT t.id, u.role FROM tokens t JOIN users u ON u.id = t.user_id
      WHERE t.id = ANY($1::int[]) AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.disabled_at IS NULL`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.role]));
}
