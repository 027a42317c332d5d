// Property-based fuzzing of every request schema: no input produces a 5xx,
// and a rejected request changes nothing.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
let tenant: { id: number; token: string };
let ids: { cluster: number; instance: number };

beforeAll(async () => {
  t = await buildTestApp({ KUBEKLOUD_RATE_LIMIT_RPS: '100000', KUBEKLOUD_RATE_LIMIT_BURST: '100000', KUBEKLOUD_WRITE_RATE_LIMIT_RPS: '100000', KUBEKLOUD_WRITE_RATE_LIMIT_BURST: '100000' });
  tenant = await t.tenant({ cpu: 1000, memory: 1000, instances: 1000 });
  const c = await t.call('POST', '/api/v1/clusters/', tenant.token, { name: 'fuzz', instance_type: 'container', cpu_per_instance: 1, memory_per_instance: 1, instance_count: 1 });
  ids = { cluster: c.body.id, instance: c.body.instances[0].id };
});
afterAll(() => t.close());

const snapshot = async () =>
  JSON.stringify([
    await t.db.query('SELECT id, name, state, instance_count FROM clusters ORDER BY id'),
    await t.db.query('SELECT id, desired, status FROM instances ORDER BY id'),
    await t.db.query('SELECT id, username, role, quota_cpu_milli, used_cpu_milli FROM users ORDER BY id'),
    await t.db.query('SELECT id, revoked_at FROM tokens ORDER BY id'),
  ]);

// Values near the schema (right field names, odd values) and far from it (anything).
const fieldNames = ['name', 'instance_type', 'cpu_per_instance', 'memory_per_instance', 'instance_count', 'image', 'ports', 'service_type', 'volume_size', 'env', 'ssh_keys', 'user_data', 'username', 'quota_cpu', 'quota_memory', 'quota_instances', 'role', 'token', 'operation', 'expires_in_days', 'owner_id', '__proto__', 'constructor'];
const oddValue = fc.oneof(
  fc.string(),
  fc.fullUnicodeString({ maxLength: 80 }),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 1e308, -1e308, 2 ** 31, 2 ** 53, Number.NaN, null, true, '', 'running', 'vm', 'container', 'start', 'admin'),
  fc.array(fc.anything(), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.anything(), { maxKeys: 4 }),
);
const body = fc.oneof(
  fc.dictionary(fc.constantFrom(...fieldNames), oddValue, { maxKeys: 8 }),
  fc.anything(),
);

const routes = () => [
  ['POST', '/api/v1/clusters/'],
  ['PATCH', `/api/v1/clusters/${ids.cluster}`],
  ['POST', `/api/v1/instances/${ids.instance}/operate`],
  ['POST', '/api/v1/users/me/tokens'],
  ['POST', '/api/v1/users/'],
  ['PATCH', `/api/v1/users/${tenant.id}`],
] as const;

describe('fuzzed request bodies', () => {
  it('never produce a 5xx, and a rejected request changes nothing', async () => {
    for (const [method, url] of routes()) {
      const token = url.startsWith('/api/v1/users/') && !url.includes('/me/') ? undefined : tenant.token;
      await fc.assert(
        fc.asyncProperty(body, async (b) => {
          const before = await snapshot();
          const res = await t.app.inject({
            method,
            url,
            headers: { authorization: `Bearer ${token ?? 'test-admin-token-0123456789'}`, 'content-type': 'application/json' },
            payload: JSON.stringify(b) ?? 'null',
          });
          expect(res.statusCode, `${method} ${url} ${JSON.stringify(b)} → ${res.body}`).toBeLessThan(500);
          if (res.statusCode >= 400) expect(await snapshot()).toBe(before);
        }),
        { numRuns: 60, seed: 20261127 },
      );
    }
  });

  it('never produce a 5xx in paths and query strings', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), async (segment, query) => {
        const paths = [`/api/v1/clusters/${encodeURIComponent(segment)}`, `/api/v1/instances/${encodeURIComponent(segment)}`, `/api/v1/clusters/?limit=${encodeURIComponent(query)}&offset=${encodeURIComponent(segment)}`];
        for (const url of paths) {
          const res = await t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tenant.token}` } });
          expect(res.statusCode, `${url} → ${res.body}`).toBeLessThan(500);
        }
      }),
      { numRuns: 100, seed: 20261127 },
    );
  });
});
