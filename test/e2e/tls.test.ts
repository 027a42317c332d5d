// HTTPS served by the API itself (KUBEKLOUD_TLS_CERT_FILE / _KEY_FILE): the API
// answers only over TLS, PORT redirects GET and HEAD to it and refuses the
// rest, a renewed certificate written over the files is served without a
// restart, and unusable settings stop the start naming the variable.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { startServer, type Server } from '../../src/main.ts';
import { eventually, testKubeconfigPath } from '../support/kube.ts';
import { freePort } from '../support/server.ts';

const dir = mkdtempSync(join(tmpdir(), 'kubekloud-tls-'));
const savedKubeconfig = process.env.KUBECONFIG;

/** A self-signed certificate for localhost / 127.0.0.1, as files <name>.crt and <name>.key. */
function selfSigned(name: string): { cert: string; key: string; fingerprint: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key, fingerprint: new X509Certificate(readFileSync(cert)).fingerprint256 };
}

type Answer = { status: number; headers: Record<string, string | string[] | undefined>; body: string; peer?: string };

/** One request on a new connection (so a reloaded certificate is seen); trusts the given CA file. */
function call(url: string, opts: { method?: string; headers?: Record<string, string>; ca?: string } = {}): Promise<Answer> {
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(u, { method: opts.method ?? 'GET', headers: opts.headers, agent: false, ...(opts.ca ? { ca: readFileSync(opts.ca) } : {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        const peer = u.protocol === 'https:' ? (res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 : undefined;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peer });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

let server: Server;
let first: ReturnType<typeof selfSigned>;
let second: ReturnType<typeof selfSigned>;
const served = { cert: join(dir, 'served.crt'), key: join(dir, 'served.key') };

beforeAll(async () => {
  process.env.KUBECONFIG = testKubeconfigPath;
  first = selfSigned('first');
  second = selfSigned('second');
  copyFileSync(first.cert, served.cert);
  copyFileSync(first.key, served.key);
  const config = loadConfig({
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    KUBEKLOUD_METRICS_PORT: '0',
    KUBEKLOUD_TLS_CERT_FILE: served.cert,
    KUBEKLOUD_TLS_KEY_FILE: served.key,
    KUBEKLOUD_TLS_PORT: String(await freePort()),
    KUBEKLOUD_TLS_PUBLIC_PORT: '8443',
    KUBEKLOUD_TLS_RELOAD_SECONDS: '1',
    KUBEKLOUD_RECONCILER: 'false',
    KUBEKLOUD_DATA_DIR: join(dir, 'data'),
    LOG_LEVEL: 'silent',
  });
  server = await startServer(config);
}, 60_000);

afterAll(async () => {
  await server?.close();
  process.env.KUBECONFIG = savedKubeconfig;
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS served by the API', () => {
  it('answers over HTTPS with the configured certificate and Strict-Transport-Security, and only over HTTPS', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await call(`${server.url}/health`, { ca: first.cert });
    expect(health.status).toBe(200);
    expect(health.peer).toBe(first.fingerprint);
    expect(health.headers['strict-transport-security']).toBe('max-age=31536000');
    // Plain HTTP on the TLS port is no API: the TLS server drops it.
    await expect(call(server.url.replace('https:', 'http:') + '/health')).rejects.toThrow();
    // An untrusted certificate is refused by a client that verifies.
    await expect(call(`${server.url}/health`, { ca: second.cert })).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
  });

  it('redirects GET and HEAD on PORT to the same URL over HTTPS, on the public HTTPS port', async () => {
    expect(server.redirectUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const method of ['GET', 'HEAD']) {
      const r = await call(`${server.redirectUrl}/api/v1/clusters/?limit=5`, { method, headers: { host: 'api.example.test:80' } });
      expect(r.status, method).toBe(308);
      expect(r.headers.location, method).toBe('https://api.example.test:8443/api/v1/clusters/?limit=5');
    }
    // Not even /health is served in clear text: probes use the HTTPS port.
    expect((await call(`${server.redirectUrl}/health`, { headers: { host: 'api.example.test' } })).status).toBe(308);
  });

  it('refuses writes on PORT with a 403 that says where to go, and that a token sent there must be rotated', async () => {
    const anonymous = await call(`${server.redirectUrl}/api/v1/clusters/`, { method: 'POST', headers: { host: 'api.example.test', 'content-type': 'application/json' } });
    expect(anonymous.status).toBe(403);
    expect(JSON.parse(anonymous.body).detail).toBe('Plain HTTP is refused for POST: send it to https://api.example.test:8443/api/v1/clusters/.');
    const withToken = await call(`${server.redirectUrl}/api/v1/clusters/1`, { method: 'DELETE', headers: { host: 'api.example.test', authorization: 'Bearer x' } });
    expect(withToken.status).toBe(403);
    expect(JSON.parse(withToken.body).detail).toMatch(/travelled unencrypted; rotate it\.$/);
  });

  it('serves a certificate renewed into its files without a restart, and keeps the last good one when the files are unusable', async () => {
    // A half-written renewal (the key file garbage) is skipped: still the first certificate.
    writeFileSync(served.key, 'not a key');
    writeFileSync(served.cert, readFileSync(second.cert));
    // Two reload periods pass on the server's own clock; the served certificate must not change meanwhile.
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await call(`${server.url}/health`, { ca: first.cert })).peer).toBe(first.fingerprint);
    // The renewal completes: the second certificate is served to new connections.
    copyFileSync(second.key, served.key);
    const seen = await eventually(async () => {
      const r = await call(`${server.url}/health`, { ca: second.cert }).catch(() => null);
      return r?.peer === second.fingerprint ? r : undefined;
    }, 15_000, 'the renewed certificate served');
    expect(seen.status).toBe(200);
  });
});

describe('TLS settings', () => {
  it('take the certificate and the key together', () => {
    expect(() => loadConfig({ KUBEKLOUD_TLS_CERT_FILE: '/x.crt' })).toThrow(/KUBEKLOUD_TLS_CERT_FILE and KUBEKLOUD_TLS_KEY_FILE go together.*the key is missing/);
    expect(() => loadConfig({ KUBEKLOUD_TLS_KEY_FILE: '/x.key' })).toThrow(/the certificate is missing/);
    expect(loadConfig({}).tls).toBeNull();
    expect(() => loadConfig({ KUBEKLOUD_TLS_CERT_FILE: '/x.crt', KUBEKLOUD_TLS_KEY_FILE: '/x.key', KUBEKLOUD_TLS_PORT: '8000' })).toThrow(/KUBEKLOUD_TLS_PORT \(8000\) must differ/);
  });

  it('stop the start, naming the variable, when a file is missing or the key does not match the certificate', async () => {
    const base = { HOST: '127.0.0.1', PORT: '0', KUBEKLOUD_TLS_PORT: '0', KUBEKLOUD_METRICS_PORT: '0', KUBEKLOUD_RECONCILER: 'false', KUBEKLOUD_DATA_DIR: join(dir, 'bad'), LOG_LEVEL: 'silent' };
    const missing = await startServer(loadConfig({ ...base, KUBEKLOUD_TLS_CERT_FILE: join(dir, 'nowhere.crt'), KUBEKLOUD_TLS_KEY_FILE: first.key })).catch((e) => e);
    expect(missing).toBeInstanceOf(ConfigError);
    expect(missing.message).toMatch(/KUBEKLOUD_TLS_CERT_FILE=.*nowhere\.crt: cannot be read \(ENOENT\)/);
    const mismatched = await startServer(loadConfig({ ...base, KUBEKLOUD_TLS_CERT_FILE: first.cert, KUBEKLOUD_TLS_KEY_FILE: second.key })).catch((e) => e);
    expect(mismatched).toBeInstanceOf(ConfigError);
    expect(mismatched.message).toMatch(/not a usable certificate and key pair/);
  });
});
