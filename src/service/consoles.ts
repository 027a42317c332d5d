// Serial and VNC console sessions of VM instances: who may open one, the seat
// it holds (at most KUBEKLOUD_CONSOLE_SESSIONS_PER_TOKEN per token and
// instance, across every replica), the idle timeout, and the audit rows of its
// open and close (who, which instance, how long, how many bytes each way).
// The bytes themselves are carried by the HTTP edge between the client's
// WebSocket and the VMI's stream it is handed; this module only counts them.
import { busy, forbidden, notFound } from '../domain/errors.ts';
import { findClusters } from '../store/clusters.ts';
import { releaseSeat, renewSeats, takeSeat, type ConsoleKind } from '../store/consoleSessions.ts';
import { findInstance } from '../store/instances.ts';
import { recordAudit } from './audit.ts';
import { ownerScope, type Principal, type Services } from './context.ts';

export type { ConsoleKind };

/** Where a session's stream comes from: the VMI behind the instance. */
export type ConsoleTarget = { namespace: string; vmi: string; instanceName: string };

/** How long a seat counts without being renewed; renewed every third of it. */
const SEAT_ALIVE_SECONDS = 30;

export const CONSOLE_ROUTES: Record<ConsoleKind, string> = {
  serial: '/api/v1/instances/:id/console',
  vnc: '/api/v1/instances/:id/vnc',
};

/** One per process: the sessions this replica carries, whose seats it keeps alive. */
export class ConsoleSessions {
  private readonly open = new Set<ConsoleSession>();
  private readonly renewer: NodeJS.Timeout;

  constructor(
    private readonly s: Services,
    private readonly replica: string,
  ) {
    this.renewer = setInterval(() => void this.renew(), (SEAT_ALIVE_SECONDS * 1000) / 3);
    this.renewer.unref();
  }

  /**
   * The target of a console session on `instanceId`, if `p` may open one now:
   * 404 when the instance is not theirs (or gone), 409 naming why when it is
   * not a running VM. Takes nothing yet.
   */
  async target(p: Principal, instanceId: number, kind: ConsoleKind): Promise<ConsoleTarget> {
    const row = await findInstance(this.s.db, instanceId, ownerScope(p));
    if (!row || row.cluster_state === 'deleting' || row.desired === 'deleted') throw notFound(`Instance with id ${instanceId}`);
    const what = kind === 'serial' ? 'a serial console' : 'a VNC console';
    if (row.instance_type !== 'vm') throw busy(`Instance '${row.name}' is a container: only VM instances have ${what}`);
    if (row.status !== 'running') throw busy(`Instance '${row.name}' is ${row.status}: ${what} opens only while the VM is running`);
    const [cluster] = await findClusters(this.s.db, [row.cluster_id]);
    if (!cluster) throw notFound(`Instance with id ${instanceId}`);
    return { namespace: cluster.namespace, vmi: row.name, instanceName: row.name };
  }

  /**
   * Takes a seat for the session (409 when the token already holds as many as
   * allowed on this instance). The session is not carrying bytes yet: call
   * `start` once the streams are joined, or `close` if that failed.
   */
  async begin(p: Principal, instanceId: number, kind: ConsoleKind, requestId: string): Promise<ConsoleSession> {
    // A console types into the machine: a read-only token may not open one.
    if (!p.scopes.includes('write')) throw forbidden("A console session types into the instance: it needs a token with the 'write' scope");
    const limit = this.s.config.console.sessionsPerToken;
    const seat = await this.s.db.transaction((tx) =>
      takeSeat(tx, { instanceId, userId: p.userId, tokenId: p.tokenId, kind, replica: this.replica, requestId }, limit, SEAT_ALIVE_SECONDS),
    );
    if (seat === null) {
      throw busy(
        `This token already has ${limit === 1 ? 'a console session' : `${limit} console sessions`} open on instance ${instanceId}; close ${limit === 1 ? 'it' : 'one'} first (KUBEKLOUD_CONSOLE_SESSIONS_PER_TOKEN=${limit})`,
      );
    }
    const session = new ConsoleSession(this.s, this, seat, p, instanceId, kind, requestId);
    this.open.add(session);
    return session;
  }

  /** @internal */
  forget(session: ConsoleSession): void {
    this.open.delete(session);
  }

  /** How many sessions this replica carries now. */
  get size(): number {
    return this.open.size;
  }

  private async renew(): Promise<void> {
    const seats = [...this.open].map((x) => ({ id: x.seat, toInstance: x.bytesToInstance, fromInstance: x.bytesFromInstance }));
    await renewSeats(this.s.db, seats, SEAT_ALIVE_SECONDS).catch(() => {});
  }

  /** Ends every session this replica carries (their seats freed, their close audited). */
  async closeAll(reason: string): Promise<void> {
    await Promise.allSettled([...this.open].map((x) => x.close(reason)));
  }

  /** Stops renewing (the process is shutting down: its sessions are closed by the edge). */
  stop(): void {
    clearInterval(this.renewer);
  }
}

/** One open session: its seat, its byte counts and its idle clock. */
export class ConsoleSession {
  bytesToInstance = 0;
  bytesFromInstance = 0;
  readonly openedAt = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private onIdle: () => void = () => {};
  private closed: Promise<void> | null = null;
  private started = false;

  constructor(
    private readonly s: Services,
    private readonly sessions: ConsoleSessions,
    readonly seat: number,
    readonly principal: Principal,
    readonly instanceId: number,
    readonly kind: ConsoleKind,
    readonly requestId: string,
  ) {}

  get idleSeconds(): number {
    return this.s.config.console.idleSeconds;
  }

  /**
   * The streams are joined: writes the "open" audit row and starts the idle
   * clock; `idle` is called once nothing went either way for
   * KUBEKLOUD_CONSOLE_IDLE_SECONDS.
   */
  async start(idle: () => void): Promise<void> {
    this.started = true;
    this.onIdle = idle;
    this.touch();
    await audit(this.s, this, 101, { event: 'console.open' });
  }

  toInstance(n: number): void {
    this.bytesToInstance += n;
    this.touch();
  }

  fromInstance(n: number): void {
    this.bytesFromInstance += n;
    this.touch();
  }

  private touch(): void {
    if (this.closed) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.onIdle(), this.idleSeconds * 1000);
  }

  /**
   * Frees the seat and writes the "close" audit row (or, for a session that
   * never started, one row with `failedStatus` saying why); once, whoever
   * calls first.
   */
  close(reason: string, failedStatus = 502): Promise<void> {
    this.closed ??= (async () => {
      clearTimeout(this.idleTimer);
      this.sessions.forget(this);
      const totals = { toInstance: this.bytesToInstance, fromInstance: this.bytesFromInstance };
      await releaseSeat(this.s.db, this.seat, { reason, ...totals });
      if (!this.started) return audit(this.s, this, failedStatus, { event: 'console.failed', reason });
      await audit(this.s, this, 101, {
        event: 'console.close',
        reason,
        duration_seconds: (Date.now() - this.openedAt) / 1000,
        bytes_to_instance: totals.toInstance,
        bytes_from_instance: totals.fromInstance,
      });
    })();
    return this.closed;
  }
}

async function audit(s: Services, x: ConsoleSession, statusCode: number, detail: Record<string, unknown>): Promise<void> {
  await recordAudit(s.db, {
    actorId: x.principal.userId,
    actor: x.principal.username,
    method: 'GET',
    route: CONSOLE_ROUTES[x.kind],
    target: String(x.instanceId),
    // 101: the session was switched to WebSocket; what happened to it is in detail.
    statusCode,
    requestId: x.requestId,
    detail: { ...detail, kind: x.kind, session: x.seat },
  });
}
