// A TCP proxy on loopback that a test can cut and restore, to make
// Kubernetes or PostgreSQL unreachable for one server without touching the
// shared control plane or database server, or point at another server (a
// promoted PostgreSQL standby) the way a Service or a virtual IP moves.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { freePort } from './server.ts';

export type CuttableProxy = {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
  /**
   * New connections go to host:port from now on; every connection open
   * through the proxy is closed, so none to the old target outlives the switch.
   */
  retarget(host: string, port: number): void;
};

export async function startProxy(targetHost: string, targetPort: number): Promise<CuttableProxy> {
  const port = await freePort();
  let target = { host: targetHost, port: targetPort };
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect(target.port, target.host);
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  const cut = async () => {
    const s = server as Server | null;
    server = null;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  const retarget = (host: string, to: number) => {
    target = { host, port: to };
    for (const sock of sockets) sock.destroy();
    sockets.clear();
  };
  await listen();
  return { port, cut, restore: listen, close: cut, retarget };
}

/** A copy of a kubeconfig whose server goes through 127.0.0.1:<port>. */
export function kubeconfigVia(sourcePath: string, targetPath: string, port: number): { host: string; port: number } {
  const text = readFileSync(sourcePath, 'utf8');
  const match = /server:\s*https:\/\/([^:\s]+):(\d+)/.exec(text);
  if (!match) throw new Error('kubeconfig has no https server line');
  writeFileSync(targetPath, text.replace(match[0], `server: https://127.0.0.1:${port}`));
  return { host: match[1]!, port: Number(match[2]) };
}

export function kubeTarget(sourcePath: string): { host: string; port: number } {
  const match = /server:\s*https:\/\/([^:\s]+):(\d+)/.exec(readFileSync(sourcePath, 'utf8'));
  if (!match) throw new Error('kubeconfig has no https server line');
  return { host: match[1]!, port: Number(match[2]) };
}
