// The server as a real process, started the way an operator starts it
// (`node dist/main.mjs`, built by the global setup), each with its own installation label and
// namespace prefix so test files sharing the control plane never meet.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from './api.ts';
import { createTestDatabase } from './postgres.ts';
import { CoreV1Api } from '@kubernetes/client-node';
import { loadTestKubeConfig, repoRoot, testKubeconfigPath } from './kube.ts';
import { SERVER_ENTRY, SERVER_ENV, SERVER_NODE_FLAGS } from '../../scripts/build.ts';
import { childMark } from './children.ts';

export { SERVER_ENTRY, SERVER_ENV, SERVER_NODE_FLAGS };

export type ServerProcess = {
  url: string;
  admin: ApiClient;
  /** The metrics listener (KUBEKLOUD_METRICS_PORT, a port of its own): `metrics.get()` is GET /metrics. */
  metrics: { url: string; get(): Promise<{ status: number; body: string }> };
  installation: string;
  env: Record<string, string>;
  proc: ChildProcess;
  output: () => string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
};

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export const randomLabel = () => `t${Math.random().toString(36).slice(2, 8).padEnd(6, '0')}`;

export type ServerOptions = {
  /** Default: a throwaway database on the test PostgreSQL, dropped on stop. */
  databaseUrl?: string;
  /** Use the embedded database (PGlite) in a temporary directory instead. */
  embedded?: boolean;
  env?: Record<string, string>;
  installation?: string;
  adminToken?: string;
  /** Another server of the same installation goes on using them. */
  keepNamespaces?: boolean;
};

export async function startServer(o: ServerOptions = {}): Promise<ServerProcess> {
  const port = await freePort();
  let metricsPort = await freePort();
  while (metricsPort === port) metricsPort = await freePort();
  const installation = o.installation ?? randomLabel();
  const adminToken = o.adminToken ?? `admin-${installation}-${Math.random().toString(36).slice(2)}`;
  const ownDb = !o.databaseUrl && !o.embedded ? await createTestDatabase() : null;
  const databaseUrl = o.databaseUrl ?? ownDb?.url;
  const dataDir = databaseUrl ? null : mkdtempSync(join(tmpdir(), 'kubekloud-test-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    ...SERVER_ENV,
    PORT: String(port),
    KUBEKLOUD_METRICS_PORT: String(metricsPort),
    HOST: '127.0.0.1',
    KUBECONFIG: testKubeconfigPath,
    KUBEKLOUD_ADMIN_TOKEN: adminToken,
    KUBEKLOUD_INSTALLATION: installation,
    KUBEKLOUD_NAMESPACE_PREFIX: installation,
    KUBEKLOUD_WORKER_ID: `${installation}-${port}`,
    LOG_LEVEL: 'warn',
    ...childMark(),
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { KUBEKLOUD_DATA_DIR: dataDir! }),
    ...o.env,
  };
  let out = '';
  const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, SERVER_ENTRY], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d) => (out = (out + d).slice(-20_000)));
  proc.stderr!.on('data', (d) => (out = (out + d).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const metricsUrl = `http://127.0.0.1:${env.KUBEKLOUD_METRICS_PORT}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited at start (${proc.exitCode}):\n${out}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`server did not answer /health within 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const cleanup = async () => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    await ownDb?.drop().catch(() => {});
    if (o.keepNamespaces) return;
    // Leave the shared plane as we found it: this installation's namespaces go.
    const core = loadTestKubeConfig().makeApiClient(CoreV1Api);
    const list = await core.listNamespace({ labelSelector: `kubekloud.io/installation=${installation}` }).catch(() => null);
    await Promise.all((list?.items ?? []).map((ns) => core.deleteNamespace({ name: ns.metadata!.name! }).catch(() => {})));
  };
  return {
    url,
    admin: new ApiClient(url, adminToken),
    metrics: {
      url: metricsUrl,
      async get() {
        const res = await fetch(`${metricsUrl}/metrics`);
        return { status: res.status, body: await res.text() };
      },
    },
    installation,
    env,
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const code = await exited;
      await cleanup();
      return code;
    },
    async kill() {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** A tenant with a quota, and a client acting as them. */
/** Whether this server holds the observer lease now (its kubekloud_observer_leader gauge); false when it does not answer. */
export async function isObserverLeader(s: ServerProcess): Promise<boolean> {
  const r = await s.metrics.get().catch(() => null);
  return Number(/^kubekloud_observer_leader (\d+)/m.exec((r?.body as string) ?? '')?.[1] ?? 0) === 1;
}

export async function createTenant(admin: ApiClient, quota: { cpu: number; memory: number; instances?: number }, name?: string) {
  const username = name ?? `tenant-${Math.random().toString(36).slice(2, 8)}`;
  const res = await admin.post('/api/v1/users/', {
    username,
    quota_cpu: quota.cpu,
    quota_memory: quota.memory,
    ...(quota.instances !== undefined ? { quota_instances: quota.instances } : {}),
  });
  if (res.status !== 201) throw new Error(`creating tenant failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { user: res.body, client: admin.withToken(res.body.token as string) };
}
