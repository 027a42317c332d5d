// Bearer-token authentication and the per-caller rate limits that go with it.
// Unknown, revoked and expired tokens are 401; a client that keeps failing is
// throttled (429) before its guesses reach the database.
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/config.ts';
import { RateLimited, unauthenticated } from '../domain/errors.ts';
import type { Principal, Services } from '../service/context.ts';
import { hashToken } from '../service/tokens.ts';
import { findLiveToken, touchToken } from '../store/tokens.ts';
import { RateLimiter } from './rateLimit.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export type Authenticate = (req: FastifyRequest) => Promise<Principal>;

export function createAuthenticator(s: Services, config: Config): Authenticate {
  const perMinute = config.authFailureLimit.perMinute;
  const failures = new RateLimiter({ perSecond: perMinute / 60, burst: perMinute });
  const requests = new RateLimiter(config.rateLimit);
  const writes = new RateLimiter(config.writeRateLimit);

  const fail = (req: FastifyRequest, message: string) => {
    const wait = failures.take(req.ip);
    if (wait > 0) return new RateLimited('Too many failed authentication attempts; try again later', wait);
    return unauthenticated(message);
  };

  return async (req) => {
    const header = req.headers.authorization;
    if (!header) throw fail(req, 'Not authenticated: send Authorization: Bearer <token>');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw fail(req, 'Malformed Authorization header: expected "Bearer <token>"');
    const token = match[1]!;
    const found = token.length <= 512 ? await findLiveToken(s.db, hashToken(token)) : null;
    if (!found) throw fail(req, 'Invalid or expired token');
    const wait = requests.take(`t${found.token.id}`) || (req.method !== 'GET' ? writes.take(`u${found.user.id}`) : 0);
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
