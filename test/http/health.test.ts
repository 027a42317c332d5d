// GET /, /health, /ready and /metrics answer from what the app is given: the
// version from package.json, the readiness checks and the metrics sources,
// composed outside the HTTP layer. /metrics is served by the metrics listener
// only; the API app answers 404 for it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { buildApp } from '../../src/http/app.ts';
import { buildMetricsApp } from '../../src/http/metricsApp.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { openPglite, type Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { repoRoot } from '../support/kube.ts';

const packageVersion = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version as string;

describe('health routes', () => {
  let db: Db;
  let app: FastifyInstance;
  let metricsApp: FastifyInstance;
  let checks: Record<string, string> = {};
  let queue: () => Promise<{ depth: number; lagSeconds: number }> = async () => ({ depth: 0, lagSeconds: 0 });
  beforeAll(async () => {
    db = await openPglite(null);
    await migrate(db);
    const metrics = createMetrics({ poolStats: () => ({ total: 3, idle: 1, waiting: 0 }), queueDepth: () => queue() });
    app = await buildApp({ db, config: loadConfig({}), metrics, readiness: async () => checks, wake: () => {} });
    await app.ready();
    metricsApp = await buildMetricsApp({ metricsText: () => metrics.render() });
    await metricsApp.ready();
  });
  afterAll(async () => {
    await app?.close();
    await metricsApp?.close();
    await db?.close();
  });

  it('says healthy with the package version, as the OpenAPI document does', async () => {
    expect(packageVersion).toBe('1.0.0');
    const root = await app.inject({ method: 'GET', url: '/' });
    expect(root.statusCode).toBe(200);
    expect(root.json()).toEqual({ status: 'healthy', service: 'kubekloud', version: packageVersion });
    // /health carries the Python service's `database` key.
    const health = await app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'healthy', database: 'connected', service: 'kubekloud', version: packageVersion });
    expect((await app.inject({ method: 'GET', url: '/openapi.json' })).json().info.version).toBe(packageVersion);
  });

  it('says the database is unreachable on /health, and stays live (200), when it is', async () => {
    const gone = await openPglite(null);
    await migrate(gone);
    await gone.close();
    const metrics = createMetrics({ poolStats: () => ({ total: 0, idle: 0, waiting: 0 }), queueDepth: async () => ({ depth: 0, lagSeconds: 0 }) });
    const lonely = await buildApp({ db: gone, config: loadConfig({}), metrics, readiness: async () => ({}), wake: () => {} });
    try {
      const res = await lonely.inject({ method: 'GET', url: '/health' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ status: 'healthy', database: 'unreachable' });
    } finally {
      await lonely.close();
    }
  });

  it('is ready when every check says ok, and names each failing check otherwise', async () => {
    checks = { database: 'ok', kubernetes: 'ok' };
    let res = await app.inject({ method: 'GET', url: '/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', checks });
    checks = { database: 'unreachable: migrations not applied', kubernetes: 'ok', other: 'not configured' };
    res = await app.inject({ method: 'GET', url: '/ready' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'not ready', detail: 'database: unreachable: migrations not applied; other: not configured', checks });
  });

  it('exports the queue depth and pool it is given, and still answers when the queue cannot be read', async () => {
    queue = async () => ({ depth: 7, lagSeconds: 12.5 });
    let res = await metricsApp.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4');
    expect(res.body).toMatch(/^kubekloud_reconcile_queue_depth 7$/m);
    expect(res.body).toMatch(/^kubekloud_reconcile_queue_lag_seconds 12.5$/m);
    expect(res.body).toMatch(/^kubekloud_db_pool_connections\{state="in_use"\} 2$/m);
    queue = () => Promise.reject(new Error('connect ECONNREFUSED'));
    res = await metricsApp.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('kubekloud_http_request_duration_seconds');
  });

  it('keeps metrics off the API: /metrics there is a 404 and not in the OpenAPI document', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(404);
    expect(res.body).not.toContain('kubekloud_');
    expect(Object.keys((await app.inject({ method: 'GET', url: '/openapi.json' })).json().paths)).not.toContain('/metrics');
  });

  it('serves nothing but GET /metrics on the metrics listener', async () => {
    for (const url of ['/', '/health', '/ready', '/api/v1/users', '/metrics/x']) {
      const res = await metricsApp.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain('kubekloud_');
    }
    expect((await metricsApp.inject({ method: 'POST', url: '/metrics' })).statusCode).toBe(404);
  });
});
