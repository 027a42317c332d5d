// Every /api/v1 route tree starts the same way: typed schemas, the caller
// authenticated (and rate-limited) before its request is validated, Idempotency-Key honoured.
import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Services } from '../../service/context.ts';
import type { Authenticate } from '../auth.ts';
import { takeWaitSeat } from '../holds.ts';
import { idempotencyHooks } from '../idempotency.ts';

/**
 * Whether a querystring schema can give a handler a numeric ?wait= (the only
 * kind takeWaitSeat acts on): without a schema, or with an object schema that
 * names no `wait`, the query's wait stays a string; any other shape may.
 */
function mayWait(querystring: unknown): boolean {
  if (querystring === undefined || querystring === null) return false;
  const q = querystring as { type?: unknown; properties?: Record<string, unknown>; allOf?: unknown; anyOf?: unknown; oneOf?: unknown; $ref?: unknown };
  const plainObject = q.type === 'object' && q.properties !== undefined && !q.allOf && !q.anyOf && !q.oneOf && !q.$ref;
  return !plainObject || 'wait' in q.properties!;
}

export type TypedApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression<RawServerDefault>,
  RawReplyDefaultExpression<RawServerDefault>,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export function protectedRoutes(s: Services, authenticate: Authenticate, register: (app: TypedApp) => void | Promise<void>): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    // Before the body is validated: a caller without a valid token learns nothing
    // about the body it sent (401 before 422, as FastAPI's security dependencies did).
    app.addHook('preValidation', async (req) => {
      await authenticate(req);
    });
    // Per route, only the hooks that can act on it, ahead of the route's own
    // (admin checks and the like), in this order: a request with ?wait= past
    // its user's cap is refused (429) before it changes anything, then its
    // Idempotency-Key is honoured. A route whose query cannot carry a numeric
    // wait never takes a seat, and a GET has no key to honour: neither gets a hook.
    app.addHook('onRoute', (route) => {
      const idempotency = idempotencyHooks(s, String(route.method));
      const pre = [...(mayWait(route.schema?.querystring) ? [takeWaitSeat] : []), ...(idempotency ? [idempotency.preHandler] : [])];
      if (pre.length > 0) route.preHandler = [...pre, ...[route.preHandler ?? []].flat()] as typeof route.preHandler;
      if (idempotency) route.onSend = [idempotency.onSend, ...[route.onSend ?? []].flat()] as typeof route.onSend;
    });
    await register(app);
  };
}
