// The bootstrap admin (src/service/bootstrap.ts over src/store/tokens.ts and
// src/store/locks.ts) on PostgreSQL and PGlite: the first start creates the admin,
// a new KUBEKLOUD_ADMIN_TOKEN rotates its token, an earlier value can come back,
// another user's secret is refused, and replicas starting at once create one admin.
import { describe, expect, it } from 'vitest';
import { ADMIN_USERNAME, bootstrapAdmin } from '../../src/service/bootstrap.ts';
import { hashToken } from '../../src/service/tokens.ts';
import { deleteRevokedToken, findLiveToken, findUnrevokedTokens, insertToken, revokeToken } from '../../src/store/tokens.ts';
import { BACKENDS, seedUser, useStore } from '../support/stores.ts';

const FIRST = 'first-admin-token-0123456789';
const SECOND = 'second-admin-token-0123456789';

describe.each(BACKENDS)('the bootstrap admin on %s', (backend) => {
  const s = useStore(backend, 'users, tokens RESTART IDENTITY CASCADE');
  const holder = async (token: string) => (await findLiveToken(s.db, hashToken(token)))?.user.username ?? null;
  const admins = async () => (await s.db.query('SELECT id FROM users WHERE username = $1', [ADMIN_USERNAME])).length;

  it('creates the admin and its token on the first start, and changes nothing on the next', async () => {
    expect(await bootstrapAdmin(s.db, FIRST)).toEqual({ created: true, rotated: false });
    expect(await holder(FIRST)).toBe(ADMIN_USERNAME);
    expect(await bootstrapAdmin(s.db, FIRST)).toEqual({ created: false, rotated: false });
    expect(await admins()).toBe(1);
    expect(await s.db.query('SELECT id FROM tokens')).toHaveLength(1);
  });

  it('rotates: a new value revokes the old one', async () => {
    await bootstrapAdmin(s.db, FIRST);
    expect(await bootstrapAdmin(s.db, SECOND)).toEqual({ created: false, rotated: true });
    expect(await holder(SECOND)).toBe(ADMIN_USERNAME);
    expect(await holder(FIRST)).toBeNull();
  });

  it('takes back an earlier value, whose revoked row is replaced', async () => {
    await bootstrapAdmin(s.db, FIRST);
    await bootstrapAdmin(s.db, SECOND);
    expect(await bootstrapAdmin(s.db, FIRST)).toEqual({ created: false, rotated: true });
    expect(await holder(FIRST)).toBe(ADMIN_USERNAME);
    expect(await holder(SECOND)).toBeNull();
  });

  it("refuses a value that is another user's token, and keeps the admin's", async () => {
    await bootstrapAdmin(s.db, FIRST);
    const other = await seedUser(s.db);
    await insertToken(s.db, { userId: other, name: 'theirs', hash: hashToken(SECOND), expiresAt: null });
    await expect(bootstrapAdmin(s.db, SECOND)).rejects.toThrow('already the token of another user');
    expect(await holder(FIRST)).toBe(ADMIN_USERNAME);
    expect((await findLiveToken(s.db, hashToken(SECOND)))?.user.id).toBe(other);
  });

  it('creates one admin when replicas start at once', async () => {
    const results = await Promise.all([bootstrapAdmin(s.db, FIRST), bootstrapAdmin(s.db, FIRST), bootstrapAdmin(s.db, FIRST)]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await admins()).toBe(1);
    expect(await holder(FIRST)).toBe(ADMIN_USERNAME);
  });

  describe('token rows by hash', () => {
    it('finds unrevoked tokens, expired ones included, and not revoked ones', async () => {
      const user = await seedUser(s.db);
      const expired = await insertToken(s.db, { userId: user, name: 'old', hash: hashToken('expired'), expiresAt: new Date(Date.now() - 1000) });
      const revoked = await insertToken(s.db, { userId: user, name: 'gone', hash: hashToken('revoked'), expiresAt: null });
      await revokeToken(s.db, user, revoked.id);
      expect(await findUnrevokedTokens(s.db, hashToken('expired'))).toEqual([{ id: expired.id, user_id: user }]);
      expect(await findUnrevokedTokens(s.db, hashToken('revoked'))).toEqual([]);
      expect(await findUnrevokedTokens(s.db, hashToken('never'))).toEqual([]);
    });

    it('deletes a revoked token only', async () => {
      const user = await seedUser(s.db);
      const live = await insertToken(s.db, { userId: user, name: 'live', hash: hashToken('live'), expiresAt: null });
      const revoked = await insertToken(s.db, { userId: user, name: 'gone', hash: hashToken('revoked'), expiresAt: null });
      await revokeToken(s.db, user, revoked.id);
      await deleteRevokedToken(s.db, hashToken('live'));
      await deleteRevokedToken(s.db, hashToken('revoked'));
      expect((await s.db.query<{ id: number }>('SELECT id FROM tokens')).map((r) => r.id)).toEqual([live.id]);
    });
  });
});
