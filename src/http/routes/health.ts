// Liveness, readiness and metrics.
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { migrationsApplied } from '../../store/migrate.ts';
import type { AppDeps } from '../app.ts';
import type { Metrics } from '../metrics.ts';

const CHECK_TIMEOUT_MS = 2000;

async function check(fn: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return `unreachable: ${(err as Error).message}`.slice(0, 300);
  } finally {
    clearTimeout(timer);
  }
}

const Healthy = Type.Object({ status: Type.String(), service: Type.String(), version: Type.String() });

export const healthRoutes =
  (deps: AppDeps, metrics: Metrics): FastifyPluginAsync =>
  async (app) => {
    const healthy = async () => ({ status: 'healthy', service: 'kubekloud', version: '1.0.0' });
    const opts = { schema: { tags: ['health'], security: [], response: { 200: Healthy } } };
    app.get('/', opts, healthy);
    app.get('/health', opts, healthy);

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
        const [database, kubernetes] = await Promise.all([
          check(async () => {
            if (!(await migrationsApplied(deps.db))) throw new Error('migrations not applied');
          }),
          deps.kube ? check(() => deps.kube!.ping()) : Promise.resolve('not configured'),
        ]);
        const checks = { database, kubernetes };
        const failing = Object.entries(checks).filter(([, v]) => v !== 'ok');
        if (failing.length === 0) return { status: 'ready', checks };
        return reply.code(503).send({
          status: 'not ready',
          detail: failing.map(([k, v]) => `${k}: ${v}`).join('; '),
          checks,
        });
      },
    );

    app.get('/metrics', { schema: { tags: ['health'], security: [], produces: ['text/plain'] } }, async (_req, reply) => {
      reply.type('text/plain; version=0.0.4');
      return metrics.render();
    });
  };
