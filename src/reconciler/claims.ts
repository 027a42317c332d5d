// Claims as the reconciler holds them: the row's epoch, a local deadline that
// ends before the lease does, and a keeper that renews every held lease while
// the work runs. A reconcile asks its claim before each Kubernetes write and
// gives each call only the time the claim has left, so a replica that lost a
// row (its lease ran out while it was stalled, and another claimed it) stops
// instead of writing over the new holder's work. What it might still have
// written in the instant between the check and the write is found by the
// observer as drift and put back.
import type { Db } from '../store/db.ts';
import { renewClaims, type ClaimRef, type WorkTable } from '../store/work.ts';
import { DEFAULT_TIMEOUT_MS } from '../kube/rest.ts';

export class LostClaim extends Error {
  constructor(readonly table: WorkTable, readonly id: number, why: string) {
    super(`claim on ${table} ${id} lost: ${why}`);
  }
}

export class Claim implements ClaimRef {
  lost = false;
  private validUntil: number;
  constructor(
    readonly table: WorkTable,
    readonly id: number,
    readonly worker: string,
    readonly epoch: number,
    /** performance.now() when the claiming statement was sent. */
    claimedAt: number,
    private readonly leaseMs: number,
  ) {
    this.validUntil = claimedAt + leaseMs - Claim.marginMs(leaseMs);
  }

  /** Local safety margin: the claim is given up this much before the database would let it go. */
  static marginMs(leaseMs: number): number {
    return Math.max(250, leaseMs / 5);
  }

  /** Throws LostClaim when the claim was lost or may have run out. */
  check(): void {
    if (this.lost) throw new LostClaim(this.table, this.id, 'another replica claimed it');
    if (performance.now() >= this.validUntil) throw new LostClaim(this.table, this.id, 'its lease ran out before the work was done');
  }

  /** How long one Kubernetes call may take: never past the claim. */
  timeoutMs(): number {
    this.check();
    return Math.min(DEFAULT_TIMEOUT_MS, this.validUntil - performance.now());
  }

  renewedAt(sentAt: number): void {
    this.validUntil = Math.max(this.validUntil, sentAt + this.leaseMs - Claim.marginMs(this.leaseMs));
  }
}

/** Renews the leases of every claim a replica holds, a third of a lease apart. */
export class ClaimKeeper {
  private readonly held = new Set<Claim>();
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly worker: string,
    private readonly leaseSeconds: number,
    private readonly onLost: (claim: Claim) => void = () => {},
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.renew(), (this.leaseSeconds * 1000) / 3);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.renewing;
  }

  take(table: WorkTable, rows: { id: number; claim_epoch: number }[], claimedAt: number): Claim[] {
    return rows.map((r) => {
      const c = new Claim(table, r.id, this.worker, r.claim_epoch, claimedAt, this.leaseSeconds * 1000);
      this.held.add(c);
      return c;
    });
  }

  done(claim: Claim): void {
    this.held.delete(claim);
  }

  renew(): Promise<void> {
    if (this.renewing || this.held.size === 0) return this.renewing ?? Promise.resolve();
    this.renewing = (async () => {
      for (const table of ['clusters', 'instances'] as const) {
        const mine = [...this.held].filter((c) => c.table === table);
        if (mine.length === 0) continue;
        const sentAt = performance.now();
        try {
          const still = new Set(await renewClaims(this.db, table, this.worker, this.leaseSeconds, mine.map((c) => ({ id: c.id, epoch: c.epoch }))));
          for (const c of mine) {
            if (!this.held.has(c)) continue; // finished meanwhile
            if (still.has(c.id)) c.renewedAt(sentAt);
            else {
              c.lost = true;
              this.onLost(c);
            }
          }
        } catch {
          // The database is away: the claims run out on their local deadline.
        }
      }
    })().finally(() => {
      this.renewing = null;
    });
    return this.renewing;
  }
}
