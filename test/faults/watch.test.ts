// The reconciler's watches cut, or expired (410 Gone), while Kubernetes moves
// on: after the cut it resumes (or relists) and misses no status change.
// The server reaches Kubernetes through a TCP proxy this test cuts; the
// changes are made directly, as the plane's admin, while the server is blind.
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killComponent, startComponent } from '../../testenv/harness/plane.ts';
import { eventually, loadTestKubeConfig, testKubeconfigPath } from '../support/kube.ts';
import { kubeconfigVia, kubeTarget, startProxy, type CuttableProxy } from '../support/proxy.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';
import { record, sleep } from './support/scenario.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
let proxy: CuttableProxy;
let server: ServerProcess;

beforeAll(async () => {
  const target = kubeTarget(testKubeconfigPath);
  proxy = await startProxy(target.host, target.port);
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'kubekloud-kc-')), 'kubeconfig');
  kubeconfigVia(testKubeconfigPath, kubeconfig, proxy.port);
  // A periodic resync must not be what finds the change: push it far away.
  server = await startServer({ env: { KUBECONFIG: kubeconfig, KUBEKLOUD_RESYNC_SECONDS: '3600', KUBEKLOUD_CLAIM_LEASE_SECONDS: '4' } });
});
afterAll(async () => {
  await server?.stop();
  await proxy?.close();
});

const relists = async () => {
  const text = (await server.metrics.get()).body as string;
  return [...text.matchAll(/^kubekloud_watch_relists_total\{kind="([^"]+)",reason="expired"\} (\d+)/gm)].reduce((n, m) => n + Number(m[2]), 0);
};

/**
 * Pods recreated behind the server's back on other nodes (those they ran on
 * are cordoned first, so the change is certain to show: a new node, and an
 * address that may or may not be new): the API must report both.
 */
async function blindChange(name: string, whileCut?: () => Promise<void>) {
  const { client } = await createTenant(server.admin, { cpu: 4, memory: 4 });
  const c = (await client.request('POST', '/api/v1/clusters/?wait=60', { name: 'w', instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 3 })).body;
  expect(c.wait.converged).toBe(true);
  const before = await relists();
  await proxy.cut();
  const cutAt = Date.now();
  const old = (await core.listNamespacedPod({ namespace: c.namespace })).items;
  const oldNodes = [...new Set(old.map((p) => p.spec!.nodeName!))];
  const cordon = (unschedulable: boolean) => Promise.all(oldNodes.map((name) => core.patchNode({ name, body: { spec: { unschedulable } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))));
  await cordon(true);
  let fresh: Awaited<ReturnType<typeof core.listNamespacedPod>>['items'];
  try {
    await Promise.all(old.map((p) => core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: c.namespace, gracePeriodSeconds: 0 })));
    fresh = await eventually(async () => {
      const pods = (await core.listNamespacedPod({ namespace: c.namespace })).items;
      const ready = (p: (typeof pods)[number]) => (p.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'True');
      const ok = pods.length === 3 && pods.every((p) => !old.some((o) => o.metadata!.uid === p.metadata!.uid) && p.status?.phase === 'Running' && ready(p) && p.status.podIP);
      return ok && pods;
    }, 60_000, 'pods recreated on other nodes, Running and Ready (kwok)');
  } finally {
    await cordon(false);
  }
  expect(fresh.every((p) => !oldNodes.includes(p.spec!.nodeName!))).toBe(true);
  if (whileCut) await whileCut();
  await sleep(Math.max(0, 15_000 - (Date.now() - cutAt)));
  const restoredAt = Date.now();
  await proxy.restore();
  const want = Object.fromEntries(fresh.map((p) => [p.metadata!.labels!['kubekloud.io/instance'], `${p.status!.podIP} on ${p.spec!.nodeName}`]));
  let got: { id: number; ip: string; node: string; status: string }[] = [];
  await eventually(async () => {
    got = (await client.get(`/api/v1/clusters/${c.id}`)).body.instances;
    return got.every((i) => want[String(i.id)] === `${i.ip} on ${i.node}` && i.status === 'running');
  }, 60_000, 'the API reports the new pods (address and node)').catch((e) => {
    throw new Error(`${String(e)}; Kubernetes has ${JSON.stringify(want)}, the API ${JSON.stringify(got.map((i) => [i.id, `${i.ip} on ${i.node}`, i.status]))}`);
  });
  const figures = { cutMs: restoredAt - cutAt, seenMsAfterRestore: Date.now() - restoredAt, relistsAfter410: (await relists()) - before, pods: fresh.length };
  record(name, figures);
  return figures;
}

describe('a watch cut while Kubernetes moves on', () => {
  it('resumes and reports every change made while it was cut', async () => {
    const f = await blindChange('watch-cut');
    expect(f.seenMsAfterRestore).toBeLessThan(30_000);
  });
});

describe('a watch expired (410 Gone)', () => {
  it('relists and reports every change: the API server restarted while the watch was cut, so its resourceVersion is too old', async () => {
    const f = await blindChange('watch-410', async () => {
      await killComponent('kube-apiserver', 'SIGTERM');
      await startComponent('kube-apiserver');
    });
    expect(f.relistsAfter410).toBeGreaterThan(0);
    expect(f.seenMsAfterRestore).toBeLessThan(30_000);
  });
});
