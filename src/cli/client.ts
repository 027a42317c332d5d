// A typed client for the v1 API, sharing its schema types with the server.
// Every route the CLI calls is in ROUTES; a test checks each one against the
// server's /openapi.json, so the client cannot drift from the contract.
import { randomUUID } from 'node:crypto';
import type { Static } from 'typebox';
import type {
  Cluster,
  CreateCluster,
  CreateToken,
  CreateUser,
  Instance,
  Message,
  Operate,
  PatchUser,
  Quota,
  ScaleCluster,
  Token,
  User,
} from '../http/schemas.ts';

export type UserT = Static<typeof User>;
export type CreatedUserT = UserT & { token: string };
export type CreateUserT = Static<typeof CreateUser>;
export type PatchUserT = Static<typeof PatchUser>;
export type QuotaT = Static<typeof Quota>;
export type TokenT = Static<typeof Token>;
export type CreatedTokenT = TokenT & { token: string };
export type CreateTokenT = Static<typeof CreateToken>;
export type InstanceT = Static<typeof Instance>;
export type ClusterT = Static<typeof Cluster>;
export type ClusterWithInstancesT = ClusterT & { instances: InstanceT[] };
export type CreateClusterT = Static<typeof CreateCluster>;
export type ScaleClusterT = Static<typeof ScaleCluster>;
export type OperateT = Static<typeof Operate>;
/** The operations of Operate (its literals, spelled out: the schema is built from a list). */
export type Operation = 'start' | 'stop' | 'suspend' | 'resume' | 'restart';
export type MessageT = Static<typeof Message>;
export type Waited = { converged: boolean; waited_seconds: number; failed?: boolean };
export type WithWait<T> = T & { wait?: Waited };

/** Method and OpenAPI path of every route the CLI calls. */
export const ROUTES = {
  me: ['GET', '/api/v1/users/me'],
  quota: ['GET', '/api/v1/users/me/quota'],
  listUsers: ['GET', '/api/v1/users'],
  createUser: ['POST', '/api/v1/users'],
  patchUser: ['PATCH', '/api/v1/users/{id}'],
  deleteUser: ['DELETE', '/api/v1/users/{id}'],
  listTokens: ['GET', '/api/v1/users/me/tokens'],
  createToken: ['POST', '/api/v1/users/me/tokens'],
  revokeToken: ['DELETE', '/api/v1/users/me/tokens/{id}'],
  listClusters: ['GET', '/api/v1/clusters'],
  createCluster: ['POST', '/api/v1/clusters'],
  getCluster: ['GET', '/api/v1/clusters/{id}'],
  scaleCluster: ['PATCH', '/api/v1/clusters/{id}'],
  deleteCluster: ['DELETE', '/api/v1/clusters/{id}'],
  suspendCluster: ['POST', '/api/v1/clusters/{id}/suspend'],
  resumeCluster: ['POST', '/api/v1/clusters/{id}/resume'],
  getInstance: ['GET', '/api/v1/instances/{id}'],
  operateInstance: ['POST', '/api/v1/instances/{id}/operate'],
} as const satisfies Record<string, readonly [string, string]>;
export type RouteName = keyof typeof ROUTES;

export type ValidationItem = { loc: (string | number)[]; msg: string; type: string };

/** The API answered with an error status (its body's `detail` explains). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string | ValidationItem[],
  ) {
    super(typeof detail === 'string' ? detail : detail.map((d) => `${d.loc.join('.')}: ${d.msg}`).join('\n'));
  }
  /** One line per problem: the detail sentence, or `loc: msg` for each bad field. */
  lines(): string[] {
    return typeof this.detail === 'string' ? [this.detail] : this.detail.map((d) => `${d.loc.join('.')}: ${d.msg}`);
  }
}

/** The server could not be reached (after one retry). */
export class NetworkError extends Error {}

export type Page = { limit?: number; offset?: number };

export class KubeKloudClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string,
    private readonly timeoutMs = 700_000,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  async call<T>(route: RouteName, o: { id?: number; query?: Record<string, string | number | undefined>; body?: unknown } = {}): Promise<{ body: T; headers: Headers }> {
    const [method, template] = ROUTES[route];
    let path: string = template;
    if (path.includes('{id}')) path = path.replace('{id}', String(o.id));
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const url = `${this.baseUrl}${path}${qs.size ? `?${qs}` : ''}`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    // One key per invocation: a retry after a network error is answered from
    // the server's record of the first attempt instead of acting twice.
    if (method !== 'GET') headers['idempotency-key'] = randomUUID();
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const init = { method, headers, body: o.body !== undefined ? JSON.stringify(o.body) : undefined };
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch {
      try {
        await new Promise((r) => setTimeout(r, 500));
        res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (e) {
        throw new NetworkError(`cannot reach ${this.baseUrl}: ${(e as Error).cause ? String(((e as Error).cause as Error).message ?? (e as Error).cause) : (e as Error).message}`);
      }
    }
    const text = await res.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    if (!res.ok) {
      const detail = (body as { detail?: unknown } | null)?.detail;
      throw new ApiError(res.status, typeof detail === 'string' || Array.isArray(detail) ? (detail as string | ValidationItem[]) : `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
    }
    return { body: body as T, headers: res.headers };
  }

  private async get<T>(route: RouteName, id?: number, query?: Record<string, string | number | undefined>) {
    return (await this.call<T>(route, { id, query })).body;
  }

  me() {
    return this.get<UserT>('me');
  }
  quota() {
    return this.get<QuotaT>('quota');
  }
  listUsers(p: Page = {}) {
    return this.get<UserT[]>('listUsers', undefined, { ...p });
  }
  async createUser(body: CreateUserT) {
    return (await this.call<CreatedUserT>('createUser', { body })).body;
  }
  async patchUser(id: number, body: PatchUserT) {
    return (await this.call<UserT>('patchUser', { id, body })).body;
  }
  async deleteUser(id: number) {
    return (await this.call<MessageT>('deleteUser', { id })).body;
  }
  listTokens() {
    return this.get<TokenT[]>('listTokens');
  }
  async createToken(body: CreateTokenT) {
    return (await this.call<CreatedTokenT>('createToken', { body })).body;
  }
  async revokeToken(id: number) {
    return (await this.call<MessageT>('revokeToken', { id })).body;
  }
  async listClusters(p: Page = {}) {
    const { body, headers } = await this.call<ClusterT[]>('listClusters', { query: { ...p } });
    return { items: body, total: Number(headers.get('x-total-count') ?? body.length) };
  }
  getCluster(id: number) {
    return this.get<ClusterWithInstancesT>('getCluster', id);
  }
  async createCluster(body: CreateClusterT, wait?: number) {
    return (await this.call<WithWait<ClusterWithInstancesT>>('createCluster', { body, query: { wait } })).body;
  }
  async scaleCluster(id: number, body: ScaleClusterT, wait?: number) {
    return (await this.call<WithWait<ClusterWithInstancesT & { detail: Record<string, number> }>>('scaleCluster', { id, body, query: { wait } })).body;
  }
  async deleteCluster(id: number, wait?: number) {
    return (await this.call<WithWait<MessageT>>('deleteCluster', { id, query: { wait } })).body;
  }
  async suspendCluster(id: number, wait?: number) {
    return (await this.call<WithWait<MessageT>>('suspendCluster', { id, query: { wait } })).body;
  }
  async resumeCluster(id: number, wait?: number) {
    return (await this.call<WithWait<MessageT>>('resumeCluster', { id, query: { wait } })).body;
  }
  getInstance(id: number) {
    return this.get<InstanceT>('getInstance', id);
  }
  async operateInstance(id: number, operation: Operation, wait?: number) {
    return (await this.call<WithWait<MessageT>>('operateInstance', { id, body: { operation } as OperateT, query: { wait } })).body;
  }
}
