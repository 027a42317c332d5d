// Liveness and readiness. The checks are given: this file only turns them into
// answers. Metrics are not served here but on a port of their own
// (metricsApp.ts), so /metrics on the API's port is a 404.
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { VERSION } from '../../config/version.ts';
import type { Readiness } from '../../service/readiness.ts';

const Root = Type.Object({ status: Type.String(), service: Type.String(), version: Type.String() });
const Healthy = Type.Object({
  status: Type.String(),
  database: Type.Union([Type.Literal('connected'), Type.Literal('unreachable')], {
    description: 'Whether the database answered within a second (informative: /health answers 200 either way; /ready is the check that fails)',
  }),
  service: Type.String(),
  version: Type.String(),
});

export type HealthDeps = {
  readiness: Readiness;
  database: () => Promise<'connected' | 'unreachable'>;
};

export const healthRoutes =
  (deps: HealthDeps): FastifyPluginAsync =>
  async (app) => {
    // The Python service's keys: {status, service, version} at /, {status, database} at /health.
    const schema = { tags: ['health'], security: [] };
    app.get('/', { schema: { ...schema, response: { 200: Root } } }, async () => ({ status: 'healthy', service: 'kubekloud', version: VERSION }));
    app.get('/health', { schema: { ...schema, description: 'Liveness: 200 while the process serves.', response: { 200: Healthy } } }, async () => ({
      status: 'healthy',
      database: await deps.database(),
      service: 'kubekloud',
      version: VERSION,
    }));

    app.get(
      '/ready',
      {
        schema: {
          tags: ['health'],
          security: [],
          description: 'Ready when the database and Kubernetes are reachable and migrations are applied.',
          response: {
            200: Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Type.String()) }),
            503: Type.Object({ status: Type.String(), detail: Type.String(), checks: Type.Record(Type.String(), Type.String()) }),
          },
        },
      },
      async (_req, reply) => {
        const checks = await deps.readiness();
        const failing = Object.entries(checks).filter(([, v]) => v !== 'ok');
        if (failing.length === 0) return { status: 'ready', checks };
        return reply.code(503).send({
          status: 'not ready',
          detail: failing.map(([k, v]) => `${k}: ${v}`).join('; '),
          checks,
        });
      },
    );
  };
