// The level-triggered loop: claims due rows from the database (so several
// replicas share the work without doing it twice), converges Kubernetes to
// them with bounded concurrency, and runs the observers.
import { LABEL_CLUSTER, managedSelector } from '../domain/render.ts';
import type { Kube } from '../kube/client.ts';
import { toKubeError, type KubeError } from '../kube/errors.ts';
import type { ListWatchHandle } from '../kube/listWatch.ts';
import type { Db } from '../store/db.ts';
import { claimDueClusters, claimDueInstances, requestStaleClusterResync, retryWaitingOnKube } from '../store/work.ts';
import { startObservers } from './observe.ts';
import { reconcileCluster } from './reconcileCluster.ts';
import { reconcileInstance } from './reconcileInstance.ts';

export type ReconcilerLog = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
};

export type ReconcilerOptions = {
  db: Db;
  kube: Kube;
  workerId: string;
  installation: string;
  concurrency: number;
  /** How long a claim holds before another replica may take the row over. */
  leaseSeconds?: number;
  log: ReconcilerLog;
  onReconcile?: (kind: 'cluster' | 'instance', seconds: number, ok: boolean) => void;
  /** Each list of a watched kind: at start, or after a watch expired (410 Gone). */
  onRelist?: (kind: string, reason: 'start' | 'expired') => void;
  idlePollMs?: number;
  orphanSweepMs?: number;
  /** Re-apply each cluster's fences this often (drift repair for namespace-level objects). */
  resyncSeconds?: number;
  /** While Kubernetes is away, ask its /readyz this often; work waiting on it resumes as soon as it answers. */
  kubeProbeMs?: number;
};

export class Reconciler {
  private running = false;
  private inFlight = 0;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private observers: ListWatchHandle[] = [];
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly active = new Set<Promise<void>>();
  private probe: { done: Promise<void>; cancel: () => void } | null = null;

  constructor(private readonly o: ReconcilerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.observers = startObservers({
      db: this.o.db,
      kube: this.o.kube,
      selector: managedSelector(this.o.installation),
      wake: () => this.wake(),
      onError: (err, context) => this.o.log.warn({ reason: err.reason, context, err: err.message }, 'watch problem'),
      onRelist: (kind, reason) => {
        if (reason === 'expired') this.o.log.warn({ kind }, 'watch expired (410 Gone); relisted');
        this.o.onRelist?.(kind, reason);
      },
    });
    this.loop = this.run();
    this.sweepTimer = setInterval(() => void this.sweep(), this.o.orphanSweepMs ?? Math.min(60_000, (this.o.resyncSeconds ?? 300) * 500));
    this.sweepTimer.unref();
  }

  wake(): void {
    this.wakeUp?.();
  }

  get observersSynced(): boolean {
    return this.observers.every((o) => o.synced);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.wake();
    this.probe?.cancel();
    await this.loop;
    await Promise.allSettled([...this.active]);
    await this.probe?.done;
    await Promise.all(this.observers.map((o) => o.stop()));
  }

  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0;
      try {
        claimed = await this.claimAndDispatch();
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, 'claiming work failed');
      }
      if (!this.running) break;
      // Busy: come back as soon as a slot frees. Idle: poll, or be woken.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, claimed > 0 && this.inFlight < this.o.concurrency ? 0 : (this.o.idlePollMs ?? 1000));
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
    const clusters = await claimDueClusters(this.o.db, this.o.workerId, free, this.o.leaseSeconds);
    for (const c of clusters) this.dispatch('cluster', () => reconcileCluster(this.o.db, this.o.kube, this.o.installation, c), { cluster: c.id, namespace: c.namespace });
    free -= clusters.length;
    if (free <= 0) return clusters.length;
    const instances = await claimDueInstances(this.o.db, this.o.workerId, free, this.o.leaseSeconds);
    for (const i of instances) this.dispatch('instance', () => reconcileInstance(this.o.db, this.o.kube, this.o.installation, i), { instance: i.id, name: i.name });
    return clusters.length + instances.length;
  }

  private dispatch(kind: 'cluster' | 'instance', work: () => Promise<void>, ids: object): void {
    this.inFlight++;
    const started = performance.now();
    const p = work()
      .then(
        () => this.o.onReconcile?.(kind, (performance.now() - started) / 1000, true),
        (err) => {
          const e: KubeError = toKubeError(err);
          if (e.outage) this.watchForKubeReturn();
          this.o.onReconcile?.(kind, (performance.now() - started) / 1000, false);
          this.o.log.warn({ kind, ...ids, reason: e.reason, err: e.message }, 'reconcile failed; will retry');
        },
      )
      .finally(() => {
        this.inFlight--;
        this.active.delete(p);
        this.wake();
      });
    this.active.add(p);
  }

  /**
   * Work that failed because Kubernetes was away backs off (up to a minute).
   * One probe per replica watches for its return and then makes all of that
   * work due at once, so recovery does not wait out the longest backoff.
   * Only a return counts: if the first probe finds Kubernetes ready, the 5xx
   * was about one object (a failing webhook, say), and its row keeps its
   * backoff rather than being retried every second.
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

  private async sweep(): Promise<void> {
    await this.collectOrphanNamespaces();
    try {
      if ((await requestStaleClusterResync(this.o.db, this.o.resyncSeconds ?? 300)) > 0) this.wake();
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'cluster resync request failed');
    }
  }

  /** A labelled namespace with no cluster row is left from a lost delete: remove it. */
  async collectOrphanNamespaces(): Promise<number> {
    try {
      const { items } = await this.o.kube.list('v1', 'Namespace', managedSelector(this.o.installation));
      const ids = items.map((ns) => Number(ns.metadata?.labels?.[LABEL_CLUSTER])).filter((n) => Number.isSafeInteger(n));
      const known = new Set(
        (await this.o.db.query<{ id: number }>('SELECT id FROM clusters WHERE id = ANY($1::int[])', [ids])).map((r) => r.id),
      );
      let removed = 0;
      for (const ns of items) {
        const id = Number(ns.metadata?.labels?.[LABEL_CLUSTER]);
        if (Number.isSafeInteger(id) && !known.has(id) && !ns.metadata?.deletionTimestamp) {
          await this.o.kube.remove({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.metadata!.name! } });
          removed++;
        }
      }
      return removed;
    } catch (err) {
      this.o.log.warn({ err: toKubeError(err).message }, 'orphan namespace sweep failed');
      return 0;
    }
  }
}
