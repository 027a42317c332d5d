// What the Python service's answers held (its app/schemas.py and app/models.py),
// for the contract tests: each answer is checked to carry every field a client
// of that service reads, with the type it had. Extra fields are allowed: they
// are KubeKloud's additions, and a Python client ignores them.
import { expect } from 'vitest';

export const PYTHON_STATUSES = ['running', 'stopped', 'suspended', 'pending', 'failed'];

type Kind = 'int' | 'number' | 'string' | 'datetime' | 'status' | 'instance_type' | 'string?';
const USER: Record<string, Kind> = { id: 'int', username: 'string', quota_cpu: 'number', quota_memory: 'number', used_cpu: 'number', used_memory: 'number', created_at: 'datetime' };
const QUOTA: Record<string, Kind> = { total_cpu: 'number', total_memory: 'number', used_cpu: 'number', used_memory: 'number', available_cpu: 'number', available_memory: 'number' };
const CLUSTER: Record<string, Kind> = {
  id: 'int',
  name: 'string',
  namespace: 'string',
  instance_type: 'instance_type',
  cpu_per_instance: 'number',
  memory_per_instance: 'number',
  instance_count: 'int',
  owner_id: 'int',
  created_at: 'datetime',
};
const INSTANCE: Record<string, Kind> = {
  id: 'int',
  cluster_id: 'int',
  instance_name: 'string',
  status: 'status',
  k8s_resource_name: 'string?',
  created_at: 'datetime',
  updated_at: 'datetime',
};

function holds(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'int':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'string':
      return typeof value === 'string';
    case 'string?':
      return value === null || typeof value === 'string';
    case 'datetime':
      return typeof value === 'string' && !Number.isNaN(Date.parse(value));
    case 'status':
      return PYTHON_STATUSES.includes(value as string);
    case 'instance_type':
      return value === 'vm' || value === 'container';
  }
}

function shaped(what: string, body: unknown, fields: Record<string, Kind>) {
  expect(body, `${what}: an object`).toBeTypeOf('object');
  const wrong = Object.entries(fields)
    .filter(([k, kind]) => !holds((body as Record<string, unknown>)[k], kind))
    .map(([k, kind]) => `${k}: expected ${kind}, got ${JSON.stringify((body as Record<string, unknown>)[k])}`);
  expect(wrong, `${what}: the Python service's fields`).toEqual([]);
}

export const expectUser = (body: unknown) => shaped('UserResponse', body, USER);
export const expectQuota = (body: unknown) => shaped('QuotaResponse', body, QUOTA);
export const expectCluster = (body: unknown) => shaped('ClusterResponse', body, CLUSTER);
export const expectInstance = (body: unknown) => shaped('InstanceResponse', body, INSTANCE);
export function expectClusterDetail(body: unknown) {
  expectCluster(body);
  const instances = (body as { instances: unknown[] }).instances;
  expect(Array.isArray(instances), 'ClusterDetail: instances is a list').toBe(true);
  instances.forEach(expectInstance);
}
/** MessageResponse: {message: str, detail: dict | None}. */
export function expectMessage(body: unknown, detail: Record<string, unknown>) {
  expect(body).toMatchObject({ message: expect.any(String), detail });
}
/** FastAPI's HTTPException body: {"detail": "<text>"}. */
export function expectDetail(body: unknown, text: string | RegExp) {
  const d = (body as { detail: unknown }).detail;
  expect(typeof d).toBe('string');
  if (typeof text === 'string') expect(d).toBe(text);
  else expect(d).toMatch(text);
}

/** One request the way curl sends it from the documents: only the headers written there, the body as written. */
export async function curl(base: string, method: string, path: string, o: { token?: string; json?: string } = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}), ...(o.json !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: o.json,
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}
