// Which replica observes: the holder of the installation's observer lease (a
// row in PostgreSQL, see store/leases.ts). Every replica tries to take or renew
// it every `retryMs`; the holder runs the observer, and steps down as soon as a
// renewal fails to come back in time, before any other replica could take the
// lease over. When the holder dies, another replica takes over once the lease
// has expired: within leaseSeconds + retryMs.
import type { Db } from '../store/db.ts';
import { acquireOrRenewLease, releaseLease } from '../store/leases.ts';

/** What the leader runs: how to stop it, make good what it skipped while its lease was in doubt, and whether it is ready. */
export type Led = { stop: () => Promise<void>; resume: () => void; ready: () => boolean };

export type ElectionOptions = {
  db: Db;
  name: string;
  holder: string;
  leaseSeconds: number;
  retryMs?: number;
  /**
   * Runs while this replica leads; resolves to how to stop it, how to make
   * good what it skipped while its lease was in doubt (a renewal came back
   * late), and whether it is ready.
   */
  lead: (leading: () => boolean) => Promise<Led>;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  onChange?: (leading: boolean) => void;
};

export class Election {
  private timer: NodeJS.Timeout | null = null;
  private led: Led | null = null;
  private leading = false;
  /** performance.now() when the last renewal that came back was sent. */
  private renewedAt = 0;
  private ticking: Promise<void> = Promise.resolve();
  private running = false;

  constructor(private readonly o: ElectionOptions) {}

  /** Whether this replica leads and what it runs as leader says it is ready (the observer: every kind listed once). */
  get ready(): boolean {
    return this.isLeader && (this.led?.ready() ?? false);
  }

  get isLeader(): boolean {
    return this.leading && this.stillValid();
  }

  /** What the leader does on a lapsed lease, asked for: false when this replica does not lead. */
  resume(): boolean {
    if (!this.led) return false;
    this.led.resume();
    return true;
  }

  start(): void {
    this.running = true;
    const tick = () => {
      this.ticking = this.tick().finally(() => {
        if (this.running) this.timer = setTimeout(tick, this.retryMs);
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    const wasLeading = this.leading;
    await this.stepDown('shutting down');
    // Hand over at once rather than after the lease expires.
    if (wasLeading) await releaseLease(this.o.db, this.o.name, this.o.holder).catch(() => {});
  }

  /**
   * Every 2 s, or a fifth of a shorter lease: the lease counts as ours for a
   * lease less this after a renewal was sent, so renewals every retryMs keep
   * it valid with room for three late ones (with a 3 s lease and renewals
   * every 2 s it lapsed between any two, each time setting off a full
   * resync).
   */
  private get retryMs(): number {
    return this.o.retryMs ?? Math.min(2000, (this.o.leaseSeconds * 1000) / 5);
  }

  /** The lease may still be ours: the last renewal was sent less than a lease ago, less a margin. */
  private stillValid(): boolean {
    return performance.now() - this.renewedAt < this.o.leaseSeconds * 1000 - this.retryMs;
  }

  private async tick(): Promise<void> {
    const sentAt = performance.now();
    let held = false;
    try {
      const hold = await acquireOrRenewLease(this.o.db, this.o.name, this.o.holder, this.o.leaseSeconds);
      held = hold !== null;
      if (hold) {
        // While the lease was in doubt the observer wrote nothing; it lists everything again.
        const lapsed = this.leading && !this.stillValid();
        const lastRenewedAt = this.renewedAt;
        this.renewedAt = sentAt;
        if (!this.leading) await this.startLeading(hold.epoch);
        else if (lapsed) {
          this.o.log.warn(
            { holder: this.o.holder, sinceRenewalMs: Math.round(performance.now() - lastRenewedAt) },
            'observer lease renewed after a lapse; listing everything again',
          );
          this.led?.resume();
        }
        return;
      }
    } catch (err) {
      if (this.leading && this.stillValid()) return; // one missed renewal: the lease is still ours
      if (this.leading) this.o.log.warn({ err: (err as Error).message }, 'observer lease could not be renewed in time');
    }
    if (!held && this.leading) await this.stepDown('lost the observer lease');
  }

  private async startLeading(epoch: number): Promise<void> {
    this.leading = true;
    this.o.log.info({ holder: this.o.holder, epoch }, 'observer lease taken: this replica watches, repairs drift and collects orphans');
    this.o.onChange?.(true);
    try {
      this.led = await this.o.lead(() => this.isLeader);
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'starting the observer failed');
      await this.stepDown('observer failed to start');
    }
  }

  private async stepDown(why: string): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.o.onChange?.(false);
    const led = this.led;
    this.led = null;
    if (why !== 'shutting down') this.o.log.warn({ holder: this.o.holder }, `observer stopped: ${why}`);
    await led?.stop();
  }
}
