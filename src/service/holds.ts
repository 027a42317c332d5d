// Connections a user holds open: event streams and requests waiting with
// ?wait=. Each is capped per user across every replica
// (KUBEKLOUD_MAX_EVENT_STREAMS_PER_USER, KUBEKLOUD_MAX_WAITS_PER_USER) so
// that one tenant cannot tie up the servers' sockets, memory and database
// reads: a hold is a row (src/store/connectionHolds.ts) naming this replica,
// and the holds of a replica that is gone stop counting at once (it no
// longer listens for notifications). A release that cannot reach the
// database is retried until it does. A user refused at a cap is refused again
// from memory for up to a second (never past the Retry-After it was given),
// unless one of its holds here ends first: a tenant knocking at its caps
// costs the database nothing more.
import { capMessage, retryAfterSeconds, type CappedThing } from '../domain/caps.ts';
import { RateLimited } from '../domain/errors.ts';
import { countHolds, releaseHold, takeHold } from '../store/connectionHolds.ts';
import type { Db } from '../store/db.ts';

export type HeldThing = Exclude<CappedThing, 'tokens'>;

/** Gives the hold back; calling it again does nothing. */
export type Release = () => void;

const RETRY_RELEASE_MS = 5000;
/** How long a refusal at a cap is repeated without asking the database. */
const REFUSAL_KEPT_MS = 1000;

export class Holds {
  /** Releases the database did not take yet. */
  private readonly unreleased = new Set<number>();
  private retry: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Per thing and user refused at its cap: the refusal, and until when it is repeated as is. */
  private readonly refused = new Map<string, { message: string; retryAt: number; keptUntil: number }>();

  constructor(
    private readonly db: Db,
    private readonly caps: Record<HeldThing, number>,
    /** This replica's name on the notification channel. */
    private readonly replica: string,
  ) {}

  /**
   * Takes a hold of `thing` for `userId`, expected to end by `untilMs` (a
   * wait's deadline) if known; throws RateLimited (429, with the seconds until
   * the first held one is expected to end) when the user holds the cap.
   */
  async take(thing: HeldThing, userId: number, untilMs: number | null = null): Promise<Release> {
    const cap = this.caps[thing];
    const key = `${thing}:${userId}`;
    const now = Date.now();
    const known = this.refused.get(key);
    if (known && known.keptUntil > now) throw new RateLimited(known.message, Math.max(1, Math.ceil((known.retryAt - now) / 1000)));
    if (known) this.refused.delete(key);
    const out = await this.db.transaction((tx) =>
      takeHold(tx, {
        userId,
        kind: thing,
        replica: this.replica,
        until: untilMs === null ? null : new Date(untilMs),
        cap,
        onlyThisReplica: this.db.kind === 'pglite',
      }),
    );
    if (!('id' in out)) {
      const message = capMessage(thing, out.held, cap);
      const retry = retryAfterSeconds(thing, Date.now(), out.soonest?.getTime() ?? null);
      const t = Date.now();
      if (this.refused.size >= 10_000) for (const [k, r] of this.refused) if (r.keptUntil <= t) this.refused.delete(k);
      this.refused.set(key, { message, retryAt: t + retry * 1000, keptUntil: t + Math.min(REFUSAL_KEPT_MS, retry * 1000) });
      throw new RateLimited(message, retry);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.refused.delete(key); // a seat is free: the next take asks the database
      this.release(out.id);
    };
  }

  private release(id: number): void {
    releaseHold(this.db, id).catch(() => {
      if (this.stopped) return; // the process is ending: its seats go with its notification connection
      this.unreleased.add(id);
      this.retry ??= setTimeout(() => void this.retryReleases(), RETRY_RELEASE_MS);
    });
  }

  private async retryReleases(): Promise<void> {
    this.retry = null;
    const ids = [...this.unreleased];
    this.unreleased.clear();
    for (const id of ids) this.release(id);
  }

  /** How many of `thing` the user holds, on every replica. */
  count(thing: HeldThing, userId: number): Promise<number> {
    return countHolds(this.db, userId, thing);
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }
}
