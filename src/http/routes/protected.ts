// Every /api/v1 route tree starts the same way: typed schemas, the caller
// authenticated (and rate-limited) before its request is validated, Idempotency-Key honoured.
import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Services } from '../../service/context.ts';
import type { Authenticate } from '../auth.ts';
import { takeWaitSeat } from '../holds.ts';
import { useIdempotencyKeys } from '../idempotency.ts';

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
    // A request with ?wait= past its user's cap is refused (429) before it changes anything.
    app.addHook('preHandler', async (req) => takeWaitSeat(req));
    useIdempotencyKeys(app, s);
    await register(app);
  };
}
