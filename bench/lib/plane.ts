// The local control plane as the benchmarks see it: node capacity, the
// Kubernetes version, pods and VMs counted by label, namespaces by prefix,
// and the direct server-side-apply ceiling for provisioning.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, VersionApi, type KubeConfig } from '@kubernetes/client-node';
import type { ClusterSpec } from '../../src/domain/model.ts';
import { renderClusterObjects, renderInstanceObjects, LABEL_INSTALLATION } from '../../src/domain/render.ts';
import { createKube } from '../../src/kube/client.ts';
import { testKubeconfigPath } from '../../test/support/kube.ts';
import { parseMetric } from './server.ts';
import { now, pollPause, pool, sleep } from './util.ts';

/**
 * What the plane's API server has served so far, every client's requests
 * together (the plane's own controllers, kwok and stand-ins included):
 * requests by `verb:resource[/subresource]` (apiserver_request_total), and the
 * watch events it sent, by `watch-event:resource` (apiserver_watch_events_total),
 * and the watchers it ended for not reading their events fast enough, by
 * `terminated-watchers:resource` (apiserver_terminated_watchers_total).
 * Counters of the process, read from its /metrics; compare two readings.
 */
export async function planeRequests(): Promise<Map<string, number>> {
  const { stdout } = await promisify(execFile)('kubectl', ['--kubeconfig', testKubeconfigPath, 'get', '--raw', '/metrics'], { maxBuffer: 256 * 1024 * 1024 });
  const m = new Map<string, number>();
  const add = (k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  for (const s of parseMetric(stdout, 'apiserver_request_total')) {
    add(`${s.labels.verb}:${s.labels.resource ?? ''}${s.labels.subresource ? `/${s.labels.subresource}` : ''}`, s.value);
  }
  for (const s of parseMetric(stdout, 'apiserver_watch_events_total')) add(`watch-event:${s.labels.resource ?? s.labels.kind ?? ''}`, s.value);
  for (const s of parseMetric(stdout, 'apiserver_terminated_watchers_total')) add(`terminated-watchers:${s.labels.resource ?? ''}`, s.value);
  return m;
}

export async function kubernetesVersion(kc: KubeConfig): Promise<string> {
  const v = await kc.makeApiClient(VersionApi).getCode();
  return v.gitVersion;
}

/**
 * Makes sure the plane has at least `count` fake nodes, adding `kk-node-<i>`
 * the way the harness names and shapes them (kwok manages any node carrying
 * its annotation). Added nodes are left in place: they only add capacity.
 */
export async function ensureNodes(kc: KubeConfig, count: number): Promise<{ before: number; after: number }> {
  const core = kc.makeApiClient(CoreV1Api);
  const nodes = await core.listNode({ labelSelector: 'type=kwok' });
  const names = new Set(nodes.items.map((n) => n.metadata!.name!));
  const template = nodes.items[0];
  const res = template?.status?.capacity ?? { cpu: '32', memory: '128Gi', pods: '110', 'ephemeral-storage': '1Ti' };
  for (let i = 0; names.size < count; i++) {
    const name = `kk-node-${i}`;
    if (names.has(name)) continue;
    await core.createNode({
      body: {
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'node-role.kubernetes.io/worker': '', type: 'kwok' },
        },
        status: { capacity: res, allocatable: res },
      },
    });
    names.add(name);
  }
  // Wait for kwok to mark them Ready.
  for (let t = 0; t < 120; t++) {
    const ready = (await core.listNode({ labelSelector: 'type=kwok' })).items.filter((n) =>
      (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    if (ready.length >= count) break;
    await sleep(500);
  }
  return { before: nodes.items.length, after: names.size };
}

/** Running-and-ready pods, and VMs reported Running, carrying an installation label. */
export async function countRunning(kc: KubeConfig, installation: string, kind: 'container' | 'vm'): Promise<number> {
  const selector = `${LABEL_INSTALLATION}=${installation}`;
  if (kind === 'container') {
    const pods = await kc.makeApiClient(CoreV1Api).listPodForAllNamespaces({ labelSelector: selector });
    return pods.items.filter(
      (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
  }
  const vms = (await kc.makeApiClient(CustomObjectsApi).listClusterCustomObject({
    group: 'kubevirt.io',
    version: 'v1',
    plural: 'virtualmachines',
    labelSelector: selector,
  })) as { items: { status?: { printableStatus?: string; ready?: boolean } }[] };
  return vms.items.filter((v) => v.status?.printableStatus === 'Running' && v.status?.ready === true).length;
}

export async function namespacesWithPrefix(kc: KubeConfig, prefix: string): Promise<string[]> {
  const all = await kc.makeApiClient(CoreV1Api).listNamespace();
  return all.items.map((n) => n.metadata!.name!).filter((n) => n.startsWith(`${prefix}-`));
}

export async function deleteNamespaces(kc: KubeConfig, names: string[]) {
  const core = kc.makeApiClient(CoreV1Api);
  await pool(names, 8, (name) => core.deleteNamespace({ name }).catch(() => undefined));
}

export async function waitNamespacesGone(kc: KubeConfig, prefix: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await namespacesWithPrefix(kc, prefix)).length === 0) return true;
    await sleep(500);
  }
  return false;
}

/**
 * The ceiling: the very objects KubeKloud renders for `clusters` clusters of
 * `size`, applied with server-side apply (same field manager, same client)
 * through a pool of `concurrency` workers in the reconciler's order (a
 * cluster's namespace and fences first, then its instances), timed until
 * every pod is Running and Ready (or every VM Running).
 */
export async function directApply(
  kc: KubeConfig,
  o: { installation: string; prefix: string; kind: 'container' | 'vm'; clusters: number; size: number; concurrency: number; cpuMilli: number; memoryMib: number; image: string },
  progress: (msg: string) => void,
): Promise<{ seconds: number; appliedSeconds: number; applies: number }> {
  const kube = createKube(kc);
  const specs: ClusterSpec[] = Array.from({ length: o.clusters }, (_, k) => ({
    installation: o.installation,
    id: k + 1,
    ownerId: 1,
    name: `direct-${k + 1}`,
    namespace: `${o.prefix}-${k + 1}-direct-${k + 1}`,
    kind: o.kind,
    cpuMilli: o.cpuMilli,
    memoryMib: o.memoryMib,
    instanceCount: o.size,
    image: o.image,
    ports: [],
    serviceType: 'ClusterIP',
    expose: 'instances',
    volumeSizeGb: null,
    env: {},
    sshKeys: [],
    userData: null,
  }));
  type Task = () => Promise<void>;
  const queue: Task[] = [];
  let applies = 0;
  const apply = async (obj: Parameters<typeof kube.apply>[0]) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await kube.apply(obj);
        applies++;
        return;
      } catch (err) {
        if (attempt >= 20) throw err;
        await sleep(Math.min(2000, 100 * 2 ** attempt)); // e.g. the namespace's ServiceAccount not there yet
      }
    }
  };
  const total = o.clusters * o.size;
  for (const c of specs) {
    queue.push(async () => {
      const [ns, ...rest] = renderClusterObjects(c);
      await apply(ns!);
      await Promise.all(rest.map(apply));
      for (let i = 1; i <= o.size; i++) {
        const spec = { id: c.id * 1000 + i, clusterId: c.id, ordinal: i, name: `${c.name}-${i}`, desired: 'running' as const, restartCount: 0 };
        queue.push(async () => {
          for (const obj of renderInstanceObjects(c, spec)) await apply(obj);
        });
      }
    });
  }
  const t0 = now();
  let active = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (active < o.concurrency && queue.length > 0) {
        const task = queue.shift()!;
        active++;
        task().then(
          () => {
            active--;
            if (active === 0 && queue.length === 0) resolve();
            else pump();
          },
          reject,
        );
      }
    };
    pump();
  });
  const appliedSeconds = (now() - t0) / 1000;
  let last = -1;
  for (;;) {
    const asked = now();
    const n = await countRunning(kc, o.installation, o.kind);
    const answeredMs = now() - asked;
    if (n !== last) progress(`direct apply: ${n}/${total} running`);
    last = n;
    if (n >= total) break;
    const limitMs = Math.max(600_000, total * 120);
    if (now() - t0 > limitMs) throw new Error(`direct apply: only ${n}/${total} running after ${limitMs / 1000} s`);
    await pollPause(answeredMs);
  }
  return { seconds: (now() - t0) / 1000, appliedSeconds, applies };
}
