// OWASP API Security Top 10 (2023) checks that need no Kubernetes. The ones
// that do (SSRF, workload hardening) are in test/e2e/security.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({
    KUBEKLOUD_CORS_ORIGINS: 'https://console.example.com',
    KUBEKLOUD_AUTH_FAILURES_PER_MINUTE: '5',
  });
});
afterAll(() => t.close());

const cluster = (name: string) => ({ name, instance_type: 'container', cpu_per_instance: 0.1, memory_per_instance: 0.125, instance_count: 1 });

describe('API2 broken authentication', () => {
  it('throttles a client that keeps presenting bad tokens, with Retry-After', async () => {
    const app = await buildTestApp({ KUBEKLOUD_AUTH_FAILURES_PER_MINUTE: '5' });
    try {
      const codes: number[] = [];
      let retryAfter: unknown;
      for (let k = 0; k < 8; k++) {
        const res = await app.call('GET', '/api/v1/users/me', `wrong-token-${k}-xxxxxxxx`);
        codes.push(res.status);
        if (res.status === 429) retryAfter = res.headers['retry-after'];
      }
      expect(codes.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(codes.slice(5)).toEqual([429, 429, 429]);
      expect(Number(retryAfter)).toBeGreaterThan(0);
    } finally {
      await app.close();
    }
  });
});

describe('API3 broken object property level authorization', () => {
  it('never returns token hashes or internal columns', async () => {
    const u = await t.tenant();
    const c = await t.call('POST', '/api/v1/clusters/', u.token, cluster('props'));
    const bodies = [
      c.body,
      (await t.call('GET', `/api/v1/clusters/${c.body.id}`, u.token)).body,
      (await t.call('GET', `/api/v1/instances/${c.body.instances[0].id}`, u.token)).body,
      (await t.call('GET', '/api/v1/users/me', u.token)).body,
      (await t.call('GET', '/api/v1/users/')).body,
      (await t.call('GET', '/api/v1/users/me/tokens', u.token)).body,
    ];
    const text = JSON.stringify(bodies);
    for (const internal of ['token_hash', 'desired_gen', 'synced_gen', 'claimed_by', 'claimed_until', 'attempts', 'next_attempt_at', 'obs_', 'restart_count']) {
      expect(text).not.toContain(internal);
    }
  });
  it('refuses bodies that try to set owner, usage, status or role', async () => {
    const u = await t.tenant();
    const attempts = [
      ['POST', '/api/v1/clusters/', { ...cluster('own'), owner_id: 1 }],
      ['POST', '/api/v1/clusters/', { ...cluster('st'), status: 'running' }],
      ['POST', '/api/v1/users/me/tokens', { name: 'x', user_id: 1 }],
      ['PATCH', `/api/v1/users/${u.id}`, { used_cpu: 0 }],
    ] as const;
    for (const [method, url, body] of attempts) {
      const res = await t.call(method, url, method === 'PATCH' ? ADMIN_TOKEN : u.token, body);
      expect(res.status).toBe(422);
      expect(res.body.detail[0].msg).toBe('unknown field');
    }
    // A user cannot make themselves admin: the route is admin-only.
    expect((await t.call('PATCH', `/api/v1/users/${u.id}`, u.token, { role: 'admin' })).status).toBe(403);
  });
});

describe('API4 unrestricted resource consumption', () => {
  it('limits requests per token with 429 and Retry-After', async () => {
    const app = await buildTestApp({ KUBEKLOUD_RATE_LIMIT_RPS: '1', KUBEKLOUD_RATE_LIMIT_BURST: '3' });
    try {
      const u = await app.tenant();
      const codes = [];
      for (let k = 0; k < 5; k++) codes.push((await app.call('GET', '/api/v1/users/me', u.token)).status);
      expect(codes).toEqual([200, 200, 200, 429, 429]);
      const limited = await app.call('GET', '/api/v1/users/me', u.token);
      expect(limited.headers['retry-after']).toBe('1');
      expect(limited.body.detail).toContain('Rate limit');
    } finally {
      await app.close();
    }
  });
  it('limits page size', async () => {
    const u = await t.tenant();
    expect((await t.call('GET', '/api/v1/clusters?limit=501', u.token)).status).toBe(422);
  });
});

describe('API6 unrestricted access to sensitive business flows', () => {
  it('rate-limits mass creation by one tenant, on top of the quota', async () => {
    // A refill of one write in 100 s: however slow the machine, none comes back during the burst.
    const app = await buildTestApp({ KUBEKLOUD_WRITE_RATE_LIMIT_RPS: '0.01', KUBEKLOUD_WRITE_RATE_LIMIT_BURST: '5' });
    try {
      const u = await app.tenant({ cpu: 100, memory: 100, instances: 100 });
      const codes = [];
      for (let k = 0; k < 8; k++) codes.push((await app.call('POST', '/api/v1/clusters/', u.token, cluster(`m${k}`))).status);
      expect(codes.filter((c) => c === 201)).toHaveLength(5);
      expect(codes.filter((c) => c === 429)).toHaveLength(3);
      expect((await app.db.query('SELECT id FROM clusters'))).toHaveLength(5);
    } finally {
      await app.close();
    }
  });
});

describe('API8 security misconfiguration', () => {
  it('hides internals in 5xx answers', async () => {
    const app = await buildTestApp();
    try {
      const u = await app.tenant();
      await app.db.query('ALTER TABLE clusters RENAME TO clusters_gone');
      const res = await app.call('GET', '/api/v1/clusters/', u.token);
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ detail: 'Internal server error', type: 'about:blank', title: 'Internal Server Error', status: 500 });
    } finally {
      await app.close();
    }
  });
  it('answers CORS only for allowed origins', async () => {
    const ok = await t.app.inject({ method: 'OPTIONS', url: '/api/v1/clusters/', headers: { origin: 'https://console.example.com', 'access-control-request-method': 'POST' } });
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('https://console.example.com');
    const evil = await t.app.inject({ method: 'GET', url: '/health', headers: { origin: 'https://evil.example' } });
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
  });
  it('sets security headers on every answer', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health' });
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    });
  });
});

describe('API9 improper inventory management', () => {
  it('registers exactly the routes the OpenAPI document lists', async () => {
    const doc = (await t.call('GET', '/openapi.json', null)).body as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect([...new Set(t.app.routeInventory)].sort()).toEqual(documented.sort());
    expect(documented.length).toBeGreaterThanOrEqual(20);
  });
});

describe('idempotency keys', () => {
  it('replay the first answer to a retry and apply the request once', async () => {
    const u = await t.tenant();
    const send = () => t.app.inject({ method: 'POST', url: '/api/v1/clusters/', headers: { authorization: `Bearer ${u.token}`, 'idempotency-key': 'create-once-1' }, payload: cluster('once') });
    const first = await send();
    const retry = await send();
    expect(first.statusCode).toBe(201);
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(JSON.parse(retry.body).id).toBe(JSON.parse(first.body).id);
    expect(await t.db.query("SELECT id FROM clusters WHERE name = 'once'")).toHaveLength(1);
  });
  it('refuse the same key for a different request', async () => {
    const u = await t.tenant();
    const send = (name: string) => t.app.inject({ method: 'POST', url: '/api/v1/clusters/', headers: { authorization: `Bearer ${u.token}`, 'idempotency-key': 'k-2' }, payload: cluster(name) });
    expect((await send('a1')).statusCode).toBe(201);
    const other = await send('a2');
    expect(other.statusCode).toBe(422);
    expect(JSON.parse(other.body).detail[0].loc).toEqual(['header', 'idempotency-key']);
  });
  it('never run a request twice whose answer was lost after it was applied', async () => {
    const u = await t.tenant();
    const send = (key: string, name: string) =>
      t.app.inject({ method: 'POST', url: '/api/v1/clusters/', headers: { authorization: `Bearer ${u.token}`, 'idempotency-key': key }, payload: cluster(name) });
    expect((await send('lost-1', 'lost')).statusCode).toBe(201);
    // As if the server died after committing, before storing its answer, long ago.
    await t.db.query("UPDATE idempotency_keys SET status_code = NULL, response = NULL, created_at = now() - interval '1 hour' WHERE key = 'lost-1'");
    const retry = await send('lost-1', 'lost');
    expect(retry.statusCode).toBe(409);
    expect(JSON.parse(retry.body).detail).toContain('applied, but its answer was lost');
    expect(await t.db.query("SELECT id FROM clusters WHERE name = 'lost'")).toHaveLength(1);
  });
  it('run again a request whose server died before it was applied', async () => {
    const u = await t.tenant();
    const row = await t.db.query<{ id: number }>('SELECT id FROM users WHERE username = $1', [u.username]);
    // Claimed by a server that died before committing anything.
    const { createHash } = await import('node:crypto');
    const body = cluster('rerun');
    const hash = createHash('sha256').update(`POST /api/v1/clusters/\n${JSON.stringify(body)}`).digest('hex');
    await t.db.query("INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) VALUES ($1, 'dead-1', $2, now() - interval '5 minutes')", [row[0]!.id, hash]);
    const retry = await t.app.inject({ method: 'POST', url: '/api/v1/clusters/', headers: { authorization: `Bearer ${u.token}`, 'idempotency-key': 'dead-1' }, payload: body });
    expect(retry.statusCode).toBe(201);
    expect(await t.db.query("SELECT id FROM clusters WHERE name = 'rerun'")).toHaveLength(1);
  });
  it('apply two simultaneous attempts with one key once', async () => {
    const u = await t.tenant();
    const send = () => t.app.inject({ method: 'POST', url: '/api/v1/clusters/', headers: { authorization: `Bearer ${u.token}`, 'idempotency-key': 'race-1' }, payload: cluster('race') });
    const codes = (await Promise.all([send(), send(), send()])).map((r) => r.statusCode).sort();
    expect(codes.filter((c) => c === 201).length).toBeGreaterThanOrEqual(1);
    expect(codes.every((c) => c === 201 || c === 409)).toBe(true);
    expect(await t.db.query("SELECT id FROM clusters WHERE name = 'race'")).toHaveLength(1);
  });
  it('are per user', async () => {
    const a = await t.tenant();
    const b = await t.tenant();
    for (const u of [a, b]) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/clusters/', headers: { authorization: `Bearer ${u.token}`, 'idempotency-key': 'shared' }, payload: cluster('mine') });
      expect(res.statusCode).toBe(201);
      expect(res.headers['idempotent-replayed']).toBeUndefined();
    }
  });
});

