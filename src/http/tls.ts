// HTTPS at the edge: the certificate the API serves, kept fresh from its files,
// and the plain-HTTP listener that only sends clients to HTTPS.
//
// With KUBEKLOUD_TLS_CERT_FILE / KUBEKLOUD_TLS_KEY_FILE set, the API itself
// terminates TLS (on KUBEKLOUD_TLS_PORT), so bearer tokens are never in clear
// text anywhere between the client and the process, including inside the
// cluster. The files are re-read periodically: a certificate renewed into its
// Secret (cert-manager) reaches the mounted files and is served without a restart.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { ConfigError, type TlsConfig } from '../config/config.ts';
import { sendProblem } from './errors.ts';
import { closeConnectionsOnceClosing } from './closing.ts';

export type TlsMaterial = { cert: Buffer; key: Buffer };

/** The pair as the files hold it now; a file that cannot be read names its setting. */
function readPair(tls: Pick<TlsConfig, 'certFile' | 'keyFile'>): TlsMaterial {
  const read = (name: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError([`${name}=${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
    }
  };
  return { cert: read('KUBEKLOUD_TLS_CERT_FILE', tls.certFile), key: read('KUBEKLOUD_TLS_KEY_FILE', tls.keyFile) };
}

/** Checks that the pair is PEM and the key matches the certificate. */
function checkPair(material: TlsMaterial): TlsMaterial {
  try {
    createSecureContext(material);
  } catch (err) {
    throw new ConfigError([`KUBEKLOUD_TLS_CERT_FILE / KUBEKLOUD_TLS_KEY_FILE: not a usable certificate and key pair (${(err as Error).message})`]);
  }
  return material;
}

/** Reads and checks the pair (PEM, the key matching the certificate); a problem names the setting to fix. */
export function readTlsMaterial(tls: Pick<TlsConfig, 'certFile' | 'keyFile'>): TlsMaterial {
  return checkPair(readPair(tls));
}

const fingerprint = (m: TlsMaterial) => createHash('sha256').update(m.cert).update(m.key).digest('hex');

/**
 * Re-reads the files every reloadSeconds and, when they changed and form a
 * valid pair, serves them to new connections. A pair caught half-written (or
 * otherwise unusable) is skipped and the current one kept. Returns a stop.
 */
export function keepCertificateFresh(
  server: HttpsServer,
  tls: TlsConfig,
  current: TlsMaterial,
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void },
): () => void {
  let served = fingerprint(current);
  const timer = setInterval(() => {
    let next: TlsMaterial;
    let f: string;
    try {
      next = readPair(tls);
      f = fingerprint(next);
      if (f === served) return; // unchanged: nothing to check or load
      checkPair(next);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'TLS certificate files unusable; still serving the previous certificate');
      return;
    }
    server.setSecureContext(next);
    served = f;
    log.info({ certFile: tls.certFile }, 'TLS certificate reloaded');
  }, tls.reloadSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The plain-HTTP listener when TLS is on: GET and HEAD are redirected (308) to
 * the same URL over HTTPS; anything else is refused (403) rather than
 * redirected, so that a client that sent a token or a body in clear text
 * learns it, instead of silently repeating the request.
 */
export async function buildRedirectApp(opts: { publicPort: number; logger?: boolean | object }): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, return503OnClosing: false });
  closeConnectionsOnceClosing(app);
  const target = (host: string | undefined, url: string) => {
    // The host the client asked for, without its port (the HTTPS port is the public one).
    const name = (host ?? '').replace(/:\d+$/, '') || 'localhost';
    return `https://${name}${opts.publicPort === 443 ? '' : `:${opts.publicPort}`}${url}`;
  };
  app.addHook('onRequest', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    const location = target(req.headers.host, req.url);
    if (req.method === 'GET' || req.method === 'HEAD') return reply.code(308).header('location', location).send();
    const detail = `Plain HTTP is refused for ${req.method}: send it to ${location}.${req.headers.authorization ? ' The token in this request travelled unencrypted; rotate it.' : ''}`;
    return sendProblem(reply, 403, detail);
  });
  return app;
}
