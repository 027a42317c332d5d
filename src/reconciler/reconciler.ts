// The level-triggered loop: claims due rows from the database (so several
// replicas share the work without doing it twice), converges Kubernetes to
// them with bounded concurrency, and — on the one replica elected to — runs
// the observer.
import type { Kube } from '../kube/client.ts';
import { KubeError, toKubeError } from '../kube/errors.ts';
import type { RelistReason } from '../kube/listWatch.ts';
import type { Db } from '../store/db.ts';
import { claimDueClusters, claimDueInstances, DEFAULT_LEASE_SECONDS, retryWaitingOnKube, type SyncedMark } from '../store/work.ts';
import { ClaimKeeper, LostClaim, type Claim } from './claims.ts';
import { Election } from './election.ts';
import { startObserver, type ObserverEvent } from './observer.ts';
import { startScheduler } from './scheduler.ts';
import { reconcileCluster } from './reconcileCluster.ts';
import { markSynced, reconcileInstance } from './reconcileInstance.ts';
import { groupCommit, RECONCILER_LINGER_MS } from './groupCommit.ts';
import { advanceRollouts } from '../service/rollouts.ts';
import { pruneRetention } from '../service/audit.ts';
import type { ChangeNotifier } from '../service/changes.ts';

/** How often the observing replica prunes the audit log and history. */
const PRUNE_EVERY_MS = 3_600_000;

export type ReconcilerLog = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
};

export type ReconcileOutcome = 'ok' | 'error' | 'dropped';

export type ReconcilerOptions = {
  db: Db;
  /**
   * Where the observer lease and the claims are renewed (default: db). A
   * connection of their own: on a pool busy with the work they guard,
   * renewals queued behind it and came back late (a lapsed observer lease
   * lists everything again; a lapsed claim drops its work).
   */
  leases?: Db;
  kube: Kube;
  workerId: string;
  installation: string;
  concurrency: number;
  /** A live change fails when an instance it rolled is not running again within this long (default 600). */
  rolloutTimeoutSeconds?: number;
  /** Days the audit log and history are kept: pruned hourly by the observing replica. */
  retention?: { auditDays: number; historyDays: number };
  /** How long a claim holds before another replica may take the row over; renewed while the work runs. */
  leaseSeconds?: number;
  log: ReconcilerLog;
  onReconcile?: (kind: 'cluster' | 'instance', seconds: number, outcome: ReconcileOutcome) => void;
  /** Each list of a watched kind: at start, after a watch expired (410 Gone), after a handler failed, or a resync. */
  onRelist?: (kind: string, reason: RelistReason) => void;
  onObserverAction?: (e: ObserverEvent) => void;
  onObserverLeader?: (leading: boolean) => void;
  /** How many objects the observer holds until their rows' work is done. */
  onObserverDeferred?: (count: number) => void;
  /** Changes of clusters' rows as any replica commits them (the observer judges deferred objects again then). */
  changes?: ChangeNotifier;
  idlePollMs?: number;
  /** The observer lists and judges everything again this often (jittered; put off while the installation converges, at most one period). */
  resyncSeconds?: number;
  /** The periodic resync waited, the installation converging; `postponedMs` past its time so far. */
  onResyncPostponed?: (postponedMs: number) => void;
  /** A deleting cluster's namespace is looked at this often until it is gone (the observer wakes the row when its watch sees the end). */
  namespacePollSeconds?: number;
  /** The observer lease: another replica takes over this long after its holder stops renewing. */
  observerLeaseSeconds?: number;
  /** While Kubernetes is away, ask its /readyz this often; work waiting on it resumes as soon as it answers. */
  kubeProbeMs?: number;
  /** The elected replica looks for due power schedules and expiries this often (default 1000). */
  schedulerPollMs?: number;
};

export class Reconciler {
  private running = false;
  private inFlight = 0;
  private wakeUp: (() => void) | null = null;
  /** A wake came while a pass ran: the next pass starts at once. */
  private woken = false;
  private loop: Promise<void> | null = null;
  private readonly active = new Set<Promise<void>>();
  private probe: { done: Promise<void>; cancel: () => void } | null = null;
  private readonly claims: ClaimKeeper;
  private readonly election: Election;
  /** Instances that finish at about the same time are marked synced together. */
  private readonly markSynced: (mark: SyncedMark) => Promise<boolean>;

  constructor(private readonly o: ReconcilerOptions) {
    this.markSynced = groupCommit((marks: SyncedMark[]) => markSynced(o.db, marks), { lingerMs: RECONCILER_LINGER_MS });
    this.claims = new ClaimKeeper(o.leases ?? o.db, o.workerId, this.leaseSeconds, (c) => o.log.warn({ table: c.table, id: c.id }, 'claim lost while its work ran; its result will be dropped'));
    this.election = new Election({
      db: o.leases ?? o.db,
      name: o.installation,
      holder: o.workerId,
      leaseSeconds: o.observerLeaseSeconds ?? 10,
      log: o.log,
      onChange: o.onObserverLeader,
      lead: async (leading) => {
        const observer = startObserver({
          db: o.db,
          kube: o.kube,
          installation: o.installation,
          leading,
          wake: () => this.wake(),
          resyncSeconds: o.resyncSeconds ?? 300,
          onResyncPostponed: o.onResyncPostponed,
          changes: o.changes,
          onDeferred: o.onObserverDeferred,
          onError: (err, context) => o.log.warn({ reason: err instanceof KubeError ? err.reason : 'handler', context, err: err.message }, 'watch problem'),
          onRelist: (kind, reason) => {
            if (reason === 'expired') o.log.warn({ kind }, 'watch expired (410 Gone); relisted');
            o.onRelist?.(kind, reason);
          },
          onAction: (e) => {
            if (e.type === 'repair' && e.inARow >= 5) o.log.warn({ ...e }, 'drift keeps coming back: something fights KubeKloud over this object; repairs back off');
            else if (e.type === 'unknown') o.log.warn({ ...e }, 'object from beyond this database left in place');
            else o.log.info({ ...e }, e.type === 'repair' ? 'drift found; repair requested' : 'stray object deleted');
            o.onObserverAction?.(e);
          },
        });
        const prune = () => {
          if (!o.retention || !leading()) return;
          void pruneRetention(o.db, o.retention).then(
            (n) => n.audit + n.history > 0 && o.log.info({ ...n }, 'pruned entries past their retention'),
            (err: Error) => o.log.warn({ err: err.message }, 'pruning the audit log and history failed'),
          );
        };
        prune();
        const pruning = setInterval(prune, PRUNE_EVERY_MS);
        // Power schedules and expiries run on the same elected replica.
        const scheduler = startScheduler({ db: o.db, leading, wake: () => this.wake(), pollMs: o.schedulerPollMs, log: o.log });
        return {
          stop: async () => {
            clearInterval(pruning);
            await Promise.all([observer.stop(), scheduler.stop()]);
          },
          resume: () => observer.resync(),
          ready: () => observer.synced,
        };
      },
    });
  }

  private get leaseSeconds(): number {
    return this.o.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.claims.start();
    this.election.start();
    this.loop = this.run();
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /**
   * The periodic resync, now: every watched kind listed and judged again. Only
   * the replica holding the observer lease watches; false on any other.
   */
  resync(): boolean {
    return this.election.resume();
  }

  /** Whether this replica holds the observer lease now. */
  get observing(): boolean {
    return this.election.isLeader;
  }

  /** Whether this replica observes and its watches have listed every kind once (they see what changes from now on). */
  get observerSynced(): boolean {
    return this.election.ready;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    this.probe?.cancel();
    await this.loop;
    await Promise.allSettled([...this.active]);
    await this.probe?.done;
    await this.claims.stop();
    await this.election.stop();
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.woken = false;
      try {
        // Live changes first: an instance a roll moves on to is due in this same pass.
        await advanceRollouts(this.o.db, (this.o.rolloutTimeoutSeconds ?? 600) * 1000);
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, 'advancing live changes failed');
      }
      try {
        await this.claimAndDispatch();
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, 'claiming work failed');
      }
      if (!this.running) break;
      // Woken meanwhile: at once. Otherwise poll, or be woken: by new work
      // (a request, a repair, another replica's notice) or by reconciles ending.
      await new Promise<void>((resolve) => {
        if (this.woken) return resolve();
        const t = setTimeout(resolve, this.o.idlePollMs ?? 1000);
        this.wakeUp = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeUp = null;
    }
  }

  private async claimAndDispatch(): Promise<number> {
    let free = this.o.concurrency - this.inFlight;
    if (free <= 0) return 0;
    const ctx = {
      db: this.o.db,
      kube: this.o.kube,
      installation: this.o.installation,
      namespacePollMs: this.o.namespacePollSeconds && this.o.namespacePollSeconds * 1000,
      markSynced: this.markSynced,
    };
    let sentAt = performance.now();
    const clusters = await claimDueClusters(this.o.db, this.o.workerId, free, this.leaseSeconds);
    const clusterClaims = this.claims.take('clusters', clusters, sentAt);
    clusters.forEach((c, k) => this.dispatch('cluster', clusterClaims[k]!, (claim) => reconcileCluster(ctx, c, claim), { cluster: c.id, namespace: c.namespace }));
    free -= clusters.length;
    if (free <= 0) return clusters.length;
    sentAt = performance.now();
    const instances = await claimDueInstances(this.o.db, this.o.workerId, free, this.leaseSeconds);
    const instanceClaims = this.claims.take('instances', instances, sentAt);
    instances.forEach((i, k) => this.dispatch('instance', instanceClaims[k]!, (claim) => reconcileInstance(ctx, i, claim), { instance: i.id, name: i.name }));
    return clusters.length + instances.length;
  }

  private dispatch(kind: 'cluster' | 'instance', claim: Claim, work: (claim: Claim) => Promise<void>, ids: object): void {
    this.inFlight++;
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    const p = work(claim)
      .then(
        () => this.o.onReconcile?.(kind, seconds(), 'ok'),
        (err) => {
          if (err instanceof LostClaim) {
            // Another replica holds the row now and does the work; nothing of ours is recorded.
            this.o.onReconcile?.(kind, seconds(), 'dropped');
            this.o.log.warn({ kind, ...ids, err: err.message }, 'reconcile dropped');
            return;
          }
          this.o.onReconcile?.(kind, seconds(), 'error');
          if (!(err instanceof KubeError)) {
            this.o.log.warn({ kind, ...ids, err: (err as Error).message }, 'reconcile failed (database); retried when its claim runs out');
            return;
          }
          const e = toKubeError(err);
          if (e.outage) this.watchForKubeReturn();
          this.o.log.warn({ kind, ...ids, reason: e.reason, err: e.message }, 'reconcile failed; will retry');
        },
      )
      .finally(() => {
        this.claims.done(claim);
        this.inFlight--;
        this.active.delete(p);
        // Each pass costs its claim statements whatever it finds: the slots that
        // ends free are filled together, once half of them are free (new work
        // wakes a pass at once, and the idle poll comes anyway).
        if (this.inFlight <= this.o.concurrency / 2) this.wake();
      });
    this.active.add(p);
  }

  /**
   * Work that failed because Kubernetes was away backs off (up to a minute).
   * One probe per replica watches for its return and then makes all of that
   * work due at once, its backoff reset, so recovery does not wait out the
   * longest backoff. Only a return counts: if the first probe finds Kubernetes
   * ready, the 5xx was about one object (a failing webhook, say), and its row
   * keeps its backoff rather than being retried every second.
   */
  private watchForKubeReturn(): void {
    if (this.probe || !this.running) return;
    const every = this.o.kubeProbeMs ?? 1000;
    const since = Date.now();
    let timer: NodeJS.Timeout | undefined;
    let wakeProbe: () => void = () => {};
    let cancelled = false;
    const cancel = () => {
      cancelled = true;
      clearTimeout(timer);
      wakeProbe();
    };
    let away = false;
    const done = (async () => {
      while (!cancelled && this.running) {
        await new Promise<void>((resolve) => {
          wakeProbe = resolve;
          timer = setTimeout(resolve, every);
        });
        if (cancelled || !this.running) break;
        try {
          await this.o.kube.ready();
        } catch {
          away = true;
          continue; // still away
        }
        if (!away) break; // it never was: nothing to hurry
        try {
          const items = await retryWaitingOnKube(this.o.db);
          this.o.log.info({ items, awayMs: Date.now() - since }, 'Kubernetes is ready again; work that waited for it is due now');
          this.wake();
          break;
        } catch (err) {
          this.o.log.warn({ err: (err as Error).message }, 'could not requeue the work waiting for Kubernetes');
        }
      }
    })().finally(() => {
      this.probe = null;
    });
    this.probe = { done, cancel };
  }
}
