import { describe, expect, it } from 'vitest';
import { add, available, clusterLevelDemand, demandOf, fits, perInstanceExtras, quotaExceededMessage, totalBelowUsage, ZERO, type ExposureShape, type Resources } from '../../src/domain/quota.ts';
import type { ClusterSpec } from '../../src/domain/model.ts';
import { renderClusterObjects, renderInstanceObjects, renderVmDataVolume } from '../../src/domain/render.ts';
import { coresToMilli, cpuQuantity, gibToMib, isWholeMultiple, memoryQuantity } from '../../src/domain/units.ts';

/** Resources with storage and load balancers at zero unless given. */
const r = (x: Partial<Resources>): Resources => ({ ...ZERO, ...x });
const total = r({ cpuMilli: 4000, memoryMib: 8192, instances: 5, storageGb: 50, loadBalancers: 2 });

describe('quota arithmetic', () => {
  it('counts a whole cluster at once', () => {
    expect(demandOf(500, 1024, 3)).toEqual(r({ cpuMilli: 1500, memoryMib: 3072, instances: 3 }));
  });
  it('fits exactly up to the total and not one unit beyond', () => {
    const used = r({ cpuMilli: 3000, memoryMib: 4096, instances: 4, storageGb: 40, loadBalancers: 1 });
    expect(fits(total, used, r({ cpuMilli: 1000, memoryMib: 4096, instances: 1, storageGb: 10, loadBalancers: 1 }))).toBe(true);
    expect(fits(total, used, r({ cpuMilli: 1001 }))).toBe(false);
    expect(fits(total, used, r({ memoryMib: 4097 }))).toBe(false);
    expect(fits(total, used, r({ instances: 2 }))).toBe(false);
    expect(fits(total, used, r({ storageGb: 11 }))).toBe(false);
    expect(fits(total, used, r({ loadBalancers: 2 }))).toBe(false);
  });
  it('never shows negative availability', () => {
    expect(available(total, r({ cpuMilli: 5000, storageGb: 60 }))).toEqual(r({ cpuMilli: 0, memoryMib: 8192, instances: 5, storageGb: 0, loadBalancers: 2 }));
  });
  it('names requested and available amounts when exceeded', () => {
    const msg = quotaExceededMessage(demandOf(2000, 4096, 3), r({ cpuMilli: 1500, memoryMib: 2048, instances: 2 }));
    expect(msg).toBe('Quota exceeded: requested cpu 6 cores, memory 12 GB, 3 instances; available cpu 1.5 cores, memory 2 GB, 2 instances');
  });
  it('names storage and load balancers too when the request holds any', () => {
    const msg = quotaExceededMessage(demandOf(1000, 1024, 2, { storageGb: 5, loadBalancers: 1 }), r({ cpuMilli: 4000, memoryMib: 4096, instances: 4, storageGb: 8, loadBalancers: 3 }));
    expect(msg).toBe(
      'Quota exceeded: requested cpu 2 cores, memory 2 GB, 2 instances, storage 10 GB, 2 load balancers; available cpu 4 cores, memory 4 GB, 4 instances, storage 8 GB, 3 load balancers',
    );
  });
  it('lists each total that would fall below usage', () => {
    expect(totalBelowUsage(total, r({ cpuMilli: 1000, memoryMib: 1024, instances: 1 }))).toEqual([]);
    expect(totalBelowUsage(r({ cpuMilli: 500, memoryMib: 512 }), r({ cpuMilli: 1000, memoryMib: 1024, instances: 1, storageGb: 1, loadBalancers: 1 }))).toEqual([
      'quota_cpu 0.5 is below usage 1',
      'quota_memory 0.5 is below usage 1',
      'quota_instances 0 is below usage 1',
      'quota_storage_gb 0 is below usage 1',
      'quota_load_balancers 0 is below usage 1',
    ]);
  });
});

describe('storage and load balancers of a cluster', () => {
  const shape = (x: Partial<ExposureShape>): ExposureShape => ({ volumeSizeGb: null, serviceType: 'ClusterIP', expose: 'instances', portCount: 1, ...x });
  it('counts each instance volume and each LoadBalancer Service, and the cluster Service once', () => {
    expect(perInstanceExtras(shape({ volumeSizeGb: 7 }))).toEqual({ storageGb: 7, loadBalancers: 0 });
    expect(perInstanceExtras(shape({ serviceType: 'LoadBalancer' }))).toEqual({ storageGb: 0, loadBalancers: 1 });
    expect(perInstanceExtras(shape({ serviceType: 'NodePort' }))).toEqual({ storageGb: 0, loadBalancers: 0 });
    // No ports, no Service.
    expect(perInstanceExtras(shape({ serviceType: 'LoadBalancer', portCount: 0 }))).toEqual({ storageGb: 0, loadBalancers: 0 });
    expect(clusterLevelDemand(shape({ serviceType: 'LoadBalancer', expose: 'cluster' }))).toEqual(r({ loadBalancers: 1 }));
    expect(clusterLevelDemand(shape({ serviceType: 'LoadBalancer' }))).toEqual(ZERO);
    expect(clusterLevelDemand(shape({ serviceType: 'ClusterIP', expose: 'cluster' }))).toEqual(ZERO);
  });

  // The tenant's quota and each namespace's ResourceQuota count the same things.
  it.each([
    { volumeSizeGb: 5, diskSizeGb: null, serviceType: 'LoadBalancer', expose: 'cluster', instanceCount: 3 },
    { volumeSizeGb: null, diskSizeGb: null, serviceType: 'LoadBalancer', expose: 'instances', instanceCount: 2 },
    { volumeSizeGb: 20, diskSizeGb: null, serviceType: 'ClusterIP', expose: 'instances', instanceCount: 4 },
    { volumeSizeGb: 5, diskSizeGb: 30, serviceType: 'ClusterIP', expose: 'instances', instanceCount: 3 },
    { volumeSizeGb: null, diskSizeGb: 12, serviceType: 'ClusterIP', expose: 'instances', instanceCount: 2 },
  ] as const)('renders a ResourceQuota whose requests.storage and services.loadbalancers hold what the tenant reserved, storage with room for one restore (%o)', (x) => {
    for (const kind of ['container', 'vm'] as const) {
      const spec: ClusterSpec = {
        id: 7, ownerId: 3, name: 'web', namespace: 'kk-7-web', kind, cpuMilli: 500, memoryMib: 512, instanceCount: x.instanceCount, image: 'img:1',
        ports: [{ port: 8080, protocol: 'TCP' }], serviceType: x.serviceType, expose: x.expose, volumeSizeGb: x.volumeSizeGb, diskSizeGb: kind === 'vm' ? x.diskSizeGb : null, env: {}, sshKeys: [], userData: null, installation: 'default',
      };
      const s = { volumeSizeGb: spec.volumeSizeGb, diskSizeGb: spec.diskSizeGb, serviceType: spec.serviceType, expose: spec.expose, portCount: spec.ports.length };
      const reserved = add(demandOf(spec.cpuMilli, spec.memoryMib, spec.instanceCount, perInstanceExtras(s)), clusterLevelDemand(s));
      const quota = renderClusterObjects(spec).find((o) => o.kind === 'ResourceQuota') as unknown as { spec: { hard: Record<string, string> } };
      // Plus one instance's disks: a VM restored from a snapshot gets its new claims before the old ones go.
      expect(quota.spec.hard['requests.storage']).toBe(`${reserved.storageGb + perInstanceExtras(s).storageGb}Gi`);
      expect(quota.spec.hard['services.loadbalancers']).toBe(String(reserved.loadBalancers));
      // And what is rendered holds exactly that much.
      const rendered = [
        ...renderClusterObjects(spec),
        ...Array.from({ length: spec.instanceCount }, (_, k) => {
          const i = { id: k + 1, clusterId: 7, ordinal: k + 1, name: `web-${k + 1}`, desired: 'running' as const, restartCount: 0 };
          const dataDisk = renderVmDataVolume(spec, i);
          return [...renderInstanceObjects(spec, i), ...(dataDisk ? [dataDisk] : [])];
        }).flat(),
      ];
      const lbs = rendered.filter((o) => o.kind === 'Service' && (o.spec as { type: string }).type === 'LoadBalancer').length;
      expect(lbs).toBe(reserved.loadBalancers);
      // Every claim rendered (container volumes, VM data disks and root disks) adds up to the storage reserved.
      const gi = (q: string) => Number(q.replace(/Gi$/, ''));
      const claims = rendered.flatMap((o) => {
        const spec = o.spec as { resources?: { requests: { storage: string } }; volumeClaimTemplates?: { spec: { resources: { requests: { storage: string } } } }[]; dataVolumeTemplates?: { spec: { storage: { resources: { requests: { storage: string } } } } }[] };
        if (o.kind === 'PersistentVolumeClaim') return [gi(spec.resources!.requests.storage)];
        if (o.kind === 'StatefulSet') return (spec.volumeClaimTemplates ?? []).map((t) => gi(t.spec.resources.requests.storage));
        if (o.kind === 'VirtualMachine') return (spec.dataVolumeTemplates ?? []).map((t) => gi(t.spec.storage.resources.requests.storage));
        return [];
      });
      expect(claims.reduce((a, b) => a + b, 0)).toBe(reserved.storageGb);
      expect(quota.spec.hard.persistentvolumeclaims).toBe(String((claims.length / spec.instanceCount) * (spec.instanceCount + 1)));
    }
  });
});

describe('units', () => {
  it('converts cores and GB to exact integers', () => {
    expect(coresToMilli(0.1 + 0.2)).toBe(300);
    expect(gibToMib(1.5)).toBe(1536);
  });
  it('detects fractions finer than the unit', () => {
    expect(isWholeMultiple(0.001, 1000)).toBe(true);
    expect(isWholeMultiple(0.0005, 1000)).toBe(false);
  });
  it('writes Kubernetes quantities', () => {
    expect(cpuQuantity(2000)).toBe('2');
    expect(cpuQuantity(250)).toBe('250m');
    expect(memoryQuantity(2048)).toBe('2Gi');
    expect(memoryQuantity(1536)).toBe('1536Mi');
  });
});
