// The console speaks only the public v1 API, with the token the person signed
// in with. The token lives in sessionStorage: gone when the tab closes.

// The shapes of what the API sends and takes are the server's own contract
// (src/contract/schemas.ts), imported as types only: erased at build time, so
// the bundle carries none of the server's code.
import type { Detail, FieldError } from '../../src/contract/schemas.ts';

export type {
  AuditList,
  Cluster,
  ClusterWithInstances,
  CreateCluster,
  CreatedCluster,
  CreatedToken,
  CreatedUser,
  FieldError,
  HistoryEntry,
  HistoryList,
  Image,
  Instance,
  InstanceStatus,
  IsolationReport,
  Message,
  MessageWithWait,
  Quota,
  Quote as QuoteAnswer,
  Role,
  ScaledCluster,
  Schedule,
  ScheduleList,
  ScheduleRun,
  Snapshot,
  Token,
  User,
} from '../../src/contract/schemas.ts';
/** The body of every 4xx/5xx answer. */
export type Problem = Detail;

const KEY = 'kubekloud.token';
export const session = {
  get token(): string | null {
    return sessionStorage.getItem(KEY);
  },
  set(token: string) {
    sessionStorage.setItem(KEY, token);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

/** An answer other than 2xx, with the API's own words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string | FieldError[],
  ) {
    super(typeof detail === 'string' ? detail : detail.map(describeFieldError).join('; '));
  }
  /** Messages by body field name (422 answers). */
  get fields(): Record<string, string> {
    const out: Record<string, string> = {};
    if (typeof this.detail === 'string') return out;
    for (const e of this.detail) {
      const name = fieldName(e);
      if (name) out[name] = out[name] ? `${out[name]}; ${e.msg}` : e.msg;
    }
    return out;
  }
}

function fieldName(e: FieldError): string | null {
  const parts = e.loc.filter((p) => p !== 'body' && p !== 'query' && p !== 'params');
  return typeof parts[0] === 'string' ? parts[0] : null;
}
function describeFieldError(e: FieldError): string {
  const name = fieldName(e);
  return name ? `${name}: ${e.msg}` : e.msg;
}

let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void) {
  onUnauthorized = fn;
}

export async function api<T>(method: string, path: string, body?: unknown, token = session.token): Promise<{ body: T; headers: Headers }> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(0, 'The API could not be reached. Check your connection and try again.');
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!res.ok) {
    const detail = (parsed as Problem | null)?.detail ?? `The API answered ${res.status} ${res.statusText}`.trim();
    if (res.status === 401 && token === session.token) onUnauthorized();
    if (res.status === 429) throw new ApiError(429, `Too many requests; try again in ${res.headers.get('retry-after') ?? 'a few'} seconds.`);
    throw new ApiError(res.status, detail);
  }
  return { body: parsed as T, headers: res.headers };
}

export const get = async <T>(path: string) => (await api<T>('GET', path)).body;
export const post = async <T>(path: string, body: unknown = {}) => (await api<T>('POST', path, body)).body;
export const patch = async <T>(path: string, body: unknown) => (await api<T>('PATCH', path, body)).body;
export const put = async <T>(path: string, body: unknown) => (await api<T>('PUT', path, body)).body;
export const del = async <T>(path: string) => (await api<T>('DELETE', path)).body;

export type StreamEvent = { event: string; data: unknown };

/**
 * Reads a Server-Sent Events stream with fetch: EventSource cannot send the
 * bearer token. Resolves when the stream ends; rejects on an error answer.
 */
export async function readEvents(path: string, signal: AbortSignal, onEvent: (e: StreamEvent) => void): Promise<void> {
  const token = session.token;
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal });
  if (!res.ok || !res.body) {
    const problem = (await res.json().catch(() => null)) as Problem | null;
    if (res.status === 401) onUnauthorized();
    throw new ApiError(res.status, problem?.detail ?? `The event stream answered ${res.status}`);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = val;
        else if (field === 'data') data.push(val);
      }
      if (data.length === 0) continue;
      try {
        onEvent({ event, data: JSON.parse(data.join('\n')) });
      } catch {
        /* not JSON: ignore */
      }
    }
  }
}
