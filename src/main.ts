// The process: configuration, database, Kubernetes, reconciler, the HTTP
// server, the metrics listener on a port of its own, and a graceful shutdown
// on SIGTERM / SIGINT; SIGHUP asks the observer for its resync now.
import { loadConfig, ConfigError, type Config } from './config/config.ts';
import { buildApp } from './http/app.ts';
import { buildMetricsApp } from './http/metricsApp.ts';
import { buildRedirectApp, keepCertificateFresh, readTlsMaterial } from './http/tls.ts';
import type { Server as HttpsServer } from 'node:https';
import { createKube, loadKubeConfig, type Kube } from './kube/client.ts';
import { openVmiStream, vmiStreamRefusal } from './kube/vmiStreams.ts';
import { createIsolationReads } from './kube/isolationReads.ts';
import { listCollector, startHeapRelease } from './observability/heapRelease.ts';
import { createMetrics } from './observability/metrics.ts';
import { Reconciler } from './reconciler/reconciler.ts';
import { bootstrapAdmin } from './service/bootstrap.ts';
import { startNotifications } from './service/notifications.ts';
import { createReadiness } from './service/readiness.ts';
import { LEASES_POOL_SIZE, openPglite, openPostgres, type Db } from './store/db.ts';
import { migrate } from './store/migrate.ts';
import { queueDepth } from './store/work.ts';

export type Server = {
  /** The API: https://… with TLS on, else http://… */
  url: string;
  /** With TLS on: the plain-HTTP listener on PORT, which only redirects or refuses; else null. */
  redirectUrl: string | null;
  /** Base URL of the metrics listener (GET /metrics), or null when KUBEKLOUD_METRICS_PORT=0. */
  metricsUrl: string | null;
  close(): Promise<void>;
  /** The observer's resync now; false when this replica does not watch (no reconciler, or another replica leads). */
  resync(): boolean;
  /** While close() runs: the step it waits for now (a stop that hangs names it). */
  readonly stopping: string | null;
};

export async function startServer(config: Config): Promise<Server> {
  // Certificate problems stop the start before anything else happens.
  const tlsMaterial = config.tls ? readTlsMaterial(config.tls) : null;
  const db: Db = config.databaseUrl ? openPostgres(config.databaseUrl) : await openPglite(config.dataDir);
  await migrate(db);
  if (config.adminToken) await bootstrapAdmin(db, config.adminToken);

  const metrics = createMetrics({ poolStats: () => db.poolStats(), queueDepth: () => queueDepth(db) });
  let kube: Kube | null = null;
  // Long lists (a resync) kept from growing V8's old space with what their pages left behind.
  const lists = listCollector({ onCollect: metrics.observeListCollection });
  try {
    kube = createKube(loadKubeConfig(), (verb, kind, seconds, ok) => {
      metrics.observeKube(verb, kind, seconds, ok);
      if (verb === 'list') lists?.onListPage();
    });
  } catch (err) {
    throw new ConfigError([`Kubernetes: no usable kubeconfig or in-cluster account (${(err as Error).message}); set KUBECONFIG`]);
  }
  const logger = { level: config.logLevel, redact: ['req.headers.authorization', 'req.headers["sec-websocket-protocol"]'] };
  let reconciler: Reconciler | null = null;
  // What any replica commits, heard here as it commits (a poll stands in while the connection is down).
  let log: { warn(o: object, m: string): void; info(o: object, m: string): void } | null = null;
  const changes = await startNotifications(db, {
    worker: config.workerId,
    log: { warn: (o, m) => log?.warn(o, m), info: (o, m) => log?.info(o, m) },
    onState: metrics.observeNotifications,
    onNotice: metrics.observeNotice,
  });
  const stopWaking = changes.onWork(() => reconciler?.wake());
  const readiness = createReadiness({ db }, kube);
  const kc = kube.config;
  const app = await buildApp({
    db,
    config,
    metrics,
    readiness,
    logger,
    https: tlsMaterial,
    wake: () => reconciler?.wake(),
    isolationReads: createIsolationReads(kube),
    changes,
    openVmiStream: (t, stream) =>
      openVmiStream(kc, t.namespace, t.vmi, stream).catch((err) => {
        throw vmiStreamRefusal(err, stream);
      }),
  });
  log = app.log;
  const redirectApp = config.tls ? await buildRedirectApp({ publicPort: config.tls.publicPort }) : null;
  // Leases are renewed on a connection of their own, not behind the work they guard.
  const leases = config.reconcilerEnabled && config.databaseUrl ? openPostgres(config.databaseUrl, { max: LEASES_POOL_SIZE, applicationName: 'kubekloud-leases' }) : null;
  if (config.reconcilerEnabled) {
    reconciler = new Reconciler({
      db,
      leases: leases ?? undefined,
      kube,
      workerId: config.workerId,
      installation: config.installation,
      concurrency: config.reconcileConcurrency,
      leaseSeconds: config.claimLeaseSeconds,
      rolloutTimeoutSeconds: config.rolloutTimeoutSeconds,
      retention: config.retention,
      resyncSeconds: config.resyncSeconds,
      namespacePollSeconds: config.namespacePollSeconds,
      observerLeaseSeconds: config.observerLeaseSeconds,
      log: app.log,
      onReconcile: metrics.observeReconcile,
      onRelist: metrics.observeRelist,
      onObserverLeader: metrics.observeObserverLeader,
      onObserverAction: metrics.observeObserverAction,
      onObserverDeferred: metrics.observeDeferred,
      onResyncPostponed: metrics.observeResyncPostponed,
      changes,
    });
    reconciler.start();
  }
  // Memory V8 keeps after a burst of work, given back once quiet (only where the process runs with --expose-gc).
  const heapRelease = startHeapRelease({
    onRelease: (r) => {
      metrics.observeHeapRelease(r);
      const mib = (b: number) => Math.round(b / 1048576);
      app.log.info({ rssBeforeMiB: mib(r.rssBeforeBytes), rssAfterMiB: mib(r.rssAfterBytes), pauseMs: Math.round(r.ms) }, 'memory V8 no longer used given back');
    },
  });
  const metricsApp = config.metricsPort > 0 ? await buildMetricsApp({ metricsText: () => metrics.render() }) : null;
  let url: string;
  let metricsUrl: string | null = null;
  let redirectUrl: string | null = null;
  let stopReload = () => {};
  try {
    // Metrics first: a port that is taken stops the start before the API serves.
    if (metricsApp) {
      metricsUrl = await metricsApp.listen({ port: config.metricsPort, host: config.host }).catch((err: Error) => {
        throw new Error(`metrics listener on ${config.host}:${config.metricsPort} (KUBEKLOUD_METRICS_PORT): ${err.message}`);
      });
    }
    if (config.tls && tlsMaterial) {
      url = await app.listen({ port: config.tls.port, host: config.host });
      stopReload = keepCertificateFresh(app.server as unknown as HttpsServer, config.tls, tlsMaterial, app.log);
      redirectUrl = await redirectApp!.listen({ port: config.port, host: config.host });
    } else {
      url = await app.listen({ port: config.port, host: config.host });
    }
  } catch (err) {
    stopReload();
    heapRelease?.stop();
    await Promise.allSettled([metricsApp?.close(), redirectApp?.close(), app.close()]);
    await reconciler?.stop();
    stopWaking();
    await changes.close();
    await leases?.close();
    await db.close();
    throw err;
  }
  let stopping: string | null = null;
  return {
    url,
    metricsUrl,
    redirectUrl,
    resync: () => reconciler?.resync() ?? false,
    get stopping() {
      return stopping;
    },
    async close() {
      const step = async (what: string, fn: () => Promise<unknown> | undefined) => {
        stopping = what;
        await fn();
      };
      stopReload();
      heapRelease?.stop();
      await step('the redirect listener', () => redirectApp?.close());
      await step('requests in flight', () => app.close()); // stops accepting, drains in-flight requests
      await step('the reconciler', () => reconciler?.stop());
      await step('the lease connection', () => leases?.close());
      stopWaking();
      await step('the notification connection', () => changes.close());
      await step('the metrics listener', () => metricsApp?.close()); // scrapes answer until the very end
      await step('the database pool', () => db.close());
      stopping = null;
    },
  };
}

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  let server: Server;
  try {
    server = await startServer(config);
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : `start-up failed: ${(err as Error).message}`);
    process.exit(1);
  }
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    console.error(JSON.stringify({ level: 30, msg: `${signal}: draining and stopping` }));
    const force = setTimeout(() => {
      console.error(JSON.stringify({ level: 50, msg: `still stopping after 25 s, waiting for ${server.stopping ?? 'nothing'}; exiting` }));
      process.exit(1);
    }, 25_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (err: Error) => {
        console.error(JSON.stringify({ level: 50, msg: 'stopping failed', err: err?.stack ?? String(err) }));
        process.exit(1);
      },
    );
  };
  // SIGHUP: the observer's resync now (after a restore of etcd, say), not at its next period.
  process.on('SIGHUP', () => {
    const listing = server.resync();
    console.error(JSON.stringify({ level: 30, msg: listing ? 'SIGHUP: listing every watched kind again' : 'SIGHUP: this replica does not watch (its reconciler is off, or another replica holds the observer lease); nothing to list' }));
  });
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // `main.mjs import-python …`: the administrative import (src/admin/command.ts), not the server.
  if (process.argv[2] === 'import-python') void import('./admin/command.ts').then(async (m) => process.exit(await m.runImportPython(process.argv.slice(3))));
  else void main();
}
