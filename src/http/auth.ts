// Bearer-token authentication: the token's hash is looked up; the principal
// is attached to the request. Unknown, revoked and expired tokens are 401.
import type { FastifyRequest } from 'fastify';
import { unauthenticated } from '../domain/errors.ts';
import type { Principal, Services } from '../service/context.ts';
import { hashToken } from '../service/tokens.ts';
import { findLiveToken, touchToken } from '../store/tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export async function authenticate(s: Services, req: FastifyRequest): Promise<Principal> {
  const header = req.headers.authorization;
  if (!header) throw unauthenticated('Not authenticated: send Authorization: Bearer <token>');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw unauthenticated('Malformed Authorization header: expected "Bearer <token>"');
  const token = match[1]!;
  if (token.length > 512) throw unauthenticated('Invalid or expired token');
  const found = await findLiveToken(s.db, hashToken(token));
  if (!found) throw unauthenticated('Invalid or expired token');
  void touchToken(s.db, found.token.id).catch(() => {});
  const principal: Principal = { userId: found.user.id, username: found.user.username, role: found.user.role, tokenId: found.token.id };
  req.principal = principal;
  return principal;
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw unauthenticated('Not authenticated');
  return req.principal;
}
