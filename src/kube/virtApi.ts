// KubeVirt's virt-api subresources that act on a VM (PUT on subresources.kubevirt.io/v1):
// pause and unpause of a VirtualMachineInstance, restart of a VirtualMachine.
// Through the Kubernetes API server, with the kubeconfig's identity: the
// aggregation layer authorizes each (RBAC: update on virtualmachineinstances/pause,
// /unpause and virtualmachines/restart) and proxies it to virt-api.
import http from 'node:http';
import https from 'node:https';
import type { ClusterAccess } from './config.ts';
import { KubeError, toKubeError } from './errors.ts';
import { requestCredentials } from './rest.ts';

export type PauseVerb = 'pause' | 'unpause';

/** PUTs `{}` to one subresource; the answer's status code, body and message. */
async function putSubresource(kc: ClusterAccess, namespace: string, resource: string, name: string, verb: string, timeoutMs: number) {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(
    `${cluster.server.replace(/\/$/, '')}/apis/subresources.kubevirt.io/v1/namespaces/${encodeURIComponent(namespace)}/${resource}/${encodeURIComponent(name)}/${verb}`,
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
  const message = (() => {
    try {
      return String(JSON.parse(text).message ?? '');
    } catch {
      return text;
    }
  })();
  return { code, text, message };
}

const failure = (r: { code: number; text: string }) => toKubeError({ code: r.code, body: r.text, message: `HTTP ${r.code}` });

/**
 * Pause or unpause a VMI. 'done'; 'already' when virt-api says it is already
 * so ("VMI is already paused" / "VMI is not paused"); 'not running' / 'no VMI'
 * when there is nothing to act on. Anything else rejects with a KubeError.
 */
export async function putVmiSubresource(
  kc: ClusterAccess,
  namespace: string,
  name: string,
  verb: PauseVerb,
  timeoutMs = 30_000,
): Promise<'done' | 'already' | 'not running' | 'no VMI'> {
  const r = await putSubresource(kc, namespace, 'virtualmachineinstances', name, verb, timeoutMs);
  if (r.code >= 200 && r.code < 300) return 'done';
  if (r.code === 409 && /already paused|not paused/i.test(r.message)) return 'already';
  if (r.code === 409 && /not running/i.test(r.message)) return 'not running';
  if (r.code === 404 && /virtualmachineinstance/i.test(r.message)) return 'no VMI';
  throw failure(r);
}

/**
 * Restarts a running VM the way KubeVirt does (virtctl restart): virt-api asks
 * the VM's controller to stop the VMI it runs and to start the next one, which
 * the controller makes from the VM as it is when it acts on that request, so
 * from a template applied before this call. 'done'; 'not running' when the VM
 * has no VMI (its next one comes from the VM as it is). A restart already under
 * way is a transient conflict (tried again once it is over). Anything else
 * rejects with a KubeError.
 */
export async function restartVm(kc: ClusterAccess, namespace: string, name: string, timeoutMs = 30_000): Promise<'done' | 'not running'> {
  const r = await putSubresource(kc, namespace, 'virtualmachines', name, 'restart', timeoutMs);
  if (r.code >= 200 && r.code < 300) return 'done';
  if (r.code === 409 && /not running/i.test(r.message)) return 'not running';
  if (r.code === 409 && /already underway/i.test(r.message)) throw new KubeError('conflict', `a restart of the VM is already under way: ${r.message}`, 409);
  throw failure(r);
}
