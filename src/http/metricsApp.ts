// The metrics listener: a second, minimal HTTP server that answers GET /metrics
// and nothing else, on its own port (KUBEKLOUD_METRICS_PORT). Keeping it off
// the API's port lets the deployment expose the API publicly while only the
// monitoring system reaches the metrics (a Service and a NetworkPolicy of
// their own). The public app answers 404 for /metrics.
import Fastify, { type FastifyInstance } from 'fastify';
import { closeConnectionsOnceClosing } from './closing.ts';

export type MetricsAppDeps = {
  /** The Prometheus text exposition. */
  metricsText: () => Promise<string>;
  logger?: boolean | object;
};

export async function buildMetricsApp(deps: MetricsAppDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: deps.logger ?? false, return503OnClosing: false });
  closeConnectionsOnceClosing(app);
  app.addHook('onRequest', async (_req, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('cache-control', 'no-store');
  });
  app.get('/metrics', async (_req, reply) => {
    reply.type('text/plain; version=0.0.4');
    return deps.metricsText();
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).type('text/plain').send(`Not found: ${req.method} ${req.url.split('?')[0]} (this port serves only GET /metrics)\n`);
  });
  return app;
}
