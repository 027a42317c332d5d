// Suspend keeps a VM's memory: the VM keeps running and its
// VirtualMachineInstance is paused through KubeVirt's pause subresource
// (served on the plane by the virt-api stand-in behind the real aggregation
// layer); resume unpauses it. The status comes from the VMI's Paused
// condition, and the observer puts a pause changed behind KubeKloud's back
// back. A real server process, PostgreSQL and the local plane.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api.ts';
import { eventually, loadTestKubeConfig } from '../support/kube.ts';
import { putSubresource, subresourcePath } from '../support/kubevirt.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

let db: TestDatabase;
let server: ServerProcess;
const kc = loadTestKubeConfig();
const custom = kc.makeApiClient(CustomObjectsApi);
const kv = { group: 'kubevirt.io', version: 'v1' };

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startServer({ databaseUrl: db.url });
});
afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

const vmi = (namespace: string, name: string): Promise<any> => custom.getNamespacedCustomObject({ ...kv, namespace, plural: 'virtualmachineinstances', name });
const vm = (namespace: string, name: string): Promise<any> => custom.getNamespacedCustomObject({ ...kv, namespace, plural: 'virtualmachines', name });
const isPaused = (v: any) => (v.status?.conditions ?? []).some((c: any) => c.type === 'Paused' && c.status === 'True');
const phaseOf = async (client: ApiClient, id: number) => (await client.get(`/api/v1/instances/${id}`)).body.phase as string;

describe('VM suspend and resume: KubeVirt pause, the VMI kept', () => {
  let client: ApiClient;
  let c: { id: number; namespace: string; instances: { id: number; instance_name: string }[] };

  beforeAll(async () => {
    ({ client } = await createTenant(server.admin, { cpu: 2, memory: 2 }));
    const created = await client.request('POST', '/api/v1/clusters/?wait=45', { name: 'frz', instance_type: 'vm', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 2 });
    expect(created.body.wait.converged).toBe(true);
    c = created.body;
  });

  it('suspend pauses the running VMI (same UID, still Running) and shows suspended from its Paused condition; resume unpauses it', { timeout: 120_000 }, async () => {
    const [first] = c.instances;
    const name = 'frz-1';
    const before = await eventually(async () => {
      const v = await vmi(c.namespace, name);
      return v.status?.phase === 'Running' ? v : undefined;
    }, 30_000, 'the VMI running');

    const suspend = await client.request('POST', `/api/v1/instances/${first!.id}/operate?wait=45`, { operation: 'suspend' });
    expect(suspend.body.wait.converged).toBe(true);
    expect(await phaseOf(client, first!.id)).toBe('suspended');
    const paused = await vmi(c.namespace, name);
    expect(paused.metadata.uid).toBe(before.metadata.uid);
    expect(paused.status.phase).toBe('Running');
    expect(paused.status.conditions).toContainEqual(expect.objectContaining({ type: 'Paused', status: 'True', reason: 'PausedByUser' }));
    expect((await vm(c.namespace, name)).spec.runStrategy).toBe('Always');

    const resume = await client.request('POST', `/api/v1/instances/${first!.id}/operate?wait=45`, { operation: 'resume' });
    expect(resume.body.wait.converged).toBe(true);
    expect(await phaseOf(client, first!.id)).toBe('running');
    const resumed = await vmi(c.namespace, name);
    expect(resumed.metadata.uid).toBe(before.metadata.uid);
    expect(isPaused(resumed)).toBe(false);
  });

  it('the observer puts a pause back: a suspended VM found unpaused is paused again, a running one found paused is unpaused', { timeout: 120_000 }, async () => {
    const [first] = c.instances;
    const name = 'frz-1';
    expect((await client.request('POST', `/api/v1/instances/${first!.id}/operate?wait=45`, { operation: 'suspend' })).body.wait.converged).toBe(true);
    // Someone with rights on the subresource unpauses it behind KubeKloud's back.
    expect((await putSubresource(kc, subresourcePath(c.namespace, name, 'unpause'))).status).toBe(200);
    await eventually(async () => isPaused(await vmi(c.namespace, name)), 30_000, 'the VMI paused again by the observer');
    await eventually(async () => (await phaseOf(client, first!.id)) === 'suspended', 30_000, 'suspended again');

    expect((await client.request('POST', `/api/v1/instances/${first!.id}/operate?wait=45`, { operation: 'resume' })).body.wait.converged).toBe(true);
    expect((await putSubresource(kc, subresourcePath(c.namespace, name, 'pause'))).status).toBe(200);
    await eventually(async () => !isPaused(await vmi(c.namespace, name)), 30_000, 'the VMI unpaused by the observer');
    await eventually(async () => (await phaseOf(client, first!.id)) === 'running', 30_000, 'running again');
  });

  it('cluster suspend and resume pause and unpause every VM; stop still halts it (the VMI goes)', { timeout: 120_000 }, async () => {
    const uids = await Promise.all(c.instances.map(async (i) => (await vmi(c.namespace, i.instance_name)).metadata.uid));
    const suspend = await client.request('POST', `/api/v1/clusters/${c.id}/suspend?wait=45`);
    expect(suspend.body.wait.converged).toBe(true);
    for (const [n, i] of c.instances.entries()) {
      const v = await vmi(c.namespace, i.instance_name);
      expect([v.metadata.uid, v.status.phase, isPaused(v)]).toEqual([uids[n], 'Running', true]);
      expect(await phaseOf(client, i.id)).toBe('suspended');
    }
    const resume = await client.request('POST', `/api/v1/clusters/${c.id}/resume?wait=45`);
    expect(resume.body.wait.converged).toBe(true);
    for (const [n, i] of c.instances.entries()) {
      const v = await vmi(c.namespace, i.instance_name);
      expect([v.metadata.uid, isPaused(v)]).toEqual([uids[n], false]);
    }

    const [first] = c.instances;
    const stop = await client.request('POST', `/api/v1/instances/${first!.id}/operate?wait=45`, { operation: 'stop' });
    expect(stop.body.wait.converged).toBe(true);
    expect((await vm(c.namespace, first!.instance_name)).spec.runStrategy).toBe('Halted');
    await eventually(async () => {
      try {
        await vmi(c.namespace, first!.instance_name);
        return false;
      } catch (e: any) {
        return e.code === 404;
      }
    }, 30_000, 'the VMI of a stopped VM gone');
  });
});
