// Server-side apply as a plain HTTP PATCH. The typed client would first pass
// our objects through its model serializer, which silently drops fields whose
// model name differs from the wire name (a NetworkPolicy's `from` became an
// empty rule: allow-all). Sending the rendered JSON as is avoids that class of bug.
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
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(`${cluster.server.replace(/\/$/, '')}${objectPath(obj)}`);
  url.searchParams.set('fieldManager', fieldManager);
  url.searchParams.set('force', 'true');
  const opts = await kc.applyToFetchOptions({});
  const headers: Record<string, string> = { 'content-type': 'application/apply-patch+yaml', accept: 'application/json' };
  new Headers(opts.headers as HeadersInit).forEach((value, key) => {
    headers[key] = value;
  });
  const body = JSON.stringify(obj);
  const transport = url.protocol === 'https:' ? https : http;
  await new Promise<void>((resolve, reject) => {
    const req = transport.request(url, { method: 'PATCH', agent: opts.agent as http.Agent, headers, timeout: TIMEOUT_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve();
        else reject({ code, body: text, message: `HTTP ${code}` } satisfies RawError & { message: string });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
