// Helpers for tests that talk to the local control plane (see docs/LOCAL-CLUSTER.md).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig, type User } from '@kubernetes/client-node';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Admin kubeconfig written by `npm run cluster:up` and by the test global setup
 * (of the plane in KUBEKLOUD_PLANE_DIR when set, as for `npm run test:faults`).
 */
export const testKubeconfigPath = process.env.KUBEKLOUD_PLANE_DIR
  ? join(resolve(repoRoot, process.env.KUBEKLOUD_PLANE_DIR), 'kubeconfig')
  : join(repoRoot, '.kubekloud', 'local', 'kubeconfig');

/** A KubeConfig for the local control plane, acting as its admin (group system:masters). */
export function loadTestKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testKubeconfigPath);
  return kc;
}

/**
 * A copy of kc whose requests impersonate `user` (Impersonate-User) and, when
 * given, `groups` (Impersonate-Group). For a ServiceAccount pass
 * `serviceAccountUser(namespace, name)`: the API server then adds the
 * ServiceAccount's groups by itself.
 */
export function impersonating(kc: KubeConfig, user: string, groups: string[] = []): KubeConfig {
  const out = new KubeConfig();
  out.loadFromString(kc.exportConfig());
  const current = out.getCurrentUser();
  if (!current) throw new Error('kubeconfig has no current user');
  const name = `${current.name}-as-${user}`;
  const impersonated: User = { ...current, name, impersonateUser: user };
  out.loadFromOptions({
    clusters: out.getClusters(),
    users: [...out.getUsers(), impersonated],
    contexts: out.getContexts().map((c) => (c.name === out.getCurrentContext() ? { ...c, user: name } : c)),
    currentContext: out.getCurrentContext(),
  });
  if (groups.length > 0) {
    out.addAuthenticator({
      isAuthProvider: (u: User) => u.name === name,
      applyAuthentication: async (_u: User, opts: any) => {
        opts.headers ??= {};
        opts.headers['Impersonate-Group'] = groups;
      },
    });
  }
  return out;
}

export function serviceAccountUser(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** Whether what `read` reads is gone: true on a 404, false while it exists; any other error is thrown. */
export async function gone(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (e) {
    if ((e as { code?: number }).code === 404) return true;
    throw e;
  }
}

/** Poll fn until it returns a truthy value or timeoutMs passes (then throws with the last error). */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** HTTP status and message of a failed client-node call (ApiException), for assertions. */
export function apiError(e: unknown): { code: number; message: string } {
  const err = e as { code?: number; body?: unknown; message?: string };
  let body: any = err.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      /* keep the string */
    }
  }
  const message = typeof body === 'object' && body && 'message' in body ? String(body.message) : String(body ?? err.message ?? e);
  return { code: err.code ?? 0, message };
}

/** Run fn, expecting it to fail; returns the API error it failed with. */
export async function rejection(fn: () => Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await fn();
  } catch (e) {
    return apiError(e);
  }
  throw new Error('expected the API call to be rejected, but it succeeded');
}

/**
 * Create a namespace with a unique name and wait for its `default`
 * ServiceAccount (pods are rejected until the controller has created it).
 */
export async function createTestNamespace(kc: KubeConfig, prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const { CoreV1Api } = await import('@kubernetes/client-node');
  const core = kc.makeApiClient(CoreV1Api);
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await core.createNamespace({ body: { metadata: { name, labels: { 'kubekloud.io/test': 'true', ...labels } } } });
  await eventually(() => core.readNamespacedServiceAccount({ name: 'default', namespace: name }), 30_000, `ServiceAccount ${name}/default`);
  return name;
}

/** Delete a namespace without waiting (test cleanup). */
export async function deleteNamespace(kc: KubeConfig, name: string): Promise<void> {
  const { CoreV1Api } = await import('@kubernetes/client-node');
  try {
    await kc.makeApiClient(CoreV1Api).deleteNamespace({ name });
  } catch {
    /* already gone */
  }
}
