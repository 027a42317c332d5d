// The storage of VM disks on the local plane (docs/LOCAL-CLUSTER.md): the
// stand-in's volume provisioner behind kube-controller-manager's real PV
// controller, CDI's DataVolume import, volume snapshots, and KubeVirt's VM
// snapshots and restores — all through the real API server.
import { existsSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi, StorageV1Api, Watch, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, deleteNamespace, eventually, gone, loadTestKubeConfig } from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const storage = kc.makeApiClient(StorageV1Api);
const PROVISIONER = 'kubekloud.io/kkplane-local';

const dataVolumes = { group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datavolumes' };
const vms = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };
const vmis = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances' };
const volumeSnapshots = { group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots' };
const vmSnapshots = { group: 'snapshot.kubevirt.io', version: 'v1beta1', plural: 'virtualmachinesnapshots' };
const vmRestores = { group: 'snapshot.kubevirt.io', version: 'v1beta1', plural: 'virtualmachinerestores' };
type Ref = typeof dataVolumes;

let ns = '';
beforeAll(async () => {
  ns = await createTestNamespace(kc, 'plane-storage');
});
afterAll(async () => {
  if (ns) await deleteNamespace(kc, ns);
});

const read = (ref: Ref, name: string): Promise<any> => custom.getNamespacedCustomObject({ ...ref, namespace: ns, name });
const create = (ref: Ref, body: object): Promise<any> => custom.createNamespacedCustomObject({ ...ref, namespace: ns, body });
const condition = (obj: any, type: string) => (obj?.status?.conditions ?? []).find((c: any) => c.type === type);
const claim = (name: string) => core.readNamespacedPersistentVolumeClaim({ name, namespace: ns });

/** Wait for an object to be read back with a status that passes `done`. */
const until = (ref: Ref, name: string, done: (obj: any) => boolean, what: string, ms = 60_000): Promise<any> =>
  eventually(async () => {
    const obj = await read(ref, name);
    return done(obj) ? obj : undefined;
  }, ms, what);

/**
 * Every version of the objects under a path written while it runs, in order
 * (a watch sends each write). Versions of different resources are ordered by
 * their resourceVersion: the plane has one etcd, whose revision it is.
 */
async function record(path: string) {
  const seen: any[] = [];
  const ctl = await new Watch(kc).watch(path, {}, (type, obj) => {
    if (type !== 'BOOKMARK') seen.push(obj);
  }, () => {});
  return { seen, stop: () => ctl.abort() };
}
const rv = (obj: any) => Number(obj.metadata.resourceVersion);

/** A VM with one disk from a dataVolumeTemplate. */
function vmWithDisk(name: string, source: object, runStrategy = 'Always') {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name },
    spec: {
      runStrategy,
      dataVolumeTemplates: [
        {
          metadata: { name: `${name}-root`, labels: { 'kubekloud.io/disk': 'root' } },
          spec: { source, storage: { resources: { requests: { storage: '2Gi' } } } },
        },
      ],
      template: {
        metadata: { labels: { 'kubekloud.io/vm': name } },
        spec: {
          domain: { devices: { disks: [{ name: 'root', disk: { bus: 'virtio' } }] }, memory: { guest: '1Gi' } },
          volumes: [{ name: 'root', dataVolume: { name: `${name}-root` } }],
        },
      },
    },
  };
}

describe('volumes: the provisioner behind the real PV controller', () => {
  it('has one default StorageClass, kk-standard of the provisioner, and a default VolumeSnapshotClass for it', async () => {
    const classes = (await storage.listStorageClass()).items.filter((c) => c.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true');
    expect(classes.map((c) => [c.metadata!.name, c.provisioner, c.reclaimPolicy, c.volumeBindingMode, c.allowVolumeExpansion])).toEqual([
      ['kk-standard', PROVISIONER, 'Delete', 'Immediate', true],
    ]);
    const snapshotClass: any = await custom.getClusterCustomObject({ group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshotclasses', name: 'kk-snapshots' });
    expect(snapshotClass).toMatchObject({ driver: PROVISIONER, deletionPolicy: 'Delete' });
    expect(snapshotClass.metadata.annotations?.['snapshot.storage.kubernetes.io/is-default-class']).toBe('true');
  });

  it('provisions a claim of the default class, which the PV controller binds, and deletes its volume with it', async () => {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: { metadata: { name: 'plain' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '3Gi' } } } },
    });
    const pvc = await eventually(async () => {
      const c = await claim('plain');
      return c.status?.phase === 'Bound' ? c : undefined;
    }, 30_000, 'claim plain Bound');
    expect(pvc.spec?.storageClassName).toBe('kk-standard'); // the default class, by admission
    // Written by kube-controller-manager's PV controller: it handed the claim
    // to the external provisioner, then bound the two.
    expect(pvc.metadata?.annotations).toMatchObject({
      'volume.kubernetes.io/storage-provisioner': PROVISIONER,
      'pv.kubernetes.io/bind-completed': 'yes',
    });
    const pv = await core.readPersistentVolume({ name: pvc.spec!.volumeName! });
    expect(pv.metadata?.annotations?.['pv.kubernetes.io/provisioned-by']).toBe(PROVISIONER);
    expect(pv.spec).toMatchObject({
      capacity: { storage: '3Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: 'kk-standard',
      claimRef: { namespace: ns, name: 'plain', uid: pvc.metadata!.uid },
    });
    const dir = pv.spec!.hostPath!.path;
    expect(dir.endsWith(`/run/volumes/${pv.metadata!.name}`)).toBe(true);
    expect(existsSync(dir)).toBe(true);

    await core.deleteNamespacedPersistentVolumeClaim({ name: 'plain', namespace: ns });
    await eventually(() => gone(() => core.readPersistentVolume({ name: pv.metadata!.name! })), 60_000, 'the volume of claim plain deleted');
    expect(existsSync(dir)).toBe(false);
  });
});

describe('DataVolumes (CDI stand-in) and the VMs that use them', () => {
  it('imports a dataVolumeTemplate with rising progress; the VM is Provisioning without a VMI until it Succeeded, then Running', async () => {
    const dvs = await record(`/apis/cdi.kubevirt.io/v1beta1/namespaces/${ns}/datavolumes`);
    const vmVersions = await record(`/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines`);
    const vmiVersions = await record(`/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachineinstances`);
    let vm: any;
    try {
      await create(vms, vmWithDisk('imported', { http: { url: 'https://images.example/ubuntu-24.04.qcow2' } }));
      vm = await until(vms, 'imported', (v) => v.status?.printableStatus === 'Running', 'VM imported Running');
    } finally {
      dvs.stop();
      vmVersions.stop();
      vmiVersions.stop();
    }

    // The DataVolume, as virt-controller makes it from the template.
    const dv = await read(dataVolumes, 'imported-root');
    expect(dv.metadata.labels).toEqual({ 'kubekloud.io/disk': 'root', 'kubevirt.io/created-by': vm.metadata.uid });
    expect(dv.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'VirtualMachine', name: 'imported', uid: vm.metadata.uid, controller: true }),
    ]);
    // Its claim, as CDI makes it.
    const pvc = await claim('imported-root');
    expect(pvc.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'DataVolume', uid: dv.metadata.uid, controller: true })]);
    expect(pvc.spec).toMatchObject({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } }, storageClassName: 'kk-standard' });
    expect(pvc.status?.phase).toBe('Bound');

    // The import, version by version: scheduled, then in progress with a
    // rising percentage, then Succeeded at 100 %.
    const versions = dvs.seen.filter((d) => d.metadata.name === 'imported-root');
    const phases = versions.map((d) => d.status?.phase).filter((p, i, all) => p && p !== all[i - 1]);
    expect(phases.filter((p) => p !== 'Pending')).toEqual(['ImportScheduled', 'ImportInProgress', 'Succeeded']);
    const progress = versions.filter((d) => d.status?.phase === 'ImportInProgress').map((d) => Number.parseFloat(d.status.progress));
    expect(progress[0]).toBe(0);
    expect(progress.every((p, i) => i === 0 || p >= progress[i - 1]!)).toBe(true);
    expect(new Set(progress).size).toBeGreaterThanOrEqual(5);
    expect(dv.status).toMatchObject({ phase: 'Succeeded', progress: '100.0%', claimName: 'imported-root' });
    expect(condition(dv, 'Bound')).toMatchObject({ status: 'True', reason: 'Bound', message: 'PVC imported-root Bound' });
    expect(condition(dv, 'Running')).toMatchObject({ status: 'False', reason: 'Completed', message: 'Import Complete' });
    expect(condition(dv, 'Ready')).toMatchObject({ status: 'True' });

    // Until the DataVolume Succeeded the VM had no VMI and showed Provisioning.
    const succeeded = rv(versions.find((d) => d.status?.phase === 'Succeeded'));
    const vmi = vmiVersions.seen.find((v) => v.metadata.name === 'imported');
    expect(vmi, 'a VMI was made').toBeDefined();
    expect(rv(vmi)).toBeGreaterThan(succeeded);
    const before = vmVersions.seen.filter((v) => v.metadata.name === 'imported' && rv(v) < succeeded && v.status?.printableStatus);
    expect(before.length).toBeGreaterThan(0);
    expect(new Set(before.map((v) => v.status.printableStatus))).toEqual(new Set(['Provisioning']));
    expect(condition(before.at(-1), 'DataVolumesReady')).toMatchObject({ status: 'False', reason: 'NotAllDVsReady' });
    expect(condition(vm, 'DataVolumesReady')).toMatchObject({ status: 'True', reason: 'AllDVsReady' });
    expect((await read(vmis, 'imported')).status.phase).toBe('Running');
  });

  it('a failing import ends Failed with CDI\'s error after the importer restarted, and the VM shows DataVolumeError without a VMI', async () => {
    await create(vms, vmWithDisk('broken', { http: { url: 'https://images.example/fail/missing.qcow2' } }));
    const dv = await until(dataVolumes, 'broken-root', (d) => d.status?.phase === 'Failed', 'DataVolume broken-root Failed');
    expect(dv.status.restartCount).toBeGreaterThanOrEqual(1);
    expect(condition(dv, 'Running')).toMatchObject({
      status: 'False',
      reason: 'Error',
      message: 'Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found',
    });
    expect(condition(dv, 'Ready')).toMatchObject({ status: 'False' });
    const vm = await until(vms, 'broken', (v) => v.status?.printableStatus === 'DataVolumeError', 'VM broken DataVolumeError');
    expect(condition(vm, 'DataVolumesReady')).toMatchObject({ status: 'False' });
    expect(await gone(() => read(vmis, 'broken'))).toBe(true);
  });
});

describe('volume snapshots (CSI snapshot controller stand-in)', () => {
  it('a snapshot of a bound claim is bound to its content and ready; a claim restored from it is provisioned', async () => {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: { metadata: { name: 'source' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
    });
    await eventually(async () => (await claim('source')).status?.phase === 'Bound', 30_000, 'claim source Bound');
    await create(volumeSnapshots, { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', metadata: { name: 'snap' }, spec: { source: { persistentVolumeClaimName: 'source' } } });
    const vs = await until(volumeSnapshots, 'snap', (s) => s.status?.readyToUse === true, 'VolumeSnapshot snap ready');
    expect(vs.spec.volumeSnapshotClassName).toBe('kk-snapshots'); // the default class, written in
    expect(vs.status).toMatchObject({ restoreSize: '1Gi', boundVolumeSnapshotContentName: `snapcontent-${vs.metadata.uid}` });
    expect(Date.parse(vs.status.creationTime)).not.toBeNaN();
    const content: any = await custom.getClusterCustomObject({ group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshotcontents', name: vs.status.boundVolumeSnapshotContentName });
    expect(content.spec).toMatchObject({
      driver: PROVISIONER,
      deletionPolicy: 'Delete',
      volumeSnapshotClassName: 'kk-snapshots',
      volumeSnapshotRef: { kind: 'VolumeSnapshot', namespace: ns, name: 'snap', uid: vs.metadata.uid },
    });
    expect(content.status).toMatchObject({ readyToUse: true, restoreSize: 1024 ** 3 });
    expect(content.status.snapshotHandle).toBeTruthy();

    const restored: V1PersistentVolumeClaim = {
      metadata: { name: 'from-snap' },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '1Gi' } },
        dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'snap' },
      },
    };
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: restored });
    await eventually(async () => (await claim('from-snap')).status?.phase === 'Bound', 30_000, 'claim from-snap Bound');
  });

  it('a snapshot of a missing claim is not ready and says why', async () => {
    await create(volumeSnapshots, { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', metadata: { name: 'orphan' }, spec: { source: { persistentVolumeClaimName: 'nothing' } } });
    const vs = await until(volumeSnapshots, 'orphan', (s) => Boolean(s.status?.error?.message), 'VolumeSnapshot orphan with an error');
    expect(vs.status.readyToUse).toBe(false);
    expect(vs.status.error.message).toContain('failed to retrieve PVC nothing');
    expect(vs.status.error.message).toContain('not found');
  });
});

describe('VM snapshots and restores (KubeVirt stand-in)', () => {
  let snapshot: any;

  it('a VirtualMachineSnapshot takes a VolumeSnapshot of each disk and Succeeds', async () => {
    await create(vms, vmWithDisk('saved', { blank: {} }));
    await until(vms, 'saved', (v) => v.status?.printableStatus === 'Running', 'VM saved Running');
    await create(vmSnapshots, {
      apiVersion: 'snapshot.kubevirt.io/v1beta1',
      kind: 'VirtualMachineSnapshot',
      metadata: { name: 'saved-1' },
      spec: { source: { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: 'saved' } },
    });
    snapshot = await until(vmSnapshots, 'saved-1', (s) => s.status?.phase === 'Succeeded', 'VirtualMachineSnapshot saved-1 Succeeded');
    const vm = await read(vms, 'saved');
    expect(snapshot.status).toMatchObject({
      readyToUse: true,
      sourceUID: vm.metadata.uid,
      virtualMachineSnapshotContentName: `vmsnapshot-content-${snapshot.metadata.uid}`,
      snapshotVolumes: { includedVolumes: ['root'] },
    });
    expect(Date.parse(snapshot.status.creationTime)).not.toBeNaN();
    expect(condition(snapshot, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' });
    expect(condition(snapshot, 'Progressing')).toMatchObject({ status: 'False', reason: 'Operation complete' });
    const vs = await read(volumeSnapshots, `vmsnapshot-${snapshot.metadata.uid}-volume-root`);
    expect(vs.spec.source).toEqual({ persistentVolumeClaimName: 'saved-root' });
    expect(vs.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'VirtualMachineSnapshot', uid: snapshot.metadata.uid, controller: true })]);
    expect(vs.status.readyToUse).toBe(true);
  });

  it('a snapshot of a VM that does not exist stays InProgress: "Source does not exist"', async () => {
    await create(vmSnapshots, {
      apiVersion: 'snapshot.kubevirt.io/v1beta1',
      kind: 'VirtualMachineSnapshot',
      metadata: { name: 'of-nothing' },
      spec: { source: { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: 'nothing' } },
    });
    const s = await until(vmSnapshots, 'of-nothing', (x) => Boolean(condition(x, 'Progressing')), 'VirtualMachineSnapshot of-nothing reported');
    expect(s.status).toMatchObject({ phase: 'InProgress', readyToUse: false });
    expect(condition(s, 'Progressing')).toMatchObject({ status: 'False', reason: 'Source does not exist' });
  });

  it('a VirtualMachineRestore waits while the VM runs, and once it is Halted replaces its disk with one from the snapshot', async () => {
    expect(snapshot, 'the snapshot of the test before').toBeDefined();
    const restore = await create(vmRestores, {
      apiVersion: 'snapshot.kubevirt.io/v1beta1',
      kind: 'VirtualMachineRestore',
      metadata: { name: 'back' },
      spec: { target: { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: 'saved' }, virtualMachineSnapshotName: 'saved-1' },
    });
    const refused = await until(vmRestores, 'back', (r) => condition(r, 'Ready')?.reason === 'VM must be stopped', 'restore back refused');
    expect(refused.status.complete).toBe(false);
    expect(condition(refused, 'Progressing')).toMatchObject({ status: 'False', reason: 'VM must be stopped' });
    expect(condition(refused, 'Ready')).toMatchObject({ status: 'False' });

    await custom.patchNamespacedCustomObject({ ...vms, namespace: ns, name: 'saved', body: [{ op: 'replace', path: '/spec/runStrategy', value: 'Halted' }] });
    const done = await until(vmRestores, 'back', (r) => r.status?.complete === true, 'restore back complete');
    expect(Date.parse(done.status.restoreTime)).not.toBeNaN();
    expect(condition(done, 'Ready')).toMatchObject({ status: 'True', reason: 'Operation complete' });
    expect(condition(done, 'Progressing')).toMatchObject({ status: 'False', reason: 'Operation complete' });
    const name = `restore-${restore.metadata.uid}-root`;
    expect(done.status.restores).toEqual([
      { volumeName: 'root', persistentVolumeClaim: name, volumeSnapshotName: `vmsnapshot-${snapshot.metadata.uid}-volume-root`, dataVolumeName: name },
    ]);
    expect(done.status.deletedDataVolumes).toEqual(['saved-root']);

    // The VM's disk is the new claim, made from the VolumeSnapshot and adopted by a DataVolume of its name.
    const vm = await read(vms, 'saved');
    expect(vm.spec.dataVolumeTemplates.map((t: any) => t.metadata.name)).toEqual([name]);
    expect(vm.spec.template.spec.volumes).toEqual([{ name: 'root', dataVolume: { name } }]);
    const pvc = await claim(name);
    expect(pvc.status?.phase).toBe('Bound');
    expect(pvc.spec?.dataSource).toEqual({ apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: `vmsnapshot-${snapshot.metadata.uid}-volume-root` });
    const dv = await read(dataVolumes, name);
    expect(dv.status.phase).toBe('Succeeded');
    expect(pvc.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'DataVolume', uid: dv.metadata.uid })]);
    await eventually(() => gone(() => read(dataVolumes, 'saved-root')), 30_000, 'the replaced DataVolume deleted');
  });
});
