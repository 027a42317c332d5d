// Raw requests to the API server. Server-side apply goes as a plain HTTP PATCH:
// the typed client would first pass our objects through its model serializer,
// which silently drops fields whose model name differs from the wire name (a
// NetworkPolicy's `from` became an empty rule: allow-all). Sending the rendered
// JSON as is avoids that class of bug.
import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../domain/render.ts';

const TIMEOUT_MS = 30_000;

/** The REST path of a named object: /api/v1/namespaces/ns/services/name, /apis/apps/v1/…, cluster-scoped Namespaces. */
export function objectPath(obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const plural = obj.kind.toLowerCase().replace(/y$/, 'ie') + 's';
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const ns = obj.metadata.namespace ? `/namespaces/${encodeURIComponent(obj.metadata.namespace)}` : '';
  return `${base}${ns}/${plural}/${encodeURIComponent(obj.metadata.name)}`;
}

export type RawError = { code: number; body: string };

export async function serverSideApply(kc: KubeConfig, obj: KubeObject, fieldManager: string): Promise<void> {
  await rawRequest(kc, 'PATCH', objectPath(obj), {
    query: { fieldManager, force: 'true' },
    contentType: 'application/apply-patch+yaml',
    body: JSON.stringify(obj),
  });
}

/** Whether the API server says it is ready to serve (its storage included): GET /readyz. */
export async function apiServerReady(kc: KubeConfig): Promise<void> {
  await rawRequest(kc, 'GET', '/readyz', { timeoutMs: 5_000 });
}

/** One request to the API server with the kubeconfig's credentials; rejects with { code, body } on a non-2xx answer. */
async function rawRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  o: { query?: Record<string, string>; contentType?: string; body?: string; timeoutMs?: number } = {},
): Promise<string> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(`${cluster.server.replace(/\/$/, '')}${path}`);
  for (const [k, v] of Object.entries(o.query ?? {})) url.searchParams.set(k, v);
  const opts = await kc.applyToFetchOptions({});
  const headers: Record<string, string> = { accept: 'application/json', ...(o.contentType ? { 'content-type': o.contentType } : {}) };
  new Headers(opts.headers as HeadersInit).forEach((value, key) => {
    headers[key] = value;
  });
  const timeout = o.timeoutMs ?? TIMEOUT_MS;
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<string>((resolve, reject) => {
    const req = transport.request(url, { method, agent: opts.agent as http.Agent, headers, timeout }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve(text);
        else reject({ code, body: text, message: `HTTP ${code}` } satisfies RawError & { message: string });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout} ms`)));
    req.on('error', reject);
    req.end(o.body);
  });
}
