// KubeVirt's pause and unpause of a VirtualMachineInstance (PUT on
// subresources.kubevirt.io/v1 …/virtualmachineinstances/{name}/pause|unpause)
// through the Kubernetes API server, with the kubeconfig's identity: the
// aggregation layer authorizes it (RBAC: update on
// virtualmachineinstances/pause, /unpause) and proxies it to virt-api.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { toKubeError } from './errors.ts';
import { requestCredentials } from './rest.ts';

export type PauseVerb = 'pause' | 'unpause';

/**
 * 'done'; 'already' when virt-api says it is already so ("VMI is already
 * paused" / "VMI is not paused"); 'not running' / 'no VMI' when there is
 * nothing to act on. Anything else rejects with a KubeError.
 */
export async function putVmiSubresource(
  kc: KubeConfig,
  namespace: string,
  name: string,
  verb: PauseVerb,
  timeoutMs = 30_000,
): Promise<'done' | 'already' | 'not running' | 'no VMI'> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(
    `${cluster.server.replace(/\/$/, '')}/apis/subresources.kubevirt.io/v1/namespaces/${encodeURIComponent(namespace)}/virtualmachineinstances/${encodeURIComponent(name)}/${verb}`,
  );
  const credentials = await requestCredentials(kc);
  const body = '{}';
  const { code, text } = await new Promise<{ code: number; text: string }>((resolve, reject) => {
    const transport = url.protocol === 'https:' ? https : http;
    const req = transport.request(
      url,
      {
        method: 'PUT',
        agent: credentials.agent,
        headers: { accept: 'application/json', 'content-type': 'application/json', 'content-length': String(body.length), ...credentials.headers },
        timeout: timeoutMs,
      },
      (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (t += c));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, text: t }));
        res.on('error', reject);
      },
    );
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('error', (e) => reject(toKubeError(e)));
    req.end(body);
  });
  if (code >= 200 && code < 300) return 'done';
  const message = (() => {
    try {
      return String(JSON.parse(text).message ?? '');
    } catch {
      return text;
    }
  })();
  if (code === 409 && /already paused|not paused/i.test(message)) return 'already';
  if (code === 409 && /not running/i.test(message)) return 'not running';
  if (code === 404 && /virtualmachineinstance/i.test(message)) return 'no VMI';
  throw toKubeError({ code, body: text, message: `HTTP ${code}` });
}
