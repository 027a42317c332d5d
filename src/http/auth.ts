// Bearer-token authentication at the edge: reads the Authorization header and
// hands the token to src/service/auth.ts, which looks it up and applies the
// per-caller rate limits (401 for a missing, malformed or unknown token, 429
// past a limit).
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/config.ts';
import { unauthenticated } from '../domain/errors.ts';
import { Authentication } from '../service/auth.ts';
import type { Principal, Services } from '../service/context.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export type Authenticate = (req: FastifyRequest) => Promise<Principal>;

export function createAuthenticator(s: Services, config: Config): Authenticate {
  const auth = new Authentication(s, config);
  return async (req) => {
    const header = req.headers.authorization;
    if (!header) throw await auth.refuse(req.ip, 'Not authenticated: send Authorization: Bearer <token>');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw await auth.refuse(req.ip, 'Malformed Authorization header: expected "Bearer <token>"');
    const principal = await auth.authenticateToken(match[1]!, { address: req.ip, write: req.method !== 'GET' });
    req.principal = principal;
    return principal;
  };
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw unauthenticated('Not authenticated');
  return req.principal;
}
