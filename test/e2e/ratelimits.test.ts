// Rate limits that hold across replicas: writes per user and failed
// authentications per client address are drawn from buckets in the database,
// so two server processes behind one load balancer allow the limit once, not twice.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { createTenant, randomLabel, startServer, type ServerProcess } from '../support/server.ts';

let db: TestDatabase;
let a: ServerProcess;
let b: ServerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  const installation = randomLabel();
  const adminToken = `admin-${installation}-0123456789`;
  // Buckets of 6 that refill too slowly to matter during the test.
  const env = { KUBEKLOUD_WRITE_RATE_LIMIT_BURST: '6', KUBEKLOUD_WRITE_RATE_LIMIT_RPS: '0.01', KUBEKLOUD_AUTH_FAILURES_PER_MINUTE: '6' };
  [a, b] = await Promise.all([
    startServer({ databaseUrl: db.url, installation, adminToken, env, keepNamespaces: true }),
    startServer({ databaseUrl: db.url, installation, adminToken, env }),
  ]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await db?.drop();
});

it('allows one user the write burst once across two replicas, then answers 429 with Retry-After on both', async () => {
  const { client } = await createTenant(a.admin, { cpu: 1, memory: 1 });
  const viaB = b.admin.withToken(client.token!);
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let k = 0; k < 12; k++) {
    // An operation on an instance that does not exist: a write that changes nothing.
    const res = await (k % 2 === 0 ? client : viaB).post('/api/v1/instances/987654321/operate', { operation: 'stop' });
    statuses.push(res.status);
    if (res.status === 429) retryAfter ??= res.headers.get('retry-after');
  }
  expect(statuses.slice(0, 6)).toEqual([404, 404, 404, 404, 404, 404]);
  expect(statuses.slice(6)).toEqual([429, 429, 429, 429, 429, 429]);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  // Reads are not writes: still answered.
  expect((await viaB.get('/api/v1/clusters/')).status).toBe(200);
  expect((await client.get('/api/v1/users/me')).status).toBe(200);
});

it('throttles failed authentications from one address across both replicas', async () => {
  const bad = a.admin.withToken('not-a-token-of-anybody-0123456789');
  const badB = b.admin.withToken('not-a-token-of-anybody-0123456789');
  const statuses: number[] = [];
  for (let k = 0; k < 10; k++) statuses.push((await (k % 2 === 0 ? bad : badB).get('/api/v1/users/me')).status);
  expect(statuses.slice(0, 6)).toEqual([401, 401, 401, 401, 401, 401]);
  expect(statuses.slice(6)).toEqual([429, 429, 429, 429]);
});
