// Raw requests to the API server. Everything goes as plain HTTP with JSON as the
// API server speaks it: the typed client would first pass our objects through
// its model serializer, which silently drops fields whose model name differs
// from the wire name (a NetworkPolicy's `from` became an empty rule: allow-all),
// and would hand back models rather than the objects we compare with what we
// render.
import * as http from 'node:http';
import * as https from 'node:https';
import type { ClusterAccess } from './config.ts';
import type { KubeObject } from '../domain/render.ts';

export const DEFAULT_TIMEOUT_MS = 30_000;

type Ref = Pick<KubeObject, 'apiVersion' | 'kind'> & { metadata: { name: string; namespace?: string } };

/** The REST path of a kind's collection: /api/v1/namespaces/ns/services, /apis/apps/v1/statefulsets (all namespaces), … */
export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  const plural = kind.toLowerCase().replace(/y$/, 'ie') + 's';
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${plural}`;
}

/** The REST path of a named object: /api/v1/namespaces/ns/services/name, /apis/apps/v1/…, cluster-scoped Namespaces. */
export function objectPath(obj: Ref): string {
  return `${collectionPath(obj.apiVersion, obj.kind, obj.metadata.namespace)}/${encodeURIComponent(obj.metadata.name)}`;
}

export type RawError = { code: number; body: string };
export type RequestOptions = { timeoutMs?: number };

/** Server-side apply, forced; returns the object as it is afterwards. */
export async function serverSideApply(kc: ClusterAccess, obj: KubeObject, fieldManager: string, o: RequestOptions = {}): Promise<unknown> {
  const text = await rawRequest(kc, 'PATCH', objectPath(obj), {
    query: { fieldManager, force: 'true' },
    contentType: 'application/apply-patch+yaml',
    body: JSON.stringify(obj),
    timeoutMs: o.timeoutMs,
  });
  return JSON.parse(text);
}

export async function getObject(kc: ClusterAccess, ref: Ref, o: RequestOptions = {}): Promise<unknown> {
  return JSON.parse(await rawRequest(kc, 'GET', objectPath(ref), { timeoutMs: o.timeoutMs }));
}

/** Deletes; with `uid`, only that very object (not one recreated under its name since). */
export async function deleteObject(kc: ClusterAccess, ref: Ref, propagationPolicy: 'Background' | 'Foreground' | 'Orphan', o: RequestOptions & { uid?: string } = {}): Promise<void> {
  await rawRequest(kc, 'DELETE', objectPath(ref), {
    contentType: 'application/json',
    body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy, ...(o.uid ? { preconditions: { uid: o.uid } } : {}) }),
    timeoutMs: o.timeoutMs,
  });
}

/** A JSON patch (RFC 6902); a failed `test` operation rejects it whole. */
export async function jsonPatch(kc: ClusterAccess, ref: Ref, ops: unknown[], o: RequestOptions = {}): Promise<unknown> {
  return JSON.parse(await rawRequest(kc, 'PATCH', objectPath(ref), { contentType: 'application/json-patch+json', body: JSON.stringify(ops), timeoutMs: o.timeoutMs }));
}

export type ListPage = { items: unknown[]; resourceVersion: string; continue: string | null };

/** One page of a list across all namespaces (or in `namespace`); `cont` continues the same snapshot. */
export async function listPage(
  kc: ClusterAccess,
  apiVersion: string,
  kind: string,
  q: { labelSelector: string; limit: number; cont?: string | null; namespace?: string },
): Promise<ListPage> {
  const query: Record<string, string> = { limit: String(q.limit) };
  if (q.labelSelector) query.labelSelector = q.labelSelector;
  if (q.cont) query.continue = q.cont;
  const body = JSON.parse(await rawRequest(kc, 'GET', collectionPath(apiVersion, kind, q.namespace), { query })) as {
    items?: unknown[];
    metadata?: { resourceVersion?: string; continue?: string };
  };
  return { items: body.items ?? [], resourceVersion: body.metadata?.resourceVersion ?? '', continue: body.metadata?.continue || null };
}

/** The API server's version (GET /version): that it answers, and who it says it is. */
export async function serverVersion(kc: ClusterAccess, o: RequestOptions = {}): Promise<{ gitVersion?: string }> {
  return JSON.parse(await rawRequest(kc, 'GET', '/version', { timeoutMs: o.timeoutMs })) as { gitVersion?: string };
}

/** Whether the API server says it is ready to serve (its storage included): GET /readyz. */
export async function apiServerReady(kc: ClusterAccess): Promise<void> {
  await rawRequest(kc, 'GET', '/readyz', { timeoutMs: 5_000 });
}

/** The keep-alive twin of each TLS agent the kubeconfig hands out (it keeps one per cluster and user). */
const keptAlive = new WeakMap<https.Agent, https.Agent>();

/**
 * The kubeconfig's agent (one per cluster and user) is a plain https.Agent
 * without keep-alive: every request would open a connection, build a TLS
 * context from the CA and certificates and shake hands, on our side and the
 * API server's. Requests go through a keep-alive agent with the same TLS
 * settings instead. Proxy agents are used as they are.
 */
function keepingAlive(agent: https.RequestOptions['agent']): https.RequestOptions['agent'] {
  if (!(agent instanceof https.Agent) || agent.constructor !== https.Agent || agent.options.keepAlive) return agent;
  let twin = keptAlive.get(agent);
  if (!twin) {
    twin = new https.Agent({ ...agent.options, keepAlive: true });
    keptAlive.set(agent, twin);
  }
  return twin;
}

/**
 * What a request to the current cluster needs from the kubeconfig: an agent with
 * its TLS settings (CA, client certificate, proxy) and the authentication headers
 * (bearer token, exec or auth-provider plugin, basic auth), lower-cased.
 */
export async function requestCredentials(kc: ClusterAccess): Promise<{ agent: http.Agent | undefined; headers: Record<string, string | string[]> }> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  opts.agent = keepingAlive(opts.agent);
  const headers: Record<string, string | string[]> = {};
  // A header given several values (Impersonate-Group) goes as that many lines: the API server reads each as one value.
  for (const [key, value] of Object.entries(opts.headers ?? {})) {
    if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.map(String) : String(value);
  }
  if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
  return { agent: opts.agent instanceof http.Agent ? opts.agent : undefined, headers };
}

/** The URL of `path` on the current cluster, with `query` set. */
function apiUrl(kc: ClusterAccess, path: string, query: Record<string, string | boolean>): URL {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(`${cluster.server.replace(/\/$/, '')}${path}`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v));
  return url;
}

/** One request to the API server with the kubeconfig's credentials; rejects with { code, body } on a non-2xx answer. */
async function rawRequest(
  kc: ClusterAccess,
  method: string,
  path: string,
  o: { query?: Record<string, string>; contentType?: string; body?: string; timeoutMs?: number } = {},
): Promise<string> {
  const url = apiUrl(kc, path, o.query ?? {});
  const credentials = await requestCredentials(kc);
  const headers: Record<string, string | string[]> = { accept: 'application/json', ...(o.contentType ? { 'content-type': o.contentType } : {}), ...credentials.headers };
  // Node sends the body of a DELETE without chunked encoding: without its length the API server reads no
  // body, and the DeleteOptions (propagation policy, uid precondition) would be silently dropped.
  if (o.body !== undefined) headers['content-length'] = String(Buffer.byteLength(o.body));
  const timeout = Math.max(1, Math.round(o.timeoutMs ?? DEFAULT_TIMEOUT_MS));
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<string>((resolveOk, rejectErr) => {
    // A whole-request deadline, not only an idle-socket timeout: a reconcile must end before its claim does.
    let deadline: NodeJS.Timeout | undefined;
    const resolve = (v: string) => (clearTimeout(deadline), resolveOk(v));
    const reject = (e: unknown) => (clearTimeout(deadline), rejectErr(e));
    const req = transport.request(url, { method, agent: credentials.agent, headers, timeout }, (res) => {
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
    deadline = setTimeout(() => req.destroy(new Error(`no answer within ${timeout} ms`)), timeout);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout} ms`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** An object as a watch event carries it. */
export type WatchedObject = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string } } & Record<
  string,
  unknown
>;

/** A watch that ended because nothing came for its idle time: `name` is 'TimeoutError', as the platform's own timeouts. */
export class WatchIdle extends Error {
  override name = 'TimeoutError';
}

/**
 * A watch of `path` (`watch=true` and `params` added): each event's type and
 * object to `onEvent` as its line arrives, and `onDone` once when it ends: null
 * when the API server closed it, else why (an answer other than 200 carries its
 * `statusCode`; WatchIdle when nothing, not even a bookmark, came for `idleMs`,
 * from the request on). Resolves once the request is sent; abort the returned
 * controller to end it.
 */
export async function watchRequest(
  kc: ClusterAccess,
  path: string,
  params: Record<string, string | boolean>,
  onEvent: (type: string, obj: WatchedObject) => void,
  onDone: (err: unknown) => void,
  idleMs: number,
): Promise<AbortController> {
  const url = apiUrl(kc, path, { watch: 'true', ...params });
  const credentials = await requestCredentials(kc);
  const controller = new AbortController();
  const transport = url.protocol === 'https:' ? https : http;
  let ended = false;
  let idle: NodeJS.Timeout | undefined;
  const end = (err: unknown) => {
    if (ended) return;
    ended = true;
    clearTimeout(idle);
    req.destroy();
    onDone(err);
  };
  const stillAlive = () => {
    clearTimeout(idle);
    idle = setTimeout(() => end(new WatchIdle(`the watch sent nothing for ${idleMs} ms`)), idleMs);
    idle.unref();
  };
  const req = transport.request(url, { method: 'GET', agent: credentials.agent, headers: { accept: 'application/json', ...credentials.headers } }, (res) => {
    res.setEncoding('utf8');
    if (res.statusCode !== 200) {
      let body = '';
      res.on('data', (c: string) => (body = (body + c).slice(0, 4096)));
      res.on('end', () => {
        let message = http.STATUS_CODES[res.statusCode ?? 0] ?? `HTTP ${res.statusCode}`;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? message;
        } catch {
          /* not a Status object */
        }
        end(Object.assign(new Error(message), { statusCode: res.statusCode }));
      });
      return;
    }
    stillAlive();
    // One event a line; a line can span chunks, and a chunk hold many lines.
    let rest = '';
    res.on('data', (chunk: string) => {
      stillAlive();
      let text = rest + chunk;
      let at: number;
      while (!ended && (at = text.indexOf('\n')) >= 0) {
        const line = text.slice(0, at);
        text = text.slice(at + 1);
        if (line.trim() === '') continue;
        let event: { type: string; object: WatchedObject };
        try {
          event = JSON.parse(line) as typeof event;
        } catch {
          continue; // not an event: skipped, as the Kubernetes client skips it
        }
        onEvent(event.type, event.object);
      }
      rest = text;
    });
    res.on('end', () => end(null));
    res.on('error', end);
    res.on('close', () => end(null));
  });
  req.on('error', end);
  controller.signal.addEventListener('abort', () => end(Object.assign(new Error('the watch was stopped'), { name: 'AbortError' })), { once: true });
  stillAlive();
  req.end();
  return controller;
}
