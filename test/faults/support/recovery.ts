// Two clocks for the recovery after a fault, both started when the component
// is back: how long KubeKloud takes to apply the work it accepted meanwhile
// (the product's share), and how long the plane takes to run a pod for a
// StatefulSet created directly at that moment (the plane's own lag, a control).
import { AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import { eventually } from '../../support/kube.ts';

export type AppliedAfter = {
  ms: number;
  rows: number;
  /** Rows still waiting 5 s after the start, as they stood then: what took the time. */
  late: string[];
};

/** The rows due in a server's database now; allApplied() resolves when each has been applied (its generation synced). */
export async function dueWork(databaseUrl: string): Promise<{ rows: number; allApplied(): Promise<AppliedAfter> }> {
  const began = Date.now();
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  const due = async () =>
    (
      await c.query<{ t: string; id: number; gen: number }>(
        `SELECT 'clusters' AS t, id, desired_gen AS gen FROM clusters WHERE desired_gen > synced_gen AND state = 'active'
         UNION ALL SELECT 'instances', id, desired_gen FROM instances WHERE desired_gen > synced_gen AND desired <> 'deleted'`,
      )
    ).rows;
  const snapshot = await due();
  const params = [snapshot.map((r) => r.t), snapshot.map((r) => r.id), snapshot.map((r) => r.gen)];
  const pending = async () =>
    (
      await c.query<{ t: string; id: number; state: string }>(
        `SELECT w.t, w.id, concat_ws(' ', 'attempts', x.attempts, 'waiting_on_kube', x.waiting_on_kube,
                  'due in', round(extract(epoch FROM x.next_attempt_at - now())::numeric, 1), 's',
                  'claimed', x.claimed_by, round(extract(epoch FROM x.claimed_until - now())::numeric, 1), 'message', x.message) AS state
           FROM unnest($1::text[], $2::int[], $3::int[]) AS w(t, id, gen)
           JOIN LATERAL (SELECT synced_gen, attempts, waiting_on_kube, next_attempt_at, claimed_by, claimed_until, message, state = 'active' AS live
                           FROM clusters WHERE w.t = 'clusters' AND id = w.id
                         UNION ALL
                         SELECT i.synced_gen, i.attempts, i.waiting_on_kube, i.next_attempt_at, i.claimed_by, i.claimed_until, i.message, i.desired <> 'deleted' AND c.state = 'active'
                           FROM instances i JOIN clusters c ON c.id = i.cluster_id WHERE w.t = 'instances' AND i.id = w.id) x ON true
          -- A row the load deleted since is no longer recovery work: what is left of it waits on the namespace controller.
          WHERE x.synced_gen < w.gen AND x.live`,
        params,
      )
    ).rows;
  return {
    rows: snapshot.length,
    async allApplied() {
      let late: string[] = [];
      try {
        for (;;) {
          const left = await pending();
          if (late.length === 0 && Date.now() - began >= 5000) late = left.slice(0, 10).map((r) => `${r.t} ${r.id}: ${r.state}`);
          if (left.length === 0) return { ms: Date.now() - began, rows: snapshot.length, late };
          if (Date.now() - began > 120_000) return { ms: -1, rows: snapshot.length, late };
          await new Promise((r) => setTimeout(r, 200));
        }
      } finally {
        await c.end();
      }
    },
  };
}

/** A namespace made ahead (its ServiceAccount ready), in which a StatefulSet is created on demand. */
export async function controlWorkload(kc: KubeConfig) {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const namespace = `kk-control-${Math.random().toString(36).slice(2, 8)}`;
  await core.createNamespace({ body: { metadata: { name: namespace, labels: { 'kubekloud.io/test': 'control' } } } });
  await eventually(() => core.readNamespacedServiceAccount({ name: 'default', namespace }), 30_000, 'the control namespace ServiceAccount');
  return {
    /** Creates the StatefulSet now (retrying while the API server is not yet accepting), and resolves with the time until its pod is ready. */
    async timeToReadyMs(): Promise<number> {
      const began = Date.now();
      const labels = { app: 'control' };
      await eventually(
        () =>
          apps.createNamespacedStatefulSet({
            namespace,
            body: {
              metadata: { name: 'control' },
              spec: {
                replicas: 1,
                serviceName: 'control',
                selector: { matchLabels: labels },
                template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'docker.io/library/busybox:1', resources: { requests: { cpu: '10m', memory: '16Mi' } } }] } },
              },
            },
          }),
        60_000,
        'the control StatefulSet created',
      );
      await eventually(async () => ((await apps.readNamespacedStatefulSet({ name: 'control', namespace })).status?.readyReplicas ?? 0) === 1, 120_000, 'the control pod ready');
      return Date.now() - began;
    },
    remove: () => core.deleteNamespace({ name: namespace }).catch(() => {}),
  };
}
