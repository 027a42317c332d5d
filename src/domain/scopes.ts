// What a token may do. A token carries scopes — `read` (GET), `write` (every
// other method, and an interactive console), `admin` (the admin role's powers:
// admin routes and every tenant's clusters) — and may be limited to a list of
// clusters. A token created without scopes may do all its user may.

export const TOKEN_SCOPES = ['read', 'write', 'admin'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** The scopes a user of this role holds: what an unscoped token of theirs may do. */
export const scopesOfRole = (role: 'admin' | 'user'): TokenScope[] => (role === 'admin' ? ['read', 'write', 'admin'] : ['read', 'write']);

/** What a token may do: its scopes, never beyond its user's role (a demoted admin's admin scope is gone). */
export function effectiveScopes(role: 'admin' | 'user', tokenScopes: readonly TokenScope[] | null): TokenScope[] {
  const held = scopesOfRole(role);
  return tokenScopes === null ? held : held.filter((s) => tokenScopes.includes(s));
}

/** The scope a request needs: reads need `read`, anything else `write`. */
export const scopeForMethod = (method: string): TokenScope => (method === 'GET' || method === 'HEAD' ? 'read' : 'write');

/**
 * Why a token of `held` scopes and `heldClusters` may not issue a token of
 * `wanted` scopes and `wantedClusters` (null when it may): a token never
 * issues one that can do more than itself.
 */
export function escalationProblem(
  held: readonly TokenScope[],
  heldClusters: readonly number[] | null,
  wanted: readonly TokenScope[],
  wantedClusters: readonly number[] | null,
): string | null {
  const beyond = wanted.filter((s) => !held.includes(s));
  if (beyond.length > 0) return `this token holds only the scopes ${held.join(', ')}; it cannot issue a token with ${beyond.join(', ')}`;
  if (heldClusters === null) return null;
  if (wantedClusters === null) return `this token is limited to clusters ${heldClusters.join(', ')}; a token it issues must name cluster_ids among them`;
  const outside = wantedClusters.filter((c) => !heldClusters.includes(c));
  if (outside.length > 0) return `this token is limited to clusters ${heldClusters.join(', ')}; it cannot issue a token for cluster ${outside.join(', ')}`;
  return null;
}
