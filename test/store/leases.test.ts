// The observer lease (src/store/leases.ts) and Election (src/reconciler/election.ts)
// on PostgreSQL and PGlite: one holder at a time, epochs grow, a release hands over at
// once, and a leader whose renewals fail stops leading before another takes over.
import { afterEach, describe, expect, it } from 'vitest';
import { Election } from '../../src/reconciler/election.ts';
import { openPostgres, type Db } from '../../src/store/db.ts';
import { acquireOrRenewLease, leaseHolder, releaseLease } from '../../src/store/leases.ts';
import { BACKENDS, until, useStore } from '../support/stores.ts';

const LEASE = 'observer/default';

/** A Db that can be made to fail (as if its database went away), counting lease statements. */
function breakable(inner: Db, onBreak: () => Promise<void> = async () => {}) {
  let broken = false;
  let calls = 0;
  const check = () => {
    if (broken) throw new Error('connection terminated');
  };
  const db: Db = {
    kind: inner.kind,
    async query<T>(sql: string, params?: unknown[]) {
      check();
      if (sql.includes('observer_leases')) calls++;
      return inner.query<T>(sql, params);
    },
    async exec(sql: string) {
      check();
      return inner.exec(sql);
    },
    listen: (...a) => inner.listen(...a),
    async transaction<T>(fn: Parameters<Db['transaction']>[0]) {
      check();
      return inner.transaction(fn) as Promise<T>;
    },
    poolStats: () => inner.poolStats(),
    close: async () => {},
  };
  return {
    db,
    get calls() {
      return calls;
    },
    async break() {
      broken = true;
      await onBreak();
    },
  };
}

describe.each(BACKENDS)('observer lease on %s', (backend) => {
  const s = useStore(backend, 'observer_leases');
  const expireLease = (name = LEASE) => s.db.query("UPDATE observer_leases SET expires_at = now() - interval '1 second' WHERE name = $1", [name]);

  describe('acquireOrRenewLease', () => {
    it('gives a free lease to the first holder, at epoch 1', async () => {
      expect(await acquireOrRenewLease(s.db, LEASE, 'a', 10)).toEqual({ epoch: 1, acquired: true });
      expect(await leaseHolder(s.db, LEASE)).toEqual({ holder: 'a', epoch: 1, live: true });
    });
    it('refuses a second holder while the lease is live, and renews for the holder at the same epoch', async () => {
      await acquireOrRenewLease(s.db, LEASE, 'a', 10);
      expect(await acquireOrRenewLease(s.db, LEASE, 'b', 10)).toBeNull();
      expect(await acquireOrRenewLease(s.db, LEASE, 'a', 10)).toEqual({ epoch: 1, acquired: false });
      expect(await acquireOrRenewLease(s.db, LEASE, 'a', 10)).toEqual({ epoch: 1, acquired: false });
      expect(await acquireOrRenewLease(s.db, LEASE, 'b', 10)).toBeNull();
      expect((await leaseHolder(s.db, LEASE))!.holder).toBe('a');
    });
    it('lets another holder take an expired lease, at the next epoch, and refuses the old holder then', async () => {
      await acquireOrRenewLease(s.db, LEASE, 'a', 10);
      await expireLease();
      expect(await leaseHolder(s.db, LEASE)).toEqual({ holder: 'a', epoch: 1, live: false });
      expect(await acquireOrRenewLease(s.db, LEASE, 'b', 10)).toEqual({ epoch: 2, acquired: true });
      expect(await acquireOrRenewLease(s.db, LEASE, 'a', 10)).toBeNull();
      expect(await acquireOrRenewLease(s.db, LEASE, 'b', 10)).toEqual({ epoch: 2, acquired: false });
    });
    it('lets a lease run out on the database clock', async () => {
      await acquireOrRenewLease(s.db, LEASE, 'a', 1);
      expect(await acquireOrRenewLease(s.db, LEASE, 'b', 1)).toBeNull();
      let took: Awaited<ReturnType<typeof acquireOrRenewLease>> = null;
      await until(async () => (took = await acquireOrRenewLease(s.db, LEASE, 'b', 1)) !== null, 'the 1 s lease to run out', 5000, 50);
      expect(took).toEqual({ epoch: 2, acquired: true });
    });
    it('hands the lease over at once on release', async () => {
      await acquireOrRenewLease(s.db, LEASE, 'a', 60);
      await releaseLease(s.db, LEASE, 'b'); // not b's to release
      expect(await acquireOrRenewLease(s.db, LEASE, 'b', 60)).toBeNull();
      await releaseLease(s.db, LEASE, 'a');
      expect((await leaseHolder(s.db, LEASE))!.live).toBe(false);
      expect(await acquireOrRenewLease(s.db, LEASE, 'b', 60)).toEqual({ epoch: 2, acquired: true });
    });
    it('keeps leases of different names apart', async () => {
      expect(await acquireOrRenewLease(s.db, 'observer/one', 'a', 10)).toEqual({ epoch: 1, acquired: true });
      expect(await acquireOrRenewLease(s.db, 'observer/two', 'b', 10)).toEqual({ epoch: 1, acquired: true });
      expect(await acquireOrRenewLease(s.db, 'observer/two', 'a', 10)).toBeNull();
    });
    it('gives a free lease to exactly one of many holders asking at once', async () => {
      const answers = await Promise.all(Array.from({ length: 12 }, (_, k) => acquireOrRenewLease(s.db, LEASE, `h${k}`, 10)));
      expect(answers.filter((a) => a !== null)).toEqual([{ epoch: 1, acquired: true }]);
      await expireLease();
      const again = await Promise.all(Array.from({ length: 12 }, (_, k) => acquireOrRenewLease(s.db, LEASE, `g${k}`, 10)));
      expect(again.filter((a) => a !== null)).toEqual([{ epoch: 2, acquired: true }]);
    });
  });

  describe('Election', () => {
    type Candidate = {
      name: string;
      election: Election;
      conn: ReturnType<typeof breakable>;
      /** Times (performance.now) this replica started and stopped its observer. */
      led: number[];
      stopped: number[];
      /** Times it was asked to make good what it skipped while its lease was in doubt. */
      resumed: number;
      /** The `leading` function the observer got, to check what it would see. */
      leading: (() => boolean) | null;
    };
    const candidates: Candidate[] = [];
    const closers: (() => Promise<void>)[] = [];
    let sampler: NodeJS.Timeout | null = null;
    let samples = 0;
    let bothLed = 0;

    /** A second pool on PostgreSQL (so closing it is a real outage for that replica); the one PGlite otherwise. */
    function connect(): ReturnType<typeof breakable> {
      if (backend === 'postgres') {
        const own = openPostgres(s.pg!.url, { max: 2 });
        let closed = false;
        const close = async () => {
          if (!closed) await own.close();
          closed = true;
        };
        closers.push(close);
        return breakable(own, close);
      }
      return breakable(s.db);
    }
    /** A replica; `retryMs` null: the election's own interval for the 3 s lease. */
    function candidate(name: string, retryMs: number | null = 200): Candidate {
      const conn = connect();
      const c: Candidate = { name, conn, led: [], stopped: [], resumed: 0, leading: null, election: null as unknown as Election };
      c.election = new Election({
        db: conn.db,
        name: LEASE,
        holder: name,
        leaseSeconds: 3,
        retryMs: retryMs ?? undefined,
        log: { info() {}, warn() {} },
        lead: async (leading) => {
          c.leading = leading;
          c.led.push(performance.now());
          return {
            stop: async () => {
              c.stopped.push(performance.now());
            },
            resume: () => void c.resumed++,
            ready: () => true,
          };
        },
      });
      candidates.push(c);
      return c;
    }
    const leaders = () => candidates.filter((c) => c.election.isLeader);
    function startSampling() {
      sampler = setInterval(() => {
        samples++;
        if (leaders().length > 1) bothLed++;
      }, 2);
    }

    afterEach(async () => {
      if (sampler) clearInterval(sampler);
      sampler = null;
      await Promise.all(candidates.map((c) => c.election.stop()));
      candidates.length = 0;
      await Promise.all(closers.map((c) => c()));
      closers.length = 0;
      samples = 0;
      bothLed = 0;
    });

    it('lets exactly one of two replicas lead, and keeps it leading while it renews', async () => {
      const a = candidate('replica-a');
      const b = candidate('replica-b');
      startSampling();
      a.election.start();
      b.election.start();
      await until(() => leaders().length > 0, 'a leader', 5000, 5);
      const [leader] = leaders();
      const other = leader === a ? b : a;
      // Several renewal rounds of both (the follower keeps asking, and is refused).
      const from = { l: leader!.conn.calls, o: other.conn.calls };
      await until(() => leader!.conn.calls >= from.l + 6 && other.conn.calls >= from.o + 6, 'six more rounds of both', 10_000, 10);
      expect(leaders()).toEqual([leader]);
      expect(leader!.led).toHaveLength(1);
      expect(leader!.stopped).toHaveLength(0);
      expect(other.led).toHaveLength(0);
      expect(bothLed).toBe(0);
      expect(samples).toBeGreaterThan(0);
      expect((await leaseHolder(s.db, LEASE))!.holder).toBe(leader!.name);
    });

    it('renews a short lease often enough that it never lapses between two renewals', async () => {
      // With renewals every 2 s a 3 s lease counted as ours for only 1 s after each: it
      // was in doubt between any two, and each renewal "after a lapse" set off a resync.
      const a = candidate('replica-a', null);
      a.election.start();
      await until(() => a.election.isLeader, 'a leading', 5000, 5);
      let doubted = 0;
      const from = a.conn.calls;
      sampler = setInterval(() => void (a.election.isLeader || doubted++), 2);
      await until(() => a.conn.calls >= from + 3, 'three more renewals', 10_000, 10);
      expect(doubted).toBe(0);
      expect(a.resumed).toBe(0);
    });

    /** Replica a leads; b has been refused the lease twice. */
    async function aLeadsBWaits() {
      const a = candidate('replica-a');
      const b = candidate('replica-b');
      startSampling();
      a.election.start();
      await until(() => a.election.isLeader, 'a to lead', 5000, 5);
      b.election.start();
      await until(() => b.conn.calls >= 2, 'b to be refused twice', 5000, 5);
      return { a, b };
    }

    it('hands over quickly when the leader stops, without waiting for the lease to run out', async () => {
      const { a, b } = await aLeadsBWaits();
      expect(b.election.isLeader).toBe(false);
      const stoppedAt = performance.now();
      await a.election.stop();
      expect(a.stopped).toHaveLength(1);
      expect(a.election.isLeader).toBe(false);
      // The lease is 3 s: without the release b could lead only ~2.8 s or more after a's last renewal.
      await until(() => b.election.isLeader, 'b to take over', 2000, 5);
      expect(performance.now() - stoppedAt).toBeLessThan(2000);
      expect(b.led).toHaveLength(1);
      expect(bothLed).toBe(0);
      expect(await leaseHolder(s.db, LEASE)).toMatchObject({ holder: 'replica-b', epoch: 2, live: true });
    });

    it('stops a leader whose renewals fail before the other replica takes over', async () => {
      const { a, b } = await aLeadsBWaits();

      let aLostAt = 0;
      const watchA = setInterval(() => {
        if (!aLostAt && !a.election.isLeader) aLostAt = performance.now();
      }, 1);
      try {
        await a.conn.break(); // a's database is gone: every renewal fails
        await until(() => b.election.isLeader, 'b to take over after the lease ran out', 10_000, 5);
      } finally {
        clearInterval(watchA);
      }
      const bLedAt = b.led[0]!;
      expect(aLostAt).toBeGreaterThan(0);
      expect(aLostAt).toBeLessThan(bLedAt);
      expect(a.leading!()).toBe(false); // what a's observer checks before each write
      expect(bothLed).toBe(0);
      await until(() => a.stopped.length === 1, "a's observer to be stopped", 5000, 5);
      expect(await leaseHolder(s.db, LEASE)).toMatchObject({ holder: 'replica-b', epoch: 2 });
    });
  });
});
