// Prometheus metrics: one registry per process (or per test app, so tests can
// run several). The HTTP layer, the Kubernetes client, the reconciler and the
// event streams report through the observe* functions; what is read only when
// scraped (the database pool, the work queue) comes from the functions given
// here, so this module depends on nothing in src/ outside this folder (the
// list collector's step, for a counter's help, from heapRelease.ts).
import client from 'prom-client';
import { LIST_OLD_SPACE_GROWTH_BYTES, type ListCollection, type Release } from './heapRelease.ts';

export type Metrics = ReturnType<typeof createMetrics>;

export type MetricSources = {
  /** Connections of the database pool right now. */
  poolStats: () => { total: number; idle: number; waiting: number };
  /** Rows waiting for the reconciler and the age of the oldest; may fail while the database is away. */
  queueDepth: () => Promise<{ depth: number; lagSeconds: number }>;
};

export function createMetrics(sources: MetricSources) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new client.Histogram({
    name: 'kubekloud_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const httpErrors = new client.Counter({
    name: 'kubekloud_http_errors_total',
    help: 'HTTP responses with status >= 400 by route and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [registry],
  });
  const kubeDuration = new client.Histogram({
    name: 'kubekloud_kube_request_duration_seconds',
    help: 'Kubernetes API call duration by verb, kind and outcome',
    labelNames: ['verb', 'kind', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const reconcileDuration = new client.Histogram({
    name: 'kubekloud_reconcile_duration_seconds',
    help: 'Reconcile duration by object kind and outcome',
    labelNames: ['kind', 'outcome'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const relists = new client.Counter({
    name: 'kubekloud_watch_relists_total',
    help: 'Lists of a watched kind: at start, after its watch expired (410 Gone), after a handler failed, or a periodic resync',
    labelNames: ['kind', 'reason'] as const,
    registers: [registry],
  });
  const observerLeader = new client.Gauge({
    name: 'kubekloud_observer_leader',
    help: '1 while this replica holds the observer lease (watches, drift repair, orphan collection, resyncs)',
    registers: [registry],
  });
  const driftRepairs = new client.Counter({
    name: 'kubekloud_drift_repairs_total',
    help: 'Objects found changed or deleted behind KubeKloud\'s back, whose repair was requested, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const unknownKept = new client.Counter({
    name: 'kubekloud_objects_beyond_database_total',
    help: 'Judgements of labelled objects naming a cluster or instance id this database never issued (restored from an older backup, or another database): left in place, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const straysDeleted = new client.Counter({
    name: 'kubekloud_strays_deleted_total',
    help: 'Labelled objects nothing renders (orphans and strays), deleted, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const deferred = new client.Gauge({
    name: 'kubekloud_observer_deferred_objects',
    help: 'Objects changed or deleted while work was pending on their rows, to be judged again once it is done (on the observing replica)',
    registers: [registry],
  });
  const resyncsPostponed = new client.Counter({
    name: 'kubekloud_resyncs_postponed_total',
    help: 'Looks at a due periodic resync that found the installation converging (work due, or statuses moving) and waited 5 s more (at most one period in all) instead of competing with it',
    registers: [registry],
  });
  new client.Gauge({
    name: 'kubekloud_db_pool_connections',
    help: 'Database pool connections by state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const s = sources.poolStats();
      this.set({ state: 'in_use' }, s.total - s.idle);
      this.set({ state: 'idle' }, s.idle);
      this.set({ state: 'waiting' }, s.waiting);
    },
  });
  const notificationsUp = new client.Gauge({
    name: 'kubekloud_notifications_connected',
    help: '1 while this replica hears every replica\'s changes as they commit; 0 while it polls instead',
    registers: [registry],
  });
  const notices = new client.Counter({
    name: 'kubekloud_notifications_total',
    help: 'Notifications of changes handled by this replica',
    registers: [registry],
  });
  const feedPolls = new client.Counter({
    name: 'kubekloud_event_feed_polls_total',
    help: 'Polls of the database for changes to the clusters whose event streams are open (one per process per second, only while notifications are down), by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const streamReads = new client.Counter({
    name: 'kubekloud_event_stream_reads_total',
    help: 'Reads of a cluster by its event streams (after a change, or every 15 s)',
    registers: [registry],
  });
  const isolationFailing = new client.Gauge({
    name: 'kubekloud_isolation_checks_failing',
    help: 'Clusters failing each isolation check, as of the last fleet view (GET /api/v1/isolation) this replica answered',
    labelNames: ['check'] as const,
    registers: [registry],
  });
  const heapReleases = new client.Counter({
    name: 'kubekloud_heap_releases_total',
    help: 'Collections this process started to give memory V8 no longer uses back to the system, once quiet after a burst of work',
    registers: [registry],
  });
  const heapReleasedBytes = new client.Counter({
    name: 'kubekloud_heap_released_bytes_total',
    help: 'Resident memory given back by those collections',
    registers: [registry],
  });
  const heapReleaseSeconds = new client.Counter({
    name: 'kubekloud_heap_release_pause_seconds_total',
    help: 'Time the event loop spent in those collections',
    registers: [registry],
  });
  const listCollections = new client.Counter({
    name: 'kubekloud_list_collections_total',
    help: `Full collections this process ran between the pages of Kubernetes lists, V8's old space having grown by ${LIST_OLD_SPACE_GROWTH_BYTES / 2 ** 20} MiB`,
    registers: [registry],
  });
  const listCollectionSeconds = new client.Counter({
    name: 'kubekloud_list_collection_pause_seconds_total',
    help: 'Time the event loop spent in those collections',
    registers: [registry],
  });
  const depth = new client.Gauge({ name: 'kubekloud_reconcile_queue_depth', help: 'Rows waiting for the reconciler', registers: [registry] });
  const lag = new client.Gauge({ name: 'kubekloud_reconcile_queue_lag_seconds', help: 'Age of the oldest due row', registers: [registry] });

  return {
    registry,
    observeHttp(method: string, route: string, status: number, seconds: number) {
      const labels = { method, route, status_code: String(status) };
      httpDuration.observe(labels, seconds);
      if (status >= 400) httpErrors.inc(labels);
    },
    observeKube(verb: string, kind: string, seconds: number, ok: boolean) {
      kubeDuration.observe({ verb, kind, outcome: ok ? 'ok' : 'error' }, seconds);
    },
    observeReconcile(kind: string, seconds: number, outcome: 'ok' | 'error' | 'dropped') {
      reconcileDuration.observe({ kind, outcome }, seconds);
    },
    observeObserverLeader(leading: boolean) {
      observerLeader.set(leading ? 1 : 0);
    },
    observeObserverAction(e: { type: 'repair' | 'stray' | 'unknown'; kind: string }) {
      (e.type === 'repair' ? driftRepairs : e.type === 'stray' ? straysDeleted : unknownKept).inc({ kind: e.kind });
    },
    observeDeferred(count: number) {
      deferred.set(count);
    },
    observeResyncPostponed() {
      resyncsPostponed.inc();
    },
    observeRelist(kind: string, reason: string) {
      relists.inc({ kind, reason });
    },
    /** Clusters failing each check, from a fleet view: every check named, 0 included. */
    observeIsolation(failing: Record<string, number>) {
      for (const [check, n] of Object.entries(failing)) isolationFailing.set({ check }, n);
    },
    observeNotifications(up: boolean) {
      notificationsUp.set(up ? 1 : 0);
    },
    observeNotice() {
      notices.inc();
    },
    observeFeedPoll(ok: boolean) {
      feedPolls.inc({ outcome: ok ? 'ok' : 'error' });
    },
    observeStreamRead() {
      streamReads.inc();
    },
    observeListCollection(c: ListCollection) {
      listCollections.inc();
      listCollectionSeconds.inc(c.ms / 1000);
    },
    observeHeapRelease(r: Release) {
      heapReleases.inc();
      heapReleasedBytes.inc(Math.max(0, r.rssBeforeBytes - r.rssAfterBytes));
      heapReleaseSeconds.inc(r.ms / 1000);
    },
    async render(): Promise<string> {
      try {
        const q = await sources.queueDepth();
        depth.set(q.depth);
        lag.set(q.lagSeconds);
      } catch {
        // The database may be down; the other metrics still answer.
      }
      return registry.metrics();
    },
  };
}
