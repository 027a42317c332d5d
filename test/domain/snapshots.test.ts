import { describe, expect, it } from 'vitest';
import type { ClusterSpec, InstanceSpec } from '../../src/domain/model.ts';
import { renderInstanceObjects, renderVmDataVolume } from '../../src/domain/render.ts';
import {
  observeSnapshot,
  observeVmRestore,
  renderRestoredClaim,
  renderSnapshot,
  renderVmRestore,
  restoredVmDisks,
  snapshotIdOf,
  snapshotPlan,
} from '../../src/domain/snapshots.ts';

const cluster = (over: Partial<ClusterSpec> = {}): ClusterSpec => ({
  id: 7, ownerId: 3, name: 'web', namespace: 'kk-7-web', kind: 'vm', cpuMilli: 500, memoryMib: 1024, instanceCount: 1, image: 'docker://img',
  ports: [], serviceType: 'ClusterIP', expose: 'instances', volumeSizeGb: null, diskSizeGb: 10, env: {}, sshKeys: [], userData: null, installation: 'default', ...over,
});
const inst = (over: Partial<InstanceSpec> = {}): InstanceSpec => ({ id: 11, clusterId: 7, ordinal: 1, name: 'web-1', desired: 'running', restartCount: 0, ...over });

describe('what a snapshot takes', () => {
  it("is a VM's disks or a container's volume, sized by them; nothing without a persistent disk", () => {
    expect(snapshotPlan({ kind: 'vm', diskSizeGb: 10, volumeSizeGb: 5 })).toEqual({ ok: true, kind: 'vm', sizeGb: 15 });
    expect(snapshotPlan({ kind: 'vm', diskSizeGb: null, volumeSizeGb: 5 })).toEqual({ ok: true, kind: 'vm', sizeGb: 5 });
    expect(snapshotPlan({ kind: 'container', diskSizeGb: null, volumeSizeGb: 3 })).toEqual({ ok: true, kind: 'volume', sizeGb: 3 });
    const vm = snapshotPlan({ kind: 'vm', diskSizeGb: null, volumeSizeGb: null });
    expect(vm.ok || vm.reason).toMatch(/no persistent disk.*disk_size or volume_size/);
    const c = snapshotPlan({ kind: 'container', diskSizeGb: null, volumeSizeGb: null });
    expect(c.ok || c.reason).toMatch(/no volume to snapshot/);
  });
  it('is a VirtualMachineSnapshot of the VM or a VolumeSnapshot of the claim its StatefulSet made, labelled with its row', () => {
    const vm = renderSnapshot(cluster(), inst(), { id: 4, objectName: 'web-1-snap-4', kind: 'vm' });
    expect(vm).toMatchObject({ apiVersion: 'snapshot.kubevirt.io/v1beta1', kind: 'VirtualMachineSnapshot', metadata: { name: 'web-1-snap-4', namespace: 'kk-7-web' } });
    expect(vm.spec).toEqual({ source: { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: 'web-1' } });
    expect(snapshotIdOf(vm)).toBe(4);
    expect(vm.metadata.labels?.['kubekloud.io/instance']).toBe('11');
    const vs = renderSnapshot(cluster({ kind: 'container', volumeSizeGb: 2, diskSizeGb: null }), inst(), { id: 5, objectName: 'web-1-snap-5', kind: 'volume' });
    expect(vs).toMatchObject({ apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', spec: { source: { persistentVolumeClaimName: 'data-web-1-0' } } });
  });
});

describe('a snapshot as its controller reports it', () => {
  it('is ready once readyToUse, failed only when a VM snapshot says Failed, and shows a volume snapshot error while it is retried', () => {
    expect(observeSnapshot({ status: { readyToUse: true, phase: 'Succeeded' } })).toEqual({ phase: 'ready', message: null });
    expect(observeSnapshot({ status: { readyToUse: false, phase: 'InProgress' } })).toEqual({ phase: 'creating', message: null });
    expect(observeSnapshot({ status: { phase: 'Failed', error: { message: 'source claim lost' } } })).toEqual({ phase: 'failed', message: 'source claim lost' });
    expect(observeSnapshot({ status: { readyToUse: false, error: { message: 'claim web-1 is not bound' } } })).toEqual({ phase: 'creating', message: 'claim web-1 is not bound' });
    expect(observeSnapshot({})).toEqual({ phase: 'creating', message: null });
    expect(observeSnapshot({ status: { error: { message: 'x'.repeat(5000) } } }).message!.length).toBeLessThanOrEqual(500);
  });
  it('a VM restore is complete, or waits with the reason of its Ready condition', () => {
    expect(observeVmRestore({ status: { complete: true } })).toEqual({ complete: true, reason: null });
    expect(observeVmRestore({ status: { complete: false, conditions: [{ type: 'Progressing', reason: 'x' }, { type: 'Ready', status: 'False', reason: 'VM must be stopped' }] } })).toEqual({ complete: false, reason: 'VM must be stopped' });
    expect(observeVmRestore(null)).toEqual({ complete: false, reason: null });
  });
});

describe('a VM restored from a snapshot', () => {
  const restoredVm = {
    spec: {
      template: {
        spec: {
          volumes: [
            { name: 'rootdisk', dataVolume: { name: 'restore-aa-rootdisk' } },
            { name: 'cloudinit', cloudInitNoCloud: { userData: '' } },
            { name: 'data', persistentVolumeClaim: { claimName: 'restore-aa-data' } },
          ],
        },
      },
    },
  };
  it('runs from the claims KubeVirt made, as its rendering says from then on', () => {
    const disks = restoredVmDisks(restoredVm);
    expect(disks).toEqual({ rootDisk: 'restore-aa-rootdisk', dataClaim: 'restore-aa-data' });
    const c = cluster({ volumeSizeGb: 5 });
    const vm = renderInstanceObjects(c, inst(disks))[0]! as unknown as { spec: { dataVolumeTemplates: { metadata: { name: string } }[]; template: { spec: { volumes: unknown[] } } } };
    expect(vm.spec.dataVolumeTemplates.map((t) => t.metadata.name)).toEqual(['restore-aa-rootdisk']);
    expect(vm.spec.template.spec.volumes).toEqual(expect.arrayContaining(restoredVm.spec.template.spec.volumes.filter((v) => v.name !== 'cloudinit')));
    // Its data claim is KubeVirt's now (owned by the VM): no longer rendered as KubeKloud's own.
    expect(renderVmDataVolume(c, inst(disks))).toBeNull();
    expect(renderVmDataVolume(c, inst())?.metadata.name).toBe('web-1-data');
    expect(restoredVmDisks({})).toEqual({ rootDisk: null, dataClaim: null });
  });
  it('is restored by a VirtualMachineRestore naming the VM and the snapshot', () => {
    expect(renderVmRestore(cluster(), inst(), 9, 'web-1-snap-4')).toMatchObject({
      kind: 'VirtualMachineRestore',
      metadata: { name: 'web-1-restore-9', namespace: 'kk-7-web' },
      spec: { target: { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: 'web-1' }, virtualMachineSnapshotName: 'web-1-snap-4' },
    });
  });
});

describe("a container's volume restored from a snapshot", () => {
  it('is a claim under the name its StatefulSet mounts, made from the VolumeSnapshot and marked with the restore', () => {
    const pvc = renderRestoredClaim(cluster({ kind: 'container', volumeSizeGb: 2, diskSizeGb: null }), inst(), 'web-1-snap-5', 'web-1-snap-5/restore-3');
    expect(pvc.metadata).toMatchObject({ name: 'data-web-1-0', annotations: { 'kubekloud.io/restored-from': 'web-1-snap-5/restore-3' } });
    expect(pvc.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '2Gi' } },
      dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'web-1-snap-5' },
    });
  });
});
