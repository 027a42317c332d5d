// Closing with keep-alive clients: Fastify's close() closes the connections that
// are idle when it starts, and then waits for the others to end. A connection
// still answering a request then (a ?wait=, say) would, once answered, sit idle
// for the whole keep-alive timeout (72 s) and hold the shutdown past the
// orchestrator's grace period. Every answer sent after close() has begun says
// `Connection: close`, so Node closes that connection as soon as it is sent.
import type { FastifyInstance } from 'fastify';

export function closeConnectionsOnceClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Synchronous (a done callback): no promise per answer on the read path.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
}
