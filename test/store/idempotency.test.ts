// Idempotency keys (src/service/idempotency.ts over src/store/idempotencyKeys.ts)
// on PostgreSQL and PGlite: a request under a key runs once, its answer is
// replayed, the key cannot be reused for another request, a retry of one in
// flight or applied-but-unanswered is refused, one whose server died before
// committing is taken over after a minute, and the write marks the key applied
// in its own transaction so a second attempt's write is rolled back.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { createCluster } from '../../src/service/clusters.ts';
import type { Principal, Services } from '../../src/service/context.ts';
import { beginRequest, finishRequest, servicesUnderKey, type KeyRef } from '../../src/service/idempotency.ts';
import { findKey, markApplied, purgeOlderThan, reserveKey, takeOverAbandoned } from '../../src/store/idempotencyKeys.ts';
import { BACKENDS, seedUser, useStore } from '../support/stores.ts';

const HASH = 'a'.repeat(64);
const OTHER_HASH = 'b'.repeat(64);

describe.each(BACKENDS)('idempotency keys on %s', (backend) => {
  const s = useStore(backend, 'users, clusters, instances, idempotency_keys RESTART IDENTITY CASCADE');
  let services: Services;
  beforeAll(() => {
    services = { db: s.db, config: loadConfig({}), wake: () => {} };
  });

  const keyOf = async (key = 'k-1'): Promise<KeyRef> => ({ userId: await seedUser(s.db), key });
  const age = (ref: KeyRef, interval: string) =>
    s.db.query(`UPDATE idempotency_keys SET created_at = now() - interval '${interval}' WHERE user_id = $1 AND key = $2`, [ref.userId, ref.key]);
  const begin = (ref: KeyRef, hash = HASH) => beginRequest(s.db, ref, hash, { purge: false });
  /** A write a test can count: it adds one to the user's instance quota. */
  const write = (svc: Services, ref: KeyRef) =>
    svc.db.transaction((tx) => tx.query('UPDATE users SET quota_instances = quota_instances + 1 WHERE id = $1', [ref.userId]));
  const writes = async (ref: KeyRef) =>
    (await s.db.query<{ n: number }>('SELECT quota_instances - 1000 AS n FROM users WHERE id = $1', [ref.userId]))[0]!.n;

  describe('beginning a request', () => {
    it('runs a request under a new key and reserves the key for it', async () => {
      const ref = await keyOf();
      expect(await begin(ref)).toEqual({ outcome: 'run' });
      expect(await findKey(s.db, ref)).toMatchObject({ request_hash: HASH, status_code: null, response: null, applied: false });
    });

    it('replays the stored answer to a retry of the same request', async () => {
      const ref = await keyOf();
      await begin(ref);
      await write(servicesUnderKey(services, ref), ref);
      await finishRequest(s.db, ref, 201, () => '{"id":7}');
      expect(await begin(ref)).toEqual({ outcome: 'replay', statusCode: 201, response: '{"id":7}' });
      expect(await writes(ref)).toBe(1);
    });

    it('replays a 4xx answer too', async () => {
      const ref = await keyOf();
      await begin(ref);
      await finishRequest(s.db, ref, 404, () => '{"detail":"Cluster not found"}');
      expect(await begin(ref)).toEqual({ outcome: 'replay', statusCode: 404, response: '{"detail":"Cluster not found"}' });
    });

    it('refuses the key for a different request, naming the header', async () => {
      const ref = await keyOf();
      await begin(ref);
      await finishRequest(s.db, ref, 201, () => '{}');
      await expect(begin(ref, OTHER_HASH)).rejects.toMatchObject({
        kind: 'invalid',
        problems: [{ loc: ['header', 'idempotency-key'], msg: 'was already used for a different request', type: 'value_error.idempotency_key_reused' }],
      });
    });

    it('refuses a different request even while the first is in flight', async () => {
      const ref = await keyOf();
      await begin(ref);
      await expect(begin(ref, OTHER_HASH)).rejects.toMatchObject({ kind: 'invalid' });
    });

    it('refuses a retry while the first attempt is still in progress', async () => {
      const ref = await keyOf();
      await begin(ref);
      await expect(begin(ref)).rejects.toMatchObject({ kind: 'in_progress', message: expect.stringContaining('still in progress') });
      await age(ref, '59 seconds');
      await expect(begin(ref)).rejects.toMatchObject({ kind: 'in_progress', message: expect.stringContaining('still in progress') });
    });

    it('never runs again a request that was applied but whose answer was lost, however old', async () => {
      const ref = await keyOf();
      await begin(ref);
      await write(servicesUnderKey(services, ref), ref);
      // The server died here, before storing its answer.
      await age(ref, '1 hour');
      await expect(begin(ref)).rejects.toMatchObject({ kind: 'in_progress', message: expect.stringContaining('applied, but its answer was lost') });
      expect(await writes(ref)).toBe(1);
    });

    it('takes over after a minute a key whose server died before committing, and restarts its clock', async () => {
      const ref = await keyOf();
      await begin(ref);
      await age(ref, '61 seconds');
      expect(await begin(ref)).toEqual({ outcome: 'run' });
      const row = await findKey(s.db, ref);
      const [{ now }] = (await s.db.query<{ now: Date }>('SELECT now()')) as [{ now: Date }];
      expect(Math.abs(row!.created_at.getTime() - now.getTime())).toBeLessThan(5_000);
      // The clock restarted: a third attempt now finds it in progress.
      await expect(begin(ref)).rejects.toMatchObject({ kind: 'in_progress' });
    });

    it('keeps keys per user', async () => {
      const a = await keyOf('shared');
      const b = await keyOf('shared');
      await begin(a);
      expect(await begin(b, OTHER_HASH)).toEqual({ outcome: 'run' });
    });

    it('deletes keys older than a day when purging, and keeps younger ones', async () => {
      const old = await keyOf('old');
      const young = { userId: old.userId, key: 'young' };
      await begin(old);
      await begin(young);
      await age(old, '25 hours');
      await age(young, '23 hours');
      await beginRequest(s.db, { userId: old.userId, key: 'third' }, HASH, { purge: true });
      expect(await findKey(s.db, old)).toBeNull();
      expect(await findKey(s.db, young)).not.toBeNull();
    });
  });

  describe('finishing a request', () => {
    it('forgets the key after a server error, so a retry runs again at once', async () => {
      const ref = await keyOf();
      await begin(ref);
      let asked = false;
      await finishRequest(s.db, ref, 503, () => {
        asked = true;
        return '{}';
      });
      expect(asked).toBe(false);
      expect(await findKey(s.db, ref)).toBeNull();
      expect(await begin(ref)).toEqual({ outcome: 'run' });
    });

    it('keeps the key of a write that was applied before the server error, so a retry does not apply it again', async () => {
      const ref = await keyOf();
      await begin(ref);
      await write(servicesUnderKey(services, ref), ref);
      // The COMMIT went through but its acknowledgement was lost (the primary switched):
      // the request ends in 503 while the database, reached again, has the write.
      await finishRequest(s.db, ref, 503, () => '{}');
      expect(await findKey(s.db, ref)).toMatchObject({ applied: true, status_code: null });
      await expect(begin(ref)).rejects.toMatchObject({ kind: 'in_progress', message: expect.stringContaining('applied, but its answer was lost') });
      expect(await writes(ref)).toBe(1);
    });

    it('stores the answer of a request that ended below 500', async () => {
      const ref = await keyOf();
      await begin(ref);
      await finishRequest(s.db, ref, 422, () => '{"detail":[]}');
      expect(await findKey(s.db, ref)).toMatchObject({ status_code: 422, response: '{"detail":[]}' });
    });
  });

  describe('the write under a key', () => {
    it('marks the key applied in the transaction of the write', async () => {
      const ref = await keyOf();
      await begin(ref);
      const p: Principal = { userId: ref.userId, username: 'tenant', role: 'user', tokenId: 0, scopes: ['read', 'write'], clusterIds: null };
      const created = await createCluster(servicesUnderKey(services, ref), p, {
        name: 'once',
        instance_type: 'container',
        cpu_per_instance: 0.5,
        memory_per_instance: 0.5,
        instance_count: 1,
      });
      expect(created.name).toBe('once');
      expect(await findKey(s.db, ref)).toMatchObject({ applied: true, status_code: null });
    });

    it('leaves the key unapplied when the write rolls back', async () => {
      const ref = await keyOf();
      await begin(ref);
      const failing = servicesUnderKey(services, ref).db.transaction(async (tx) => {
        await tx.query('UPDATE users SET quota_instances = quota_instances + 1 WHERE id = $1', [ref.userId]);
        throw new Error('the write failed');
      });
      await expect(failing).rejects.toThrow('the write failed');
      expect(await findKey(s.db, ref)).toMatchObject({ applied: false });
      expect(await writes(ref)).toBe(0);
    });

    it("rolls back a second attempt's write once the first applied it", async () => {
      const ref = await keyOf();
      await begin(ref); // attempt A
      await age(ref, '2 minutes'); // A stalled past a minute
      expect(await begin(ref)).toEqual({ outcome: 'run' }); // attempt B takes over
      await write(servicesUnderKey(services, ref), ref); // B applies
      await expect(write(servicesUnderKey(services, ref), ref)).rejects.toMatchObject({
        kind: 'in_progress',
        message: 'A request with this Idempotency-Key was already applied',
      }); // A's write comes late
      expect(await writes(ref)).toBe(1);
    });

    it('applies two simultaneous writes under one key once', async () => {
      const ref = await keyOf();
      await begin(ref);
      const svc = servicesUnderKey(services, ref);
      const results = await Promise.allSettled([write(svc, ref), write(svc, ref), write(svc, ref)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results.filter((r) => r.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ kind: 'in_progress' });
      expect(await writes(ref)).toBe(1);
    });

    it('leaves reads and writes without a key as they are', async () => {
      const ref = await keyOf();
      await write(services, ref);
      await write(services, ref);
      expect(await writes(ref)).toBe(2);
      expect(await findKey(s.db, ref)).toBeNull();
    });
  });

  describe('the store', () => {
    it('reserves a key once', async () => {
      const ref = await keyOf();
      expect(await reserveKey(s.db, ref, HASH)).toBe(true);
      expect(await reserveKey(s.db, ref, HASH)).toBe(false);
      expect(await reserveKey(s.db, ref, OTHER_HASH)).toBe(false);
      expect(await findKey(s.db, ref)).toMatchObject({ request_hash: HASH });
    });

    it('takes over only keys neither answered nor applied, older than asked', async () => {
      const answered = await keyOf('answered');
      const applied = { userId: answered.userId, key: 'applied' };
      const abandoned = { userId: answered.userId, key: 'abandoned' };
      for (const ref of [answered, applied, abandoned]) await reserveKey(s.db, ref, HASH);
      await finishRequest(s.db, answered, 200, () => '{}');
      await s.db.transaction((tx) => markApplied(tx, applied));
      await s.db.query("UPDATE idempotency_keys SET created_at = now() - interval '10 minutes'");
      expect(await takeOverAbandoned(s.db, answered, 60)).toBe(false);
      expect(await takeOverAbandoned(s.db, applied, 60)).toBe(false);
      expect(await takeOverAbandoned(s.db, abandoned, 3600)).toBe(false);
      expect(await takeOverAbandoned(s.db, abandoned, 60)).toBe(true);
      expect(await takeOverAbandoned(s.db, abandoned, 60)).toBe(false); // its clock restarted
      expect(await takeOverAbandoned(s.db, { userId: answered.userId, key: 'missing' }, 60)).toBe(false);
    });

    it('marks a key applied once, and not a missing one', async () => {
      const ref = await keyOf();
      await reserveKey(s.db, ref, HASH);
      expect(await s.db.transaction((tx) => markApplied(tx, ref))).toBe(true);
      expect(await s.db.transaction((tx) => markApplied(tx, ref))).toBe(false);
      expect(await s.db.transaction((tx) => markApplied(tx, { ...ref, key: 'missing' }))).toBe(false);
    });

    it('purges by age only', async () => {
      const ref = await keyOf();
      await reserveKey(s.db, ref, HASH);
      await purgeOlderThan(s.db, 24);
      expect(await findKey(s.db, ref)).not.toBeNull();
      await age(ref, '24 hours 1 second');
      await purgeOlderThan(s.db, 24);
      expect(await findKey(s.db, ref)).toBeNull();
    });
  });
});
