// Bearer-token authentication and the per-caller rate limits that go with it.
// Unknown, revoked and expired tokens are refused (401); an address that keeps
// failing is throttled (429). The write limit per user and the failure limit
// per address are buckets in the database, shared by every replica; the
// request limit per token protects each replica and is kept in its memory.
// Token lookups come from a cache (src/service/tokenCache.ts) while the
// replica hears every change of access.
import type { Config } from '../config/config.ts';
import { DomainError, forbidden, RateLimited, unauthenticated } from '../domain/errors.ts';
import type { Limit } from '../domain/rateLimit.ts';
import { effectiveScopes } from '../domain/scopes.ts';
import { takeToken } from '../store/rateBuckets.ts';
import { findLiveToken, touchToken, type TokenLookup } from '../store/tokens.ts';
import type { Principal, Services } from './context.ts';
import { RateLimiter } from './rateLimiter.ts';
import { TokenCache } from './tokenCache.ts';
import { hashToken } from './tokens.ts';

export type AuthLimits = Pick<Config, 'rateLimit' | 'writeRateLimit' | 'authFailureLimit'>;

/**
 * Who is asking, as far as the limits and scopes care: from which address,
 * and whether the request writes (it then needs the `write` scope, else `read`).
 */
export type Caller = { address: string; write: boolean };

/** Tokens longer than this are not looked up: no token issued or accepted is. */
const MAX_TOKEN_LENGTH = 512;
/** last_used_at is kept to the minute. */
const TOUCH_EVERY_MS = 60_000;

/** One per process: it holds the in-memory buckets of the request limit per token. */
export class Authentication {
  private readonly requests: RateLimiter;
  private readonly failureLimit: Limit;
  private readonly writeLimit: Limit;
  private readonly cache = new TokenCache();

  constructor(
    private readonly s: Services,
    limits: AuthLimits,
    private readonly now: () => number = () => Date.now(),
  ) {
    const perMinute = limits.authFailureLimit.perMinute;
    this.failureLimit = { perSecond: perMinute / 60, burst: perMinute };
    this.writeLimit = limits.writeRateLimit;
    this.requests = new RateLimiter(limits.rateLimit, now);
    // Access changed somewhere (or may have, unheard): nothing cached holds.
    s.changes?.onAccess(() => this.cache.clear());
  }

  /** The live token with this hash and its user: from the cache while every change of access is heard, else from the database. */
  private async lookup(hash: string): Promise<TokenLookup | null> {
    const heard = this.s.changes?.up === true;
    if (heard) {
      const cached = this.cache.get(hash);
      if (cached) return cached;
    }
    const generation = this.cache.begin();
    const found = await findLiveToken(this.s.db, hash);
    if (found && heard && this.s.changes?.up) this.cache.put(hash, found, generation);
    return found;
  }

  /**
   * The principal `token` stands for, once the request is within the token's
   * scopes and the token's and (for a write) the user's limits. Throws
   * `unauthenticated` for an unknown, revoked or expired token (RateLimited
   * once the address failed too often) and for a disabled user's, `forbidden`
   * for a request beyond the token's scopes, and RateLimited when a limit is spent.
   */
  async authenticateToken(token: string, caller: Caller): Promise<Principal> {
    const found = token.length <= MAX_TOKEN_LENGTH ? await this.lookup(hashToken(token)) : null;
    if (!found) throw await this.refuse(caller.address, 'Invalid authentication token');
    if (found.user.disabled_at) throw unauthenticated(`User '${found.user.username}' is disabled; an administrator can enable it again`);
    const scopes = effectiveScopes(found.user.role, found.token.scopes);
    const needed = caller.write ? 'write' : 'read';
    if (!scopes.includes(needed)) {
      throw forbidden(`This token's scopes are ${scopes.join(', ')}: this request needs the '${needed}' scope`);
    }
    const wait =
      this.requests.take(`t${found.token.id}`) || (caller.write ? await takeToken(this.s.db, `write:${found.user.id}`, this.writeLimit) : 0);
    if (wait > 0) throw new RateLimited('Rate limit exceeded; slow down', wait);
    // Skip the write (a round trip per request) while last_used_at is fresh.
    const lastUsed = found.token.last_used_at;
    if (!lastUsed || this.now() - lastUsed.getTime() > TOUCH_EVERY_MS) {
      found.token.last_used_at = new Date(this.now()); // the cached copy too: the next request skips the write
      void touchToken(this.s.db, found.token.id).catch(() => {});
    }
    return { userId: found.user.id, username: found.user.username, role: found.user.role, tokenId: found.token.id, scopes, clusterIds: found.token.cluster_ids };
  }

  /**
   * Counts a failed authentication from `address` and gives the error to
   * answer: `unauthenticated` with `message`, or RateLimited once the address
   * failed too often. With the database away the failure cannot be counted;
   * it is still `unauthenticated`.
   */
  async refuse(address: string, message: string): Promise<DomainError> {
    const wait = await takeToken(this.s.db, `auth-failure:${address}`, this.failureLimit).catch(() => 0);
    if (wait > 0) return new RateLimited('Too many failed authentication attempts; try again later', wait);
    return unauthenticated(message);
  }
}
