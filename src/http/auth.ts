// Bearer-token authentication at the edge: reads the Authorization header and
// hands the token to src/service/auth.ts, which looks it up and applies the
// per-caller rate limits (401 for a missing, malformed or unknown token, 429
// past a limit).
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/config.ts';
import { unauthenticated } from '../domain/errors.ts';
import { scopeForMethod } from '../domain/scopes.ts';
import { Authentication } from '../service/auth.ts';
import type { Principal, Services } from '../service/context.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export type Authenticate = (req: FastifyRequest) => Promise<Principal>;

/**
 * Browsers cannot set headers on a WebSocket, only subprotocols: a WebSocket
 * upgrade may carry its token as the subprotocol `base64url.bearer.kubekloud.io.<token, base64url>`
 * (the way Kubernetes takes `base64url.bearer.authorization.k8s.io.<token>`),
 * offered beside a data subprotocol, which is the one the server answers with.
 */
export const BEARER_SUBPROTOCOL_PREFIX = 'base64url.bearer.kubekloud.io.';

/** The offered subprotocols of a WebSocket upgrade (none for any other request). */
export function offeredSubprotocols(req: FastifyRequest): string[] {
  const header = req.headers['sec-websocket-protocol'];
  if (req.headers.upgrade?.toLowerCase() !== 'websocket' || !header) return [];
  return header.split(',').map((p) => p.trim()).filter(Boolean);
}

/** The token a WebSocket upgrade carries as a subprotocol: undefined if none, null if malformed. */
function subprotocolToken(req: FastifyRequest): string | null | undefined {
  const offered = offeredSubprotocols(req).filter((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  if (offered.length === 0) return undefined;
  const encoded = offered[0]!.slice(BEARER_SUBPROTOCOL_PREFIX.length);
  if (offered.length > 1 || !/^[A-Za-z0-9_-]+$/.test(encoded)) return null;
  const token = Buffer.from(encoded, 'base64url').toString('utf8');
  return /^\S+$/.test(token) ? token : null;
}

export function createAuthenticator(s: Services, config: Config): Authenticate {
  const auth = new Authentication(s, config);
  return async (req) => {
    const header = req.headers.authorization;
    const fromProtocol = header ? undefined : subprotocolToken(req);
    if (fromProtocol === null) throw await auth.refuse(req.ip, `Malformed token subprotocol: expected one "${BEARER_SUBPROTOCOL_PREFIX}<token, base64url-encoded>"`);
    if (!header && fromProtocol === undefined) throw await auth.refuse(req.ip, 'Not authenticated: send Authorization: Bearer <token>');
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : [header, fromProtocol];
    if (!match) throw await auth.refuse(req.ip, 'Malformed Authorization header: expected "Bearer <token>"');
    const principal = await auth.authenticateToken(match[1]!, { address: req.ip, write: scopeForMethod(req.method) === 'write' });
    req.principal = principal;
    return principal;
  };
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw unauthenticated('Not authenticated');
  return req.principal;
}
