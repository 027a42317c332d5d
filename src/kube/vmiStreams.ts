// Streams of a VirtualMachineInstance's KubeVirt subresources (serial console
// and VNC), opened as a WebSocket through the Kubernetes API server with the
// kubeconfig's own identity: the aggregation layer authenticates and
// authorizes the call (RBAC on virtualmachineinstances/console and /vnc in
// subresources.kubevirt.io) and proxies it to virt-api. KubeVirt's protocol:
// subprotocol plain.kubevirt.io, binary frames carrying raw bytes (the serial
// line's characters; RFB for VNC).
import type { ClusterAccess } from './config.ts';
import WebSocket from 'ws';
import { busy, DomainError } from '../domain/errors.ts';
import { capMessage } from '../domain/untrusted.ts';
import { KubeError, type KubeReason } from './errors.ts';
import { requestCredentials } from './rest.ts';

export type VmiStream = 'console' | 'vnc';
export const KUBEVIRT_STREAM_PROTOCOL = 'plain.kubevirt.io';

export function vmiStreamPath(namespace: string, name: string, stream: VmiStream): string {
  return `/apis/subresources.kubevirt.io/v1/namespaces/${encodeURIComponent(namespace)}/virtualmachineinstances/${encodeURIComponent(name)}/${stream}`;
}

const reasonOf = (code: number): KubeReason =>
  code === 404 ? 'not_found' : code === 403 ? 'forbidden' : code === 409 ? 'conflict' : code === 429 ? 'throttled' : code >= 500 ? 'server' : 'rejected';

/**
 * Opens the stream and resolves once it is open, paused: call `resume()`
 * once listening for its messages. Rejects with a KubeError:
 * the API server's (or virt-api's) status and message when it refused the
 * upgrade, `unreachable` when it could not be reached within `timeoutMs`.
 */
export async function openVmiStream(kc: ClusterAccess, namespace: string, name: string, stream: VmiStream, timeoutMs = 15_000): Promise<WebSocket> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeError('unreachable', 'kubeconfig has no current cluster');
  const url = `${cluster.server.replace(/\/$/, '').replace(/^http/, 'ws')}${vmiStreamPath(namespace, name, stream)}`;
  const { agent, headers } = await requestCredentials(kc);
  const ws = new WebSocket(url, [KUBEVIRT_STREAM_PROTOCOL], { agent, headers, handshakeTimeout: timeoutMs, perMessageDeflate: false });
  // Errors after the open end in 'close', which the caller handles; a listener stays so none is unhandled.
  ws.on('error', () => {});
  return new Promise<WebSocket>((resolve, reject) => {
    // Paused at once: what the stream sends with its handshake (a login prompt, an RFB greeting) waits for the caller's listener.
    ws.once('open', () => {
      ws.pause();
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body = (body + c).slice(0, 4096)));
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        let message = body.trim() || `HTTP ${code}`;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? message;
        } catch {
          /* not a Status object */
        }
        ws.terminate();
        reject(new KubeError(reasonOf(code), capMessage(message), code));
      });
    });
    ws.on('error', (err) => reject(new KubeError('unreachable', capMessage(err.message))));
  });
}

/** What a client of the API is told when the stream could not be opened. */
export function vmiStreamRefusal(err: unknown, stream: VmiStream): DomainError {
  const e = err instanceof KubeError ? err : new KubeError('unreachable', String((err as Error)?.message ?? err));
  if (e.reason === 'not_found') return busy(`The VM is not running (no VirtualMachineInstance to open its ${stream} on): ${e.message}`);
  if (e.reason === 'conflict' || e.code === 400) return busy(`KubeVirt refused the ${stream} stream: ${e.message}`);
  return new DomainError('unavailable', `The ${stream} stream could not be opened through the Kubernetes API server (${e.code ?? e.reason}): ${e.message}`);
}
