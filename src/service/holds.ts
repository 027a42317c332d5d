// Connections a user holds open on this replica: event streams and requests
// waiting with ?wait=. Each is capped per user (KUBEKLOUD_MAX_EVENT_STREAMS_PER_USER,
// KUBEKLOUD_MAX_WAITS_PER_USER) so that one tenant cannot tie up a replica's
// sockets, memory and database reads. The counts are this process's own, in
// memory: a user may hold up to the cap on each replica, and a replica that
// dies drops its holds with its connections (nothing to expire or renew).
import { capMessage, retryAfterSeconds, type CappedThing } from '../domain/caps.ts';
import { RateLimited } from '../domain/errors.ts';

export type HeldThing = Exclude<CappedThing, 'tokens'>;

/** Gives the hold back; calling it again does nothing. */
export type Release = () => void;

export class Holds {
  /** Per thing, per user: each hold's expected end (ms; null: unknown, a stream). */
  private readonly held = new Map<HeldThing, Map<number, Set<{ until: number | null }>>>();

  constructor(
    private readonly caps: Record<HeldThing, number>,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /**
   * Takes a hold of `thing` for `userId`, expected to end by `untilMs` (a
   * wait's deadline) if known; throws RateLimited (429, with the seconds until
   * the first held one is expected to end) when the user holds the cap.
   */
  take(thing: HeldThing, userId: number, untilMs: number | null = null): Release {
    let users = this.held.get(thing);
    if (!users) this.held.set(thing, (users = new Map()));
    let mine = users.get(userId);
    if (!mine) users.set(userId, (mine = new Set()));
    const cap = this.caps[thing];
    if (mine.size >= cap) {
      const ends = [...mine].map((h) => h.until);
      const soonest = ends.includes(null) ? null : Math.min(...(ends as number[]));
      throw new RateLimited(capMessage(thing, mine.size, cap), retryAfterSeconds(thing, this.now(), soonest));
    }
    const hold = { until: untilMs };
    mine.add(hold);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      mine.delete(hold);
      if (mine.size === 0 && users.get(userId) === mine) users.delete(userId);
    };
  }

  /** How many of `thing` the user holds here now. */
  count(thing: HeldThing, userId: number): number {
    return this.held.get(thing)?.get(userId)?.size ?? 0;
  }
}
