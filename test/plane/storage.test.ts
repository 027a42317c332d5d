// Storage on the local plane (docs/LOCAL-CLUSTER.md): the provisioner in
// `kkplane kubevirt` makes a PersistentVolume for each claim of the default
// StorageClass and the real PV controller binds them; DataVolumes import as
// CDI reports it, and a VM waits for its DataVolumes before it gets a VMI.
import { CoreV1Api, CustomObjectsApi, StorageV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, deleteNamespace, eventually, loadTestKubeConfig } from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const storage = kc.makeApiClient(StorageV1Api);
const cdi = { group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datavolumes' };
const kv = { group: 'kubevirt.io', version: 'v1' };

let ns = '';
beforeAll(async () => {
  ns = await createTestNamespace(kc, 'plane-storage');
});
afterAll(async () => {
  if (ns) await deleteNamespace(kc, ns);
});

type Dv = { status?: { phase?: string; progress?: string; restartCount?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] } };
const getDv = async (name: string) => (await custom.getNamespacedCustomObject({ ...cdi, namespace: ns, name }).catch(() => undefined)) as Dv | undefined;
const getVm = async (name: string): Promise<any> => custom.getNamespacedCustomObject({ ...kv, namespace: ns, plural: 'virtualmachines', name });
const vmis = async () => ((await custom.listNamespacedCustomObject({ ...kv, namespace: ns, plural: 'virtualmachineinstances' })) as { items: unknown[] }).items;

async function createVmWithDisk(name: string, url: string) {
  await custom.createNamespacedCustomObject({
    ...kv,
    namespace: ns,
    plural: 'virtualmachines',
    body: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name },
      spec: {
        runStrategy: 'Always',
        dataVolumeTemplates: [{ metadata: { name: `${name}-root`, labels: { disk: name } }, spec: { source: { http: { url } }, storage: { resources: { requests: { storage: '2Gi' } } } } }],
        template: { spec: { domain: { devices: {} }, volumes: [{ name: 'rootdisk', dataVolume: { name: `${name}-root` } }] } },
      },
    },
  });
}

/** Every (phase, progress) a DataVolume shows until `done`. */
async function followDv(name: string, done: (d: Dv) => boolean): Promise<{ phase?: string; progress?: string; vmis: number; printable?: string }[]> {
  const seen: { phase?: string; progress?: string; vmis: number; printable?: string }[] = [];
  const deadline = Date.now() + 60_000;
  for (;;) {
    // The VMIs first: one seen before the DataVolume was read was made before that read.
    const running = (await vmis()).length;
    const d = await getDv(name);
    const s = { phase: d?.status?.phase, progress: d?.status?.progress, vmis: running, printable: (await getVm(name.replace(/-root$/, ''))).status?.printableStatus };
    if (JSON.stringify(s) !== JSON.stringify(seen.at(-1))) seen.push(s);
    if (d && done(d)) return seen;
    if (Date.now() > deadline) throw new Error(`DataVolume ${name}: ${JSON.stringify(seen)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('storage', () => {
  it('has a default StorageClass whose claims the real PV controller binds to volumes the provisioner makes, deleted with them', async () => {
    const classes = (await storage.listStorageClass()).items.filter((c) => c.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true');
    expect(classes.map((c) => [c.metadata!.name, c.provisioner])).toEqual([['kk-standard', 'kubekloud.io/kkplane-local']]);
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: { metadata: { name: 'c1' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '3Gi' } } } } });
    const bound = await eventually(async () => {
      const c = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'c1' });
      return c.status?.phase === 'Bound' ? c : undefined;
    }, 30_000, 'claim c1 Bound');
    expect(bound.spec?.storageClassName).toBe('kk-standard');
    const pv = await core.readPersistentVolume({ name: bound.spec!.volumeName! });
    expect(pv.spec?.capacity?.storage).toBe('3Gi');
    expect(pv.spec?.claimRef?.name).toBe('c1');
    expect(pv.metadata?.annotations?.['pv.kubernetes.io/provisioned-by']).toBe('kubekloud.io/kkplane-local');
    await core.deleteNamespacedPersistentVolumeClaim({ namespace: ns, name: 'c1' });
    await eventually(async () => (await core.readPersistentVolume({ name: pv.metadata!.name! }).then(() => false, () => true)) || undefined, 30_000, 'the volume deleted');
  });

  it('imports a VM\'s DataVolume with rising progress; the VM is Provisioning without a VMI until it has Succeeded, then Running', async () => {
    await createVmWithDisk('vm-ok', 'https://images.example/noble.img');
    const seen = await followDv('vm-ok-root', (d) => d.status?.phase === 'Succeeded');
    const importing = seen.filter((s) => s.phase === 'ImportInProgress');
    expect(importing.length, JSON.stringify(seen)).toBeGreaterThan(2);
    const pct = importing.map((s) => Number.parseFloat(s.progress!));
    expect(pct).toEqual([...pct].sort((a, b) => a - b));
    // No VMI while importing, and the VM says why.
    expect(seen.filter((s) => s.phase !== 'Succeeded').every((s) => s.vmis === 0), JSON.stringify(seen)).toBe(true);
    expect(seen.some((s) => s.printable === 'Provisioning'), JSON.stringify(seen)).toBe(true);
    const dv = (await getDv('vm-ok-root'))!;
    expect(dv.status?.progress).toBe('100.0%');
    expect(dv.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    await eventually(async () => (await getVm('vm-ok')).status?.printableStatus === 'Running', 30_000, 'VM vm-ok Running');
    expect(await vmis()).toHaveLength(1);
    // CDI's claim, of the DataVolume's name, bound; the DataVolume owned by the VM.
    const claim = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'vm-ok-root' });
    expect([claim.status?.phase, claim.metadata?.ownerReferences?.[0]?.kind]).toEqual(['Bound', 'DataVolume']);
    const raw = (await custom.getNamespacedCustomObject({ ...cdi, namespace: ns, name: 'vm-ok-root' })) as { metadata: { labels: Record<string, string>; ownerReferences: { kind: string }[] } };
    expect([raw.metadata.labels.disk, raw.metadata.ownerReferences[0]!.kind]).toEqual(['vm-ok', 'VirtualMachine']);
  });

  it('fails an import from a source that is not there, with CDI\'s reason, and shows the VM DataVolumeError', async () => {
    await createVmWithDisk('vm-bad', 'https://images.example/fail/missing.img');
    await followDv('vm-bad-root', (d) => d.status?.phase === 'Failed');
    const dv = (await getDv('vm-bad-root'))!;
    expect(dv.status?.conditions?.find((c) => c.type === 'Running')).toMatchObject({ status: 'False', reason: 'Error', message: expect.stringContaining('404') });
    expect(dv.status?.restartCount).toBeGreaterThan(0);
    await eventually(async () => (await getVm('vm-bad')).status?.printableStatus === 'DataVolumeError', 30_000, 'VM vm-bad DataVolumeError');
    expect((await vmis()).filter((v: any) => v.metadata.name === 'vm-bad')).toEqual([]);
  });
});
