// The app in-process (app.inject, no open port) on an in-memory PGlite, for
// HTTP-contract tests that need no Kubernetes.
import { openMigratedPglite } from './pgliteImage.ts';
import { startNotifications } from '../../src/service/notifications.ts';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { buildApp } from '../../src/http/app.ts';
import { buildMetricsApp } from '../../src/http/metricsApp.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { bootstrapAdmin } from '../../src/service/bootstrap.ts';
import { createReadiness } from '../../src/service/readiness.ts';
import type { Db } from '../../src/store/db.ts';
import { queueDepth } from '../../src/store/work.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export type TestApp = {
  app: FastifyInstance;
  /** The metrics listener's app (GET /metrics), on the same registry as `app`. */
  metricsApp: FastifyInstance;
  db: Db;
  config: Config;
  call(method: InjectOptions['method'], url: string, token?: string | null, body?: unknown): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  tenant(quota?: { cpu?: number; memory?: number; instances?: number }): Promise<{ id: number; token: string; username: string }>;
  close(): Promise<void>;
};

export async function buildTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const db = await openMigratedPglite();
  await bootstrapAdmin(db, ADMIN_TOKEN);
  const config = loadConfig({ KUBEKLOUD_ADMIN_TOKEN: ADMIN_TOKEN, ...env });
  const metrics = createMetrics({ poolStats: () => db.poolStats(), queueDepth: () => queueDepth(db) });
  // Notifications as a server has them (the embedded database's own): waits and streams woken, tokens cached.
  const changes = await startNotifications(db, { worker: 'test' });
  const app = await buildApp({ db, config, metrics, readiness: createReadiness({ db }, null), wake: () => {}, changes });
  await app.ready();
  const metricsApp = await buildMetricsApp({ metricsText: () => metrics.render() });
  await metricsApp.ready();
  const call: TestApp['call'] = async (method, url, token = ADMIN_TOKEN, body) => {
    const res = await app.inject({
      method,
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    let parsed: unknown = res.body;
    try {
      parsed = JSON.parse(res.body);
    } catch {
      /* text */
    }
    return { status: res.statusCode, body: parsed, headers: res.headers };
  };
  let n = 0;
  return {
    app,
    metricsApp,
    db,
    config,
    call,
    async tenant(q = {}) {
      const username = `tenant${++n}`;
      const res = await call('POST', '/api/v1/users/', ADMIN_TOKEN, {
        username,
        quota_cpu: q.cpu ?? 8,
        quota_memory: q.memory ?? 16,
        quota_instances: q.instances ?? 10,
      });
      if (res.status !== 201) throw new Error(`tenant: ${res.status} ${JSON.stringify(res.body)}`);
      return { id: res.body.id, token: res.body.token, username };
    },
    async close() {
      await app.close();
      await metricsApp.close();
      await changes.close();
      await db.close();
    },
  };
}
