// Minimal HTTP(S) client for the harness: readiness probes and the few API calls
// needed to bootstrap the plane (CRDs, nodes). Node built-ins only.
import http from 'node:http';
import https from 'node:https';

export interface Reply {
  status: number;
  body: string;
  json<T = any>(): T;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  contentType?: string;
  token?: string;
  ca?: Buffer | string;
  insecure?: boolean;
  timeoutMs?: number;
}

export function request(url: string, opts: RequestOptions = {}): Promise<Reply> {
  const u = new URL(url);
  const payload = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (payload !== undefined) {
    headers['Content-Type'] = opts.contentType ?? 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(payload));
  }
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: opts.method ?? 'GET',
        headers,
        ca: opts.ca,
        rejectUnauthorized: !opts.insecure,
        timeout: opts.timeoutMs ?? 5000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 5000} ms: ${url}`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** GET url and report whether it answered 200 (any error counts as not ready). */
export async function probe(url: string, opts: RequestOptions = {}): Promise<boolean> {
  try {
    const r = await request(url, { timeoutMs: 2000, ...opts });
    return r.status === 200;
  } catch {
    return false;
  }
}
