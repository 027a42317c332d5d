// Connections held open on behalf of a token (event streams, console
// sessions) end as soon as the token stops working: revoked, expired, its user
// disabled or deleted, or given another role. They are looked at again
// whenever access changes on any replica (src/service/notifications.ts), and
// every minute while any is open (a token that expires changes no row).
import { stillWorkingTokens } from '../store/tokens.ts';
import type { Principal, Services } from './context.ts';

const RECHECK_EVERY_MS = 60_000;

export class AccessWatch {
  private readonly held = new Set<{ p: Principal; end: () => void }>();
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private again = false;
  private readonly unsubscribe: (() => void) | undefined;

  constructor(
    private readonly s: Pick<Services, 'db' | 'changes'>,
    private readonly everyMs = RECHECK_EVERY_MS,
  ) {
    this.unsubscribe = s.changes?.onAccess(() => void this.recheck());
  }

  /** `end` is called once `p`'s token stops working; returns the unhold (call it when the connection ends). */
  hold(p: Principal, end: () => void): () => void {
    const h = { p, end };
    this.held.add(h);
    this.timer ??= setInterval(() => void this.recheck(), this.everyMs);
    return () => {
      this.held.delete(h);
      if (this.held.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  /** Looks at every held token once more (a change heard during a look is looked at after it). */
  recheck(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.again = false;
        const held = [...this.held];
        if (held.length === 0) break;
        let working: Map<number, Principal['role']>;
        try {
          working = await stillWorkingTokens(this.s.db, [...new Set(held.map((h) => h.p.tokenId))]);
        } catch {
          break; // the database is away: looked at again on the next change or minute
        }
        for (const h of held) {
          if (working.get(h.p.tokenId) === h.p.role || !this.held.has(h)) continue;
          this.held.delete(h);
          h.end();
        }
      } while (this.again);
    })().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  stop(): void {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
