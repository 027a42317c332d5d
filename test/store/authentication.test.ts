// Authentication and its rate limits (src/service/auth.ts over src/store/tokens.ts
// and src/store/rateBuckets.ts) on PostgreSQL and PGlite: a live token gives its
// principal, any other is refused, an address that keeps failing is throttled
// on every replica, writes per user are limited on every replica, requests per
// token on each replica, and last_used_at is kept to the minute.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { RateLimited } from '../../src/domain/errors.ts';
import { Authentication, type AuthLimits } from '../../src/service/auth.ts';
import type { Services } from '../../src/service/context.ts';
import { hashToken } from '../../src/service/tokens.ts';
import type { Db } from '../../src/store/db.ts';
import { insertToken, revokeToken } from '../../src/store/tokens.ts';
import { BACKENDS, seedUser, until, useStore } from '../support/stores.ts';

const ROOMY: AuthLimits = { rateLimit: { perSecond: 1000, burst: 1000 }, writeRateLimit: { perSecond: 1000, burst: 1000 }, authFailureLimit: { perMinute: 1000 } };
const READ = { address: '10.0.0.1', write: false };
const WRITE = { address: '10.0.0.1', write: true };

describe.each(BACKENDS)('authentication on %s', (backend) => {
  const s = useStore(backend, 'users, tokens, rate_buckets RESTART IDENTITY CASCADE');
  /** One replica's authentication. */
  const replica = (limits: Partial<AuthLimits> = {}, db: Db = s.db) => {
    const services: Services = { db, config: loadConfig({}), wake: () => {} };
    return new Authentication(services, { ...ROOMY, ...limits });
  };

  async function tokenFor(opts: { expiresAt?: Date | null; revoked?: boolean } = {}) {
    const userId = await seedUser(s.db);
    const secret = `kk_test-${Math.random().toString(36).slice(2)}-0123456789`;
    const row = await insertToken(s.db, { userId, name: 'cli', hash: hashToken(secret), expiresAt: opts.expiresAt ?? null });
    if (opts.revoked) await revokeToken(s.db, userId, row.id);
    return { userId, secret, tokenId: row.id };
  }
  const lastUsed = async (tokenId: number) =>
    (await s.db.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM tokens WHERE id = $1', [tokenId]))[0]!.last_used_at;

  describe('tokens', () => {
    it("gives a live token's principal", async () => {
      const t = await tokenFor({ expiresAt: new Date(Date.now() + 60_000) });
      const [{ username }] = (await s.db.query<{ username: string }>('SELECT username FROM users WHERE id = $1', [t.userId])) as [{ username: string }];
      expect(await replica().authenticateToken(t.secret, READ)).toEqual({ userId: t.userId, username, role: 'user', tokenId: t.tokenId, scopes: ['read', 'write'], clusterIds: null });
    });

    it('refuses unknown, revoked, expired and overlong tokens alike', async () => {
      const auth = replica();
      const revoked = await tokenFor({ revoked: true });
      const expired = await tokenFor({ expiresAt: new Date(Date.now() - 1000) });
      const long = 'x'.repeat(513);
      await insertToken(s.db, { userId: revoked.userId, name: 'long', hash: hashToken(long), expiresAt: null });
      for (const token of ['kk_never-issued-0123456789', revoked.secret, expired.secret, long]) {
        await expect(auth.authenticateToken(token, READ)).rejects.toMatchObject({ kind: 'unauthenticated', message: 'Invalid authentication token' });
      }
    });

    it('records when a token was last used, to the minute', async () => {
      const t = await tokenFor();
      await replica().authenticateToken(t.secret, READ);
      await until(async () => (await lastUsed(t.tokenId)) !== null, 'last_used_at set');
      const fresh = new Date(Date.now() - 30_000);
      await s.db.query('UPDATE tokens SET last_used_at = $2 WHERE id = $1', [t.tokenId, fresh]);
      await replica().authenticateToken(t.secret, READ);
      await new Promise((r) => setTimeout(r, 100));
      expect((await lastUsed(t.tokenId))!.getTime()).toBe(fresh.getTime());
      await s.db.query("UPDATE tokens SET last_used_at = now() - interval '2 minutes' WHERE id = $1", [t.tokenId]);
      await replica().authenticateToken(t.secret, READ);
      await until(async () => Date.now() - (await lastUsed(t.tokenId))!.getTime() < 30_000, 'last_used_at moved on');
    });
  });

  describe('failed authentications per address', () => {
    const limits = { authFailureLimit: { perMinute: 3 } };

    it('answers 401 until the address failed too often, then 429 with a wait, on every replica', async () => {
      const a = replica(limits);
      const b = replica(limits);
      for (const auth of [a, b, a]) expect(await auth.refuse('10.0.0.9', 'Not authenticated')).toMatchObject({ kind: 'unauthenticated', message: 'Not authenticated' });
      const throttled = await b.refuse('10.0.0.9', 'Not authenticated');
      expect(throttled).toBeInstanceOf(RateLimited);
      expect(throttled).toMatchObject({ message: 'Too many failed authentication attempts; try again later', retryAfterSeconds: 20 });
      expect(await a.refuse('10.0.0.10', 'Not authenticated')).toMatchObject({ kind: 'unauthenticated' });
    });

    it('counts an unknown token as a failure of its address', async () => {
      const auth = replica(limits);
      for (let i = 0; i < 3; i++) await expect(auth.authenticateToken('kk_unknown-0123456789', READ)).rejects.toMatchObject({ kind: 'unauthenticated' });
      await expect(auth.authenticateToken('kk_unknown-0123456789', READ)).rejects.toBeInstanceOf(RateLimited);
      const t = await tokenFor();
      expect(await auth.authenticateToken(t.secret, READ)).toMatchObject({ userId: t.userId }); // a good token still passes
    });

    it('still answers 401 when the database is away and the failure cannot be counted', async () => {
      const away: Db = { ...s.db, query: () => Promise.reject(new Error('Connection terminated unexpectedly')) };
      expect(await replica(limits, away).refuse('10.0.0.9', 'Invalid or expired token')).toMatchObject({ kind: 'unauthenticated' });
    });
  });

  describe('rate limits', () => {
    it('limits requests per token in each replica', async () => {
      const t = await tokenFor();
      const a = replica({ rateLimit: { perSecond: 0.5, burst: 2 } });
      await a.authenticateToken(t.secret, READ);
      await a.authenticateToken(t.secret, WRITE);
      await expect(a.authenticateToken(t.secret, READ)).rejects.toMatchObject({ kind: 'rate_limited', message: 'Rate limit exceeded; slow down', retryAfterSeconds: 2 });
      expect(await replica({ rateLimit: { perSecond: 0.5, burst: 2 } }).authenticateToken(t.secret, READ)).toMatchObject({ userId: t.userId });
    });

    it('limits writes per user across replicas, and leaves reads alone', async () => {
      const t = await tokenFor();
      const limits = { writeRateLimit: { perSecond: 0.1, burst: 2 } };
      const a = replica(limits);
      const b = replica(limits);
      await a.authenticateToken(t.secret, WRITE);
      await b.authenticateToken(t.secret, WRITE);
      await expect(a.authenticateToken(t.secret, WRITE)).rejects.toMatchObject({ kind: 'rate_limited', retryAfterSeconds: 10 });
      await expect(b.authenticateToken(t.secret, WRITE)).rejects.toMatchObject({ kind: 'rate_limited' });
      expect(await a.authenticateToken(t.secret, READ)).toMatchObject({ userId: t.userId });
    });

    it("draws one user's writes from one bucket whichever token they use", async () => {
      const t = await tokenFor();
      const second = 'kk_second-token-0123456789';
      await insertToken(s.db, { userId: t.userId, name: 'second', hash: hashToken(second), expiresAt: null });
      const auth = replica({ writeRateLimit: { perSecond: 0.1, burst: 1 } });
      await auth.authenticateToken(t.secret, WRITE);
      await expect(auth.authenticateToken(second, WRITE)).rejects.toMatchObject({ kind: 'rate_limited' });
      const other = await tokenFor();
      expect(await auth.authenticateToken(other.secret, WRITE)).toMatchObject({ userId: other.userId });
    });
  });
});
