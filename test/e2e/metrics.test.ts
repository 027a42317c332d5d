// Metrics have a listener of their own (KUBEKLOUD_METRICS_PORT), so a
// deployment can publish the API and keep the metrics private: the process
// serves GET /metrics there and nothing else, the API's port answers 404 for
// /metrics, 0 turns the listener off, and a metrics port that is taken stops
// the start with a message naming the setting.
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { startServer as startInProcess } from '../../src/main.ts';
import { testKubeconfigPath } from '../support/kube.ts';
import { freePort, startServer, type ServerProcess } from '../support/server.ts';

const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe('the metrics listener', () => {
  it('serves GET /metrics on its own port, and the API port answers 404 for it', async () => {
    const s = await startServer({ env: { KUBEKLOUD_RECONCILER: 'false' } });
    servers.push(s);
    expect(new URL(s.metrics.url).port).not.toBe(new URL(s.url).port);
    expect((await s.admin.get('/api/v1/users')).status).toBe(200);
    const m = await s.metrics.get();
    expect(m.status).toBe(200);
    expect(m.body).toMatch(/^kubekloud_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/users",status_code="200"\} \d+$/m);
    expect(m.body).toContain('kubekloud_db_pool_connections');
    const onApi = await s.admin.get('/metrics');
    expect(onApi.status).toBe(404);
    expect(JSON.stringify(onApi.body)).not.toContain('kubekloud_http');
    // And the metrics port serves nothing of the API.
    for (const path of ['/health', '/ready', '/api/v1/users', '/docs/']) {
      expect((await fetch(`${s.metrics.url}${path}`)).status, path).toBe(404);
    }
  });

  it('is not started with KUBEKLOUD_METRICS_PORT=0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubekloud-metrics-off-'));
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = testKubeconfigPath;
    try {
      const config = loadConfig({ PORT: String(await freePort()), HOST: '127.0.0.1', KUBEKLOUD_METRICS_PORT: '0', KUBEKLOUD_RECONCILER: 'false', KUBEKLOUD_DATA_DIR: dir, LOG_LEVEL: 'silent' });
      const server = await startInProcess(config);
      try {
        expect(server.metricsUrl).toBeNull();
        expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
        expect((await fetch(`${server.url}/health`)).status).toBe(200);
      } finally {
        await server.close();
      }
    } finally {
      process.env.KUBECONFIG = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start when its port is taken, naming KUBEKLOUD_METRICS_PORT', async () => {
    const taken: Server = createServer();
    const port = await freePort();
    await new Promise<void>((r) => taken.listen(port, '127.0.0.1', r));
    try {
      const err = await startServer({ embedded: true, env: { KUBEKLOUD_METRICS_PORT: String(port), KUBEKLOUD_RECONCILER: 'false' } }).then(
        (s) => {
          servers.push(s);
          return null;
        },
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/server exited at start \(1\)/);
      expect(err?.message).toContain(`metrics listener on 127.0.0.1:${port} (KUBEKLOUD_METRICS_PORT)`);
      expect(err?.message).toContain('EADDRINUSE');
    } finally {
      taken.close();
    }
  });
});
