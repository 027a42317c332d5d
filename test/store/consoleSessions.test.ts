// Console seats (src/store/consoleSessions.ts) on PostgreSQL and PGlite: the
// limit per token and instance, seats freed on release or once their holder
// stops renewing them, and the limit holding when many replicas ask at once.
import { describe, expect, it } from 'vitest';
import { releaseSeat, renewSeats, takeSeat, type NewSeat } from '../../src/store/consoleSessions.ts';
import { BACKENDS, useStore } from '../support/stores.ts';

describe.each(BACKENDS)('console seats on %s', (backend) => {
  const s = useStore(backend, 'console_sessions RESTART IDENTITY');
  const seat = (o: Partial<NewSeat> = {}): NewSeat => ({ instanceId: 7, userId: 1, tokenId: 11, kind: 'serial', replica: 'r1', requestId: 'q', ...o });
  const take = (o: Partial<NewSeat> = {}, limit = 1, alive = 30) => s.db.transaction((tx) => takeSeat(tx, seat(o), limit, alive));

  it('one token takes up to the limit on one instance; other tokens and instances have their own', async () => {
    expect(await take()).toBe(1);
    expect(await take()).toBeNull();
    expect(await take({ kind: 'vnc' })).toBeNull(); // serial and VNC share the seats
    expect(await take({ tokenId: 12 })).not.toBeNull();
    expect(await take({ instanceId: 8 })).not.toBeNull();
    expect(await take({}, 2)).not.toBeNull(); // a limit of 2 admits a second
    expect(await take({}, 2)).toBeNull();
  });

  it('a released seat is free again, with its totals kept', async () => {
    const id = (await take())!;
    await renewSeats(s.db, [{ id, toInstance: 5, fromInstance: 900 }], 30);
    await releaseSeat(s.db, id, { reason: 'the client closed it (1000)', toInstance: 6, fromInstance: 1000 });
    expect(await take()).not.toBeNull();
    const [row] = await s.db.query<Record<string, unknown>>('SELECT closed_at, close_reason, bytes_to_instance, bytes_from_instance FROM console_sessions WHERE id = $1', [id]);
    expect(row).toMatchObject({ close_reason: 'the client closed it (1000)', bytes_to_instance: 6, bytes_from_instance: 1000 });
    expect(row!.closed_at).toBeInstanceOf(Date);
  });

  it("a seat whose holder stopped renewing it (a replica that died) stops counting; a renewed one keeps counting", async () => {
    const kept = (await take({ tokenId: 21 }, 1, 0.3))!;
    await take({ tokenId: 22 }, 1, 0.3);
    await new Promise((r) => setTimeout(r, 150));
    await renewSeats(s.db, [{ id: kept, toInstance: 0, fromInstance: 0 }], 30);
    await new Promise((r) => setTimeout(r, 300));
    expect(await take({ tokenId: 21 })).toBeNull();
    expect(await take({ tokenId: 22 })).not.toBeNull();
  });

  it('many replicas asking at once for the last seat: exactly one gets it (ten rounds, so a race would show)', async () => {
    for (let round = 0; round < 10; round++) {
      const got = await Promise.all(Array.from({ length: 12 }, (_, i) => take({ instanceId: 100 + round, replica: `r${i}` })));
      expect({ round, winners: got.filter((x) => x !== null).length }).toEqual({ round, winners: 1 });
    }
  });
});
