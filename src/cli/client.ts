// A typed client for the v1 API, sharing its schema types with the server.
// Every route the CLI calls is in ROUTES; a test checks each one against the
// server's /openapi.json, so the client cannot drift from the contract.
import { randomUUID } from 'node:crypto';
// The request and response types are the server's contract, imported as types
// only (erased at run time: the CLI carries no server code).
import type {
  AuditList,
  HistoryList,
  Cluster,
  ClusterWithInstances,
  CreateCluster,
  CreatedCluster,
  CreatedToken,
  CreatedUser,
  CreateToken,
  CreateUser,
  CreateImage,
  FieldError,
  Image,
  Instance,
  Message,
  MessageWithWait,
  Operate,
  Operation,
  PatchCluster,
  PatchImage,
  PatchUser,
  Quota,
  ScaleCluster,
  ScaledCluster,
  KeptDiskList,
  IsolationReport,
  CreateSchedule,
  Schedule,
  ScheduleList,
  SetExpiry,
  Quote,
  Snapshot,
  SnapshotList,
  CreatedSnapshot,
  CreateSnapshot,
  Token,
  User,
} from '../contract/schemas.ts';

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
  listUserTokens: ['GET', '/api/v1/users/{id}/tokens'],
  revokeUserToken: ['DELETE', '/api/v1/users/{id}/tokens/{token_id}'],
  listClusters: ['GET', '/api/v1/clusters'],
  createCluster: ['POST', '/api/v1/clusters'],
  getCluster: ['GET', '/api/v1/clusters/{id}'],
  scaleCluster: ['PATCH', '/api/v1/clusters/{id}'],
  deleteCluster: ['DELETE', '/api/v1/clusters/{id}'],
  suspendCluster: ['POST', '/api/v1/clusters/{id}/suspend'],
  resumeCluster: ['POST', '/api/v1/clusters/{id}/resume'],
  getInstance: ['GET', '/api/v1/instances/{id}'],
  operateInstance: ['POST', '/api/v1/instances/{id}/operate'],
  instanceConsole: ['GET', '/api/v1/instances/{id}/console'],
  listImages: ['GET', '/api/v1/images'],
  getImage: ['GET', '/api/v1/images/{name}'],
  createImage: ['POST', '/api/v1/images'],
  patchImage: ['PATCH', '/api/v1/images/{name}'],
  retireImage: ['POST', '/api/v1/images/{name}/retire'],
  listKeptDisks: ['GET', '/api/v1/clusters/{id}/disks'],
  clusterHistory: ['GET', '/api/v1/clusters/{id}/history'],
  listAudit: ['GET', '/api/v1/audit'],
  myAudit: ['GET', '/api/v1/users/me/audit'],
  deleteKeptDisk: ['DELETE', '/api/v1/clusters/{id}/disks/{disk_id}'],
  setExpiry: ['PUT', '/api/v1/clusters/{id}/expiry'],
  listSchedules: ['GET', '/api/v1/clusters/{id}/schedules'],
  addSchedule: ['POST', '/api/v1/clusters/{id}/schedules'],
  deleteSchedule: ['DELETE', '/api/v1/clusters/{id}/schedules/{schedule_id}'],
  listSnapshots: ['GET', '/api/v1/instances/{id}/snapshots'],
  createSnapshot: ['POST', '/api/v1/instances/{id}/snapshots'],
  getSnapshot: ['GET', '/api/v1/instances/{id}/snapshots/{snapshot_id}'],
  deleteSnapshot: ['DELETE', '/api/v1/instances/{id}/snapshots/{snapshot_id}'],
  restoreSnapshot: ['POST', '/api/v1/instances/{id}/snapshots/{snapshot_id}/restore'],
  clusterIsolation: ['GET', '/api/v1/clusters/{id}/isolation'],
  fleetIsolation: ['GET', '/api/v1/isolation'],
} as const satisfies Record<string, readonly [string, string]>;
export type RouteName = keyof typeof ROUTES;

/** The API answered with an error status (its body's `detail` explains). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string | FieldError[],
    /** A 429's Retry-After: seconds until trying again may succeed. */
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(typeof detail === 'string' ? detail : detail.map((d) => `${d.loc.join('.')}: ${d.msg}`).join('\n'));
  }
  /** One line per problem: the detail sentence, or `loc: msg` for each bad field; then when to try again, if the server said. */
  lines(): string[] {
    const lines = typeof this.detail === 'string' ? [this.detail] : this.detail.map((d) => `${d.loc.join('.')}: ${d.msg}`);
    return this.retryAfterSeconds === null ? lines : [...lines, `try again in ${this.retryAfterSeconds} s`];
  }
}

/** Retry-After in seconds (the API sends whole seconds), or null. */
function retryAfter(headers: Headers): number | null {
  const raw = headers.get('retry-after');
  return raw !== null && /^\d+$/.test(raw.trim()) ? Number(raw) : null;
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

  async call<T>(
    route: RouteName,
    o: { id?: number; snapshotId?: number; diskId?: number; tokenId?: number; scheduleId?: number; name?: string; query?: Record<string, string | number | undefined>; body?: unknown } = {},
  ): Promise<{ body: T; headers: Headers }> {
    const [method, template] = ROUTES[route];
    let path: string = template;
    if (path.includes('{id}')) path = path.replace('{id}', String(o.id));
    if (path.includes('{snapshot_id}')) path = path.replace('{snapshot_id}', String(o.snapshotId));
    if (path.includes('{disk_id}')) path = path.replace('{disk_id}', String(o.diskId));
    if (path.includes('{token_id}')) path = path.replace('{token_id}', String(o.tokenId));
    if (path.includes('{schedule_id}')) path = path.replace('{schedule_id}', String(o.scheduleId));
    if (path.includes('{name}')) path = path.replace('{name}', encodeURIComponent(o.name ?? ''));
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
      throw new ApiError(
        res.status,
        typeof detail === 'string' || Array.isArray(detail) ? (detail as string | FieldError[]) : `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
        res.status === 429 ? retryAfter(res.headers) : null,
      );
    }
    return { body: body as T, headers: res.headers };
  }

  private async get<T>(route: RouteName, id?: number, query?: Record<string, string | number | undefined>) {
    return (await this.call<T>(route, { id, query })).body;
  }

  me() {
    return this.get<User>('me');
  }
  quota() {
    return this.get<Quota>('quota');
  }
  listUsers(p: Page = {}) {
    return this.get<User[]>('listUsers', undefined, { ...p });
  }
  async createUser(body: CreateUser) {
    return (await this.call<CreatedUser>('createUser', { body })).body;
  }
  async patchUser(id: number, body: PatchUser) {
    return (await this.call<User>('patchUser', { id, body })).body;
  }
  async deleteUser(id: number) {
    return (await this.call<Message>('deleteUser', { id })).body;
  }
  listTokens() {
    return this.get<Token[]>('listTokens');
  }
  async createToken(body: CreateToken) {
    return (await this.call<CreatedToken>('createToken', { body })).body;
  }
  async revokeToken(id: number) {
    return (await this.call<Message>('revokeToken', { id })).body;
  }
  listUserTokens(userId: number) {
    return this.get<Token[]>('listUserTokens', userId);
  }
  async revokeUserToken(userId: number, tokenId: number) {
    return (await this.call<Message>('revokeUserToken', { id: userId, tokenId })).body;
  }
  /** `includeDeleting`: also the clusters whose teardown is under way (the API leaves them out by default, as the Python service did). */
  async listClusters(p: Page & { includeDeleting?: boolean } = {}) {
    const { includeDeleting, ...page } = p;
    const { body, headers } = await this.call<Cluster[]>('listClusters', { query: { ...page, include_deleting: includeDeleting ? 'true' : undefined } });
    return { items: body, total: Number(headers.get('x-total-count') ?? body.length) };
  }
  clusterIsolation(id: number) {
    return this.get<IsolationReport>('clusterIsolation', id);
  }
  /** Admins: every cluster's failing isolation checks, failing first. */
  async fleetIsolation(p: Page = {}) {
    const { body, headers } = await this.call<IsolationReport[]>('fleetIsolation', { query: { ...p } });
    return { items: body, total: Number(headers.get('x-total-count') ?? body.length) };
  }
  /** The CLI follows a cluster through its teardown (status deleting) until it is gone (404). */
  getCluster(id: number) {
    return this.get<ClusterWithInstances>('getCluster', id, { include_deleting: 'true' });
  }
  /** ?dry_run=true: what the request would do, changing nothing. */
  async quoteCreateCluster(body: CreateCluster) {
    return (await this.call<Quote>('createCluster', { body, query: { dry_run: 'true' } })).body;
  }
  async quoteScaleCluster(id: number, body: ScaleCluster & { keep_disks?: boolean }) {
    return (await this.call<Quote>('scaleCluster', { id, body, query: { dry_run: 'true' } })).body;
  }
  async quoteUpdateCluster(id: number, body: PatchCluster) {
    return (await this.call<Quote>('scaleCluster', { id, body, query: { dry_run: 'true' } })).body;
  }
  async quoteOperation(id: number, operation: Operation) {
    return (await this.call<Quote>('operateInstance', { id, body: { operation } as Operate, query: { dry_run: 'true' } })).body;
  }
  async createCluster(body: CreateCluster, wait?: number) {
    return (await this.call<CreatedCluster>('createCluster', { body, query: { wait } })).body;
  }
  async scaleCluster(id: number, body: ScaleCluster & { keep_disks?: boolean }, wait?: number) {
    return (await this.call<ScaledCluster>('scaleCluster', { id, body, query: { wait } })).body;
  }
  /** A live change of the spec (the same PATCH as a scale), rolled one instance at a time. */
  async updateCluster(id: number, body: PatchCluster) {
    return (await this.call<ScaledCluster>('scaleCluster', { id, body })).body;
  }
  async deleteCluster(id: number, wait?: number) {
    return (await this.call<MessageWithWait>('deleteCluster', { id, query: { wait } })).body;
  }
  async suspendCluster(id: number, wait?: number) {
    return (await this.call<MessageWithWait>('suspendCluster', { id, query: { wait } })).body;
  }
  async resumeCluster(id: number, wait?: number) {
    return (await this.call<MessageWithWait>('resumeCluster', { id, query: { wait } })).body;
  }
  async listImages(includeRetired = false) {
    return (await this.call<Image[]>('listImages', { query: { include_retired: includeRetired ? 'true' : undefined } })).body;
  }
  async getImage(name: string) {
    return (await this.call<Image>('getImage', { name })).body;
  }
  async createImage(body: CreateImage) {
    return (await this.call<Image>('createImage', { body })).body;
  }
  async patchImage(name: string, body: PatchImage) {
    return (await this.call<Image>('patchImage', { name, body })).body;
  }
  async retireImage(name: string) {
    return (await this.call<Image>('retireImage', { name })).body;
  }
  getInstance(id: number) {
    return this.get<Instance>('getInstance', id);
  }
  async operateInstance(id: number, operation: Operation, wait?: number) {
    return (await this.call<MessageWithWait>('operateInstance', { id, body: { operation } as Operate, query: { wait } })).body;
  }
  async clusterHistory(clusterId: number, q: { kind?: string; since?: string; limit?: number; offset?: number } = {}) {
    return (await this.call<HistoryList>('clusterHistory', { id: clusterId, query: q })).body;
  }
  /** `mine`: the caller's own entries (any user); else everyone's (admin). */
  async audit(q: { user?: string; action?: string; resource?: string; outcome?: string; since?: string; until?: string; limit?: number; offset?: number }, mine: boolean) {
    return (await this.call<AuditList>(mine ? 'myAudit' : 'listAudit', { query: q })).body;
  }
  async listKeptDisks(clusterId: number) {
    return (await this.call<KeptDiskList>('listKeptDisks', { id: clusterId })).body.items;
  }
  async deleteKeptDisk(clusterId: number, diskId: number) {
    return (await this.call<Message>('deleteKeptDisk', { id: clusterId, diskId })).body;
  }
  async setExpiry(clusterId: number, body: SetExpiry) {
    return (await this.call<ClusterWithInstances>('setExpiry', { id: clusterId, body })).body;
  }
  async listSchedules(clusterId: number) {
    return (await this.call<ScheduleList>('listSchedules', { id: clusterId })).body;
  }
  async addSchedule(clusterId: number, body: CreateSchedule) {
    return (await this.call<Schedule>('addSchedule', { id: clusterId, body })).body;
  }
  async deleteSchedule(clusterId: number, scheduleId: number) {
    return (await this.call<Message>('deleteSchedule', { id: clusterId, scheduleId })).body;
  }
  async listSnapshots(instanceId: number) {
    return (await this.call<SnapshotList>('listSnapshots', { id: instanceId })).body.items;
  }
  async createSnapshot(instanceId: number, body: CreateSnapshot, wait?: number) {
    return (await this.call<CreatedSnapshot>('createSnapshot', { id: instanceId, body, query: { wait } })).body;
  }
  async getSnapshot(instanceId: number, snapshotId: number) {
    return (await this.call<Snapshot>('getSnapshot', { id: instanceId, snapshotId })).body;
  }
  async deleteSnapshot(instanceId: number, snapshotId: number) {
    return (await this.call<Message>('deleteSnapshot', { id: instanceId, snapshotId })).body;
  }
  async restoreSnapshot(instanceId: number, snapshotId: number, wait?: number) {
    return (await this.call<MessageWithWait>('restoreSnapshot', { id: instanceId, snapshotId, query: { wait } })).body;
  }
}
