// KubeVirt's subresources (subresources.kubevirt.io/v1) through the local
// plane's API server, served there by the virt-api stand-in (docs/LOCAL-CLUSTER.md).
import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import WebSocket from 'ws';

export const subresourcePath = (namespace: string, vmi: string, sub: 'console' | 'vnc' | 'pause' | 'unpause') =>
  `/apis/subresources.kubevirt.io/v1/namespaces/${namespace}/virtualmachineinstances/${vmi}/${sub}`;

export const restartPath = (namespace: string, vm: string) => `/apis/subresources.kubevirt.io/v1/namespaces/${namespace}/virtualmachines/${vm}/restart`;

/** PUT a subresource (pause, unpause, restart) as kc's user: status code and body. */
export async function putSubresource(kc: KubeConfig, path: string, body = '{}'): Promise<{ status: number; body: string }> {
  const url = new URL(kc.getCurrentCluster()!.server + path);
  const opts: Record<string, any> = { method: 'PUT', headers: { 'Content-Type': 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * What a WebSocket carrying raw bytes (plain.kubevirt.io) has received, and
 * ways to wait for more. Listens from the moment it is called, so call it
 * before the socket opens: bytes sent with the handshake are kept.
 */
export type ByteReader = {
  /** Resolves once `n` bytes beyond those already taken have arrived; takes them. */
  take(n: number, timeoutMs?: number): Promise<Buffer>;
  /** Resolves once the bytes received (not yet taken) contain `text`; takes everything up to and including it. */
  until(text: string | Buffer, timeoutMs?: number): Promise<Buffer>;
};

export function readBytes(ws: WebSocket): ByteReader {
  let pending = Buffer.alloc(0);
  const waiters = new Set<() => void>();
  ws.on('message', (data: Buffer) => {
    pending = Buffer.concat([pending, data]);
    for (const w of waiters) w();
  });
  const waitFor = <T>(ready: () => T | undefined, timeoutMs: number, what: string) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const v = ready();
        if (v === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${JSON.stringify(pending.toString('latin1'))}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return {
    take: (n, timeoutMs = 10_000) =>
      waitFor(
        () => {
          if (pending.length < n) return undefined;
          const out = pending.subarray(0, n);
          pending = pending.subarray(n);
          return Buffer.from(out);
        },
        timeoutMs,
        `${n} bytes`,
      ),
    until: (text, timeoutMs = 10_000) =>
      waitFor(
        () => {
          const at = pending.indexOf(text);
          if (at < 0) return undefined;
          const end = at + Buffer.byteLength(text);
          const out = Buffer.from(pending.subarray(0, end));
          pending = pending.subarray(end);
          return out;
        },
        timeoutMs,
        JSON.stringify(String(text)),
      ),
  };
}

/** A plain.kubevirt.io socket: the bytes received so far, and a way to wait for more. */
export type ByteSocket = {
  ws: WebSocket;
  /** Resolves once `n` bytes beyond those already taken have arrived; takes them. */
  take(n: number, timeoutMs?: number): Promise<Buffer>;
  /** Resolves once the bytes received (not yet taken) contain `text`; takes everything up to it. */
  until(text: string, timeoutMs?: number): Promise<string>;
  send(data: string | Buffer): void;
  close(): void;
};

/**
 * Open console or vnc as kc's user. Rejects with `{ status }` when the API
 * server (or the backend) refuses the upgrade.
 */
export async function openSubresource(kc: KubeConfig, path: string): Promise<ByteSocket> {
  const server = kc.getCurrentCluster()!.server.replace(/^https/, 'wss');
  const opts: Record<string, any> = {};
  await kc.applyToHTTPSOptions(opts);
  const ws = new WebSocket(server + path, ['plain.kubevirt.io'], { ca: opts.ca, headers: opts.headers });
  const bytes = readBytes(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
      res.resume();
    });
    ws.once('error', reject);
  });
  return {
    ws,
    take: bytes.take,
    until: async (text, timeoutMs) => (await bytes.until(text, timeoutMs)).toString('utf8'),
    send: (data) => ws.send(typeof data === 'string' ? Buffer.from(data) : data, { binary: true }),
    close: () => ws.close(),
  };
}
