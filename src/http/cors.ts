// CORS from an allow-list in configuration: an origin not on it gets no CORS
// headers, so browsers refuse to read the answer.
import type { FastifyInstance } from 'fastify';

const ALLOWED_HEADERS = 'authorization, content-type, idempotency-key, x-request-id';
const ALLOWED_METHODS = 'GET, POST, PATCH, DELETE, OPTIONS';

export function registerCors(app: FastifyInstance, origins: string[]) {
  const allowed = new Set(origins);
  // Synchronous (a done callback): a request without an Origin costs no promise.
  app.addHook('onRequest', (req, reply, done) => {
    const origin = req.headers.origin;
    if (!origin) return done();
    reply.header('vary', 'Origin');
    if (!allowed.has(origin) && !allowed.has('*')) return done();
    reply.header('access-control-allow-origin', origin);
    reply.header('access-control-expose-headers', 'x-total-count, x-request-id, retry-after');
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
      reply.header('access-control-allow-methods', ALLOWED_METHODS);
      reply.header('access-control-allow-headers', ALLOWED_HEADERS);
      reply.header('access-control-max-age', '600');
      // Answered here: done is not called, so nothing after this hook runs.
      reply.code(204).send();
      return;
    }
    done();
  });
}
