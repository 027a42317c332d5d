// OWASP API4: one tenant cannot starve the others. Per-user caps on
// live tokens, open event streams and requests waiting with ?wait=, each a 429
// with Retry-After and a message naming the cap; and the failed-authentication
// limit keyed on the client's real address only behind a trusted proxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.ts';

const cluster = (name: string) => ({ name, instance_type: 'container', instance_count: 1, cpu_per_instance: 0.5, memory_per_instance: 0.5 });

/** Until `cond` holds (a state the server reaches, not a time). */
async function until(cond: () => Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, 5));
}
const heldNow = (t: TestApp, thing: 'waits' | 'event_streams', userId: number) => t.app.holds.count(thing, userId);

describe('live tokens per user', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ KUBEKLOUD_MAX_TOKENS_PER_USER: '3' });
  });
  afterAll(() => t.close());

  it('counts the first token; one more than the cap is a 429 with Retry-After, until one is revoked', async () => {
    const a = await t.tenant();
    // The token made with the user counts: two more reach the cap of 3.
    for (const name of ['ci', 'laptop']) expect((await t.call('POST', '/api/v1/users/me/tokens', a.token, { name })).status).toBe(201);
    const refused = await t.call('POST', '/api/v1/users/me/tokens', a.token, { name: 'one-too-many' });
    expect(refused.status).toBe(429);
    expect(refused.body.detail).toBe(
      'You have 3 live tokens, the most a user may hold (3, KUBEKLOUD_MAX_TOKENS_PER_USER); revoke one first (DELETE /api/v1/users/me/tokens/{id})',
    );
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Nothing was made.
    const list = await t.call('GET', '/api/v1/users/me/tokens', a.token);
    expect(list.body.map((x: { name: string }) => x.name)).toEqual(['default', 'ci', 'laptop']);
    // Another tenant is not touched by a's cap.
    const b = await t.tenant();
    expect((await t.call('POST', '/api/v1/users/me/tokens', b.token, { name: 'ci' })).status).toBe(201);
    // A revoked token frees its place.
    const ci = list.body.find((x: { name: string }) => x.name === 'ci');
    expect((await t.call('DELETE', `/api/v1/users/me/tokens/${ci.id}`, a.token)).status).toBe(200);
    expect((await t.call('POST', '/api/v1/users/me/tokens', a.token, { name: 'again' })).status).toBe(201);
  });

  it('lets only one of several creates at once take the last place', async () => {
    const a = await t.tenant();
    expect((await t.call('POST', '/api/v1/users/me/tokens', a.token, { name: 'one' })).status).toBe(201);
    const answers = await Promise.all([1, 2, 3, 4].map((i) => t.call('POST', '/api/v1/users/me/tokens', a.token, { name: `race-${i}` })));
    expect(answers.map((r) => r.status).sort()).toEqual([201, 429, 429, 429]);
    expect((await t.call('GET', '/api/v1/users/me/tokens', a.token)).body).toHaveLength(3);
  });

  it('documents the 429 in the OpenAPI document', async () => {
    const doc = (await t.call('GET', '/openapi.json')).body;
    expect(doc.paths['/api/v1/users/me/tokens'].post.responses).toHaveProperty('429');
    expect(doc.paths['/api/v1/clusters/{id}/events'].get.responses).toHaveProperty('429');
    for (const [path, method] of [
      ['/api/v1/clusters/', 'post'],
      ['/api/v1/clusters/{id}', 'patch'],
      ['/api/v1/clusters/{id}', 'delete'],
      ['/api/v1/clusters/{id}/suspend', 'post'],
      ['/api/v1/instances/{id}/operate', 'post'],
      ['/api/v1/instances/{id}/snapshots', 'post'],
    ] as const) {
      const op = (doc.paths[path] ?? doc.paths[path.replace(/\/$/, '')])[method];
      expect(op.responses, `${method} ${path}`).toHaveProperty('429');
    }
  });
});

describe('requests waiting with ?wait= per user', () => {
  let t: TestApp;
  beforeAll(async () => {
    // No reconciler here: a wait runs its full time, holding its seat.
    t = await buildTestApp({ KUBEKLOUD_MAX_WAITS_PER_USER: '2' });
  });
  afterAll(() => t.close());

  it('refuses one more than the cap with 429 before changing anything, and frees the seats when the waits answer', async () => {
    const a = await t.tenant();
    const b = await t.tenant();
    const held = [1, 2].map((i) => t.call('POST', '/api/v1/clusters/?wait=2', a.token, cluster(`held-${i}`)));
    await until(async () => (await heldNow(t, 'waits', a.id)) === 2);

    const refused = await t.call('POST', '/api/v1/clusters/?wait=2', a.token, cluster('third'));
    expect(refused.status).toBe(429);
    expect(refused.body.detail).toMatch(/^You have 2 requests waiting with \?wait=, the most a user may hold \(2, KUBEKLOUD_MAX_WAITS_PER_USER\)/);
    const retry = Number(refused.headers['retry-after']);
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(2);
    // The refused create made nothing; without ?wait= a's requests still go through.
    const names = (await t.call('GET', '/api/v1/clusters/', a.token)).body.map((c: { name: string }) => c.name);
    expect(names).not.toContain('third');
    expect((await t.call('POST', '/api/v1/clusters/', a.token, cluster('no-wait'))).status).toBe(201);
    // Another tenant waits as usual.
    const other = t.call('DELETE', `/api/v1/clusters/${(await t.call('POST', '/api/v1/clusters/', b.token, cluster('b'))).body.id}?wait=1`, b.token);

    for (const r of await Promise.all(held)) {
      expect(r.status).toBe(201);
      expect(r.body.wait.converged).toBe(false);
    }
    expect((await other).status).toBe(200);
    expect(await heldNow(t, 'waits', a.id)).toBe(0);
    expect(await heldNow(t, 'waits', b.id)).toBe(0);
  });

  it('gives the seat back when the request fails', async () => {
    const a = await t.tenant();
    const missing = await t.call('DELETE', '/api/v1/clusters/999999?wait=5', a.token);
    expect(missing.status).toBe(404);
    expect(await heldNow(t, 'waits', a.id)).toBe(0);
  });
});

describe('open event streams per user', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await buildTestApp({ KUBEKLOUD_MAX_EVENT_STREAMS_PER_USER: '2' });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => t.close());

  const open = (token: string, id: number, signal: AbortSignal) =>
    fetch(`${base}/api/v1/clusters/${id}/events`, { headers: { authorization: `Bearer ${token}` }, signal });

  it('refuses one more stream than the cap with 429, and takes one again once a stream closes', async () => {
    const a = await t.tenant();
    const b = await t.tenant();
    const ca = (await t.call('POST', '/api/v1/clusters/', a.token, cluster('watched'))).body.id;
    const cb = (await t.call('POST', '/api/v1/clusters/', b.token, cluster('watched'))).body.id;
    const closers = [new AbortController(), new AbortController()];
    const streams = await Promise.all(closers.map((c) => open(a.token, ca, c.signal)));
    expect(streams.map((s) => s.status)).toEqual([200, 200]);

    const third = await open(a.token, ca, new AbortController().signal);
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('10');
    expect((await third.json()).detail).toBe(
      'You have 2 event streams open, the most a user may hold (2, KUBEKLOUD_MAX_EVENT_STREAMS_PER_USER); close one first',
    );
    // b is not held back by a.
    const bStream = new AbortController();
    expect((await open(b.token, cb, bStream.signal)).status).toBe(200);

    closers[0]!.abort();
    await until(async () => (await heldNow(t, 'event_streams', a.id)) === 1);
    const again = new AbortController();
    expect((await open(a.token, ca, again.signal)).status).toBe(200);
    for (const c of [closers[1]!, again, bStream]) c.abort();
    await until(async () => (await heldNow(t, 'event_streams', a.id)) === 0 && (await heldNow(t, 'event_streams', b.id)) === 0);
  });

  it('gives a ?wait= seat back as soon as its client goes away', async () => {
    const a = await t.tenant();
    const client = new AbortController();
    const waiting = fetch(`${base}/api/v1/clusters/?wait=600`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(cluster('waited')),
      signal: client.signal,
    }).catch(() => 'aborted');
    await until(async () => (await heldNow(t, 'waits', a.id)) === 1);
    client.abort();
    expect(await waiting).toBe('aborted');
    await until(async () => (await heldNow(t, 'waits', a.id)) === 0);
  });

  it('gives the seat back when the stream is refused (404)', async () => {
    const a = await t.tenant();
    expect((await open(a.token, 999999, new AbortController().signal)).status).toBe(404);
    expect(await heldNow(t, 'event_streams', a.id)).toBe(0);
  });
});

describe('failed authentications per client address behind a trusted proxy', () => {
  const bad = (t: TestApp, peer: string, forwardedFor: string) =>
    t.app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress: peer, headers: { authorization: 'Bearer not-a-token', 'x-forwarded-for': forwardedFor } });

  it('keys the limit on X-Forwarded-For when the peer is a trusted proxy: two clients, two buckets', async () => {
    const t = await buildTestApp({ KUBEKLOUD_AUTH_FAILURES_PER_MINUTE: '2', KUBEKLOUD_TRUST_PROXY: '127.0.0.1' });
    try {
      expect((await bad(t, '127.0.0.1', '203.0.113.7')).statusCode).toBe(401);
      expect((await bad(t, '127.0.0.1', '203.0.113.7')).statusCode).toBe(401);
      const limited = await bad(t, '127.0.0.1', '203.0.113.7');
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // Another client behind the same proxy has its own bucket.
      expect((await bad(t, '127.0.0.1', '203.0.113.8')).statusCode).toBe(401);
    } finally {
      await t.close();
    }
  });

  it('ignores X-Forwarded-For from a peer it does not trust: forging it does not dodge the limit', async () => {
    for (const trust of [{}, { KUBEKLOUD_TRUST_PROXY: '10.0.0.0/8' }] as Record<string, string>[]) {
      const t = await buildTestApp({ KUBEKLOUD_AUTH_FAILURES_PER_MINUTE: '2', ...trust });
      try {
        expect((await bad(t, '127.0.0.1', '203.0.113.1')).statusCode).toBe(401);
        expect((await bad(t, '127.0.0.1', '203.0.113.2')).statusCode).toBe(401);
        expect((await bad(t, '127.0.0.1', '203.0.113.3')).statusCode).toBe(429);
      } finally {
        await t.close();
      }
    }
  });
});
