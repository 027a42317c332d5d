// Bearer-token authentication and the per-caller rate limits that go with it.
// Unknown, revoked and expired tokens are 401; a client address that keeps
// failing is throttled (429). The write limit per user and the failure limit
// per address are buckets in the database, shared by every replica; the
// request limit per token protects each replica and is kept in its memory.
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/config.ts';
import { RateLimited, unauthenticated } from '../domain/errors.ts';
import type { Principal, Services } from '../service/context.ts';
import { hashToken } from '../service/tokens.ts';
import { takeToken } from '../store/rateBuckets.ts';
import { findLiveToken, touchToken } from '../store/tokens.ts';
import { RateLimiter } from '../service/rateLimiter.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export type Authenticate = (req: FastifyRequest) => Promise<Principal>;

export function createAuthenticator(s: Services, config: Config): Authenticate {
  const perMinute = config.authFailureLimit.perMinute;
  const failureLimit = { perSecond: perMinute / 60, burst: perMinute };
  const requests = new RateLimiter(config.rateLimit);

  const fail = async (req: FastifyRequest, message: string) => {
    // With the database away the failure cannot be counted; it is still a 401.
    const wait = await takeToken(s.db, `auth-failure:${req.ip}`, failureLimit).catch(() => 0);
    if (wait > 0) return new RateLimited('Too many failed authentication attempts; try again later', wait);
    return unauthenticated(message);
  };

  return async (req) => {
    const header = req.headers.authorization;
    if (!header) throw await fail(req, 'Not authenticated: send Authorization: Bearer <token>');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw await fail(req, 'Malformed Authorization header: expected "Bearer <token>"');
    const token = match[1]!;
    const found = token.length <= 512 ? await findLiveToken(s.db, hashToken(token)) : null;
    if (!found) throw await fail(req, 'Invalid or expired token');
    const wait = requests.take(`t${found.token.id}`) || (req.method !== 'GET' ? await takeToken(s.db, `write:${found.user.id}`, config.writeRateLimit) : 0);
    if (wait > 0) throw new RateLimited('Rate limit exceeded; slow down', wait);
    // last_used_at is kept to the minute: skip the write (a round trip per request) while it is fresh.
    const lastUsed = found.token.last_used_at;
    if (!lastUsed || Date.now() - lastUsed.getTime() > 60_000) void touchToken(s.db, found.token.id).catch(() => {});
    const principal: Principal = { userId: found.user.id, username: found.user.username, role: found.user.role, tokenId: found.token.id };
    req.principal = principal;
    return principal;
  };
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw unauthenticated('Not authenticated');
  return req.principal;
}
