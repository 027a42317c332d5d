// The KubeVirt stand-in on the local plane (docs/LOCAL-CLUSTER.md): VMIs of
// running VMs, virt-api's console, vnc, pause, unpause and restart behind the real API
// server's aggregation layer and RBAC, and LoadBalancer addresses.
import { request } from 'node:https';
import { CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../../testenv/harness/plane.ts';
import { openSubresource, putSubresource, restartPath, subresourcePath } from '../support/kubevirt.ts';
import { createTestNamespace, deleteNamespace, eventually, impersonating, loadTestKubeConfig, serviceAccountUser } from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const kv = { group: 'kubevirt.io', version: 'v1' };

let ns = '';
const asTenant = () => impersonating(kc, serviceAccountUser(ns, 'console-user'));
const asNobody = () => impersonating(kc, serviceAccountUser(ns, 'nobody'));

const getVmi = async (name: string): Promise<any> => custom.getNamespacedCustomObject({ ...kv, namespace: ns, plural: 'virtualmachineinstances', name });
const getVm = async (name: string): Promise<any> => custom.getNamespacedCustomObject({ ...kv, namespace: ns, plural: 'virtualmachines', name });
const paused = (vmi: any) => (vmi.status?.conditions ?? []).find((c: any) => c.type === 'Paused');

async function createVm(name: string, runStrategy = 'Always') {
  await custom.createNamespacedCustomObject({
    ...kv,
    namespace: ns,
    plural: 'virtualmachines',
    body: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name },
      spec: {
        runStrategy,
        template: {
          metadata: { labels: { app: name }, annotations: { note: 'from the template' } },
          spec: { domain: { devices: {}, memory: { guest: '64Mi' } } },
        },
      },
    },
  });
}

const runningVmi = (name: string) =>
  eventually(async () => {
    const vmi = await getVmi(name);
    return vmi.status?.phase === 'Running' ? vmi : undefined;
  }, 30_000, `VMI ${name} Running`);

beforeAll(async () => {
  ns = await createTestNamespace(kc, 'plane-kubevirt');
  for (const name of ['console-user', 'nobody']) await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
  await rbac.createNamespacedRole({
    namespace: ns,
    body: {
      metadata: { name: 'vm-console' },
      rules: [
        { apiGroups: ['subresources.kubevirt.io'], resources: ['virtualmachineinstances/console', 'virtualmachineinstances/vnc'], verbs: ['get'] },
        { apiGroups: ['subresources.kubevirt.io'], resources: ['virtualmachineinstances/pause', 'virtualmachineinstances/unpause', 'virtualmachines/restart'], verbs: ['update'] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: 'console-user' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'vm-console' },
      subjects: [{ kind: 'ServiceAccount', name: 'console-user', namespace: ns }],
    },
  });
  await createVm('vm-a');
});

afterAll(async () => {
  if (ns) await deleteNamespace(kc, ns);
});

describe('VirtualMachineInstances (virt-controller stand-in)', () => {
  it('a running VM gets a Running VMI of its name, with its template labels, owned by it; Halted deletes it', async () => {
    await createVm('vm-life');
    const vm = await getVm('vm-life');
    const vmi = await runningVmi('vm-life');
    expect(vmi.metadata.labels).toEqual({ app: 'vm-life' });
    expect(vmi.metadata.annotations).toEqual({ note: 'from the template' });
    expect(vmi.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'VirtualMachine', uid: vm.metadata.uid, controller: true })]);
    expect(vmi.status.nodeName).toMatch(/^kk-node-\d+$/);
    expect(vmi.status.interfaces[0].ipAddress).toMatch(/^10\.244\.\d+\.\d+$/);

    await custom.patchNamespacedCustomObject(
      { ...kv, namespace: ns, plural: 'virtualmachines', name: 'vm-life', body: [{ op: 'replace', path: '/spec/runStrategy', value: 'Halted' }] },
    );
    await eventually(async () => {
      try {
        await getVmi('vm-life');
        return false;
      } catch (e: any) {
        return e.code === 404;
      }
    }, 30_000, 'the VMI of a Halted VM to be deleted');
  });
});

describe('virt-api stand-in behind the aggregation layer', () => {
  it('is registered through an Available APIService and discovered', async () => {
    const svc: any = await custom.getClusterCustomObject({ group: 'apiregistration.k8s.io', version: 'v1', plural: 'apiservices', name: 'v1.subresources.kubevirt.io' });
    expect(svc.spec.service).toMatchObject({ namespace: 'kubevirt', name: 'virt-api' });
    expect(svc.status.conditions).toContainEqual(expect.objectContaining({ type: 'Available', status: 'True' }));
    const opts: Record<string, any> = {};
    await kc.applyToHTTPSOptions(opts);
    const list = await new Promise<any>((resolve, reject) => {
      request(new URL(`${kc.getCurrentCluster()!.server}/apis/subresources.kubevirt.io/v1`), opts, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(JSON.parse(body)));
      }).on('error', reject).end();
    });
    expect(list.resources.map((x: any) => `${x.name}:${x.verbs.join(',')}`)).toEqual([
      'virtualmachineinstances/console:get',
      'virtualmachineinstances/vnc:get',
      'virtualmachineinstances/pause:update',
      'virtualmachineinstances/unpause:update',
      'virtualmachines/restart:update',
    ]);
  });

  it('serial console: a login prompt, and the input echoed', async () => {
    await runningVmi('vm-a');
    const s = await openSubresource(asTenant(), subresourcePath(ns, 'vm-a', 'console'));
    try {
      expect(s.ws.protocol).toBe('plain.kubevirt.io');
      await s.until('\r\nvm-a login: ');
      s.send('root');
      expect(await s.until('root')).toBe('root');
      s.send('\r');
      await s.until('vm-a login: ');
    } finally {
      s.close();
    }
  });

  it('vnc: the RFB 3.8 handshake, ServerInit and one raw framebuffer rectangle', async () => {
    const s = await openSubresource(asTenant(), subresourcePath(ns, 'vm-a', 'vnc'));
    try {
      expect((await s.take(12)).toString()).toBe('RFB 003.008\n');
      s.send('RFB 003.008\n');
      expect([...(await s.take(2))]).toEqual([1, 1]); // one security type: None
      s.send(Buffer.from([1]));
      expect((await s.take(4)).readUInt32BE(0)).toBe(0); // SecurityResult OK
      s.send(Buffer.from([1])); // ClientInit, shared
      const init = await s.take(24);
      const [width, height, bpp] = [init.readUInt16BE(0), init.readUInt16BE(2), init[4]];
      expect(bpp).toBe(32);
      const name = (await s.take(init.readUInt32BE(20))).toString();
      expect(name).toContain('vm-a');
      const request = Buffer.alloc(10);
      request[0] = 3; // FramebufferUpdateRequest, not incremental
      request.writeUInt16BE(width, 6);
      request.writeUInt16BE(height, 8);
      s.send(request);
      const header = await s.take(16);
      expect(header[0]).toBe(0); // FramebufferUpdate
      expect(header.readUInt16BE(2)).toBe(1);
      expect([header.readUInt16BE(8), header.readUInt16BE(10), header.readInt32BE(12)]).toEqual([width, height, 0]);
      expect((await s.take(width * height * 4)).length).toBe(width * height * 4);
    } finally {
      s.close();
    }
  });

  it('pause sets the VMI Paused condition and shows the VM Paused; unpause clears both; repeats are 409', async () => {
    const before = await runningVmi('vm-a');
    // The VM's own status first (kwok's stage, up to 2 s after its creation, later under load): a
    // stage still pending from before would otherwise write Running over the Paused the pause shows.
    await eventually(async () => (await getVm('vm-a')).status?.printableStatus === 'Running', 30_000, 'VM vm-a Running');
    const tenant = asTenant();
    expect((await putSubresource(tenant, subresourcePath(ns, 'vm-a', 'pause'))).status).toBe(200);
    const vmi = await getVmi('vm-a');
    expect(paused(vmi)).toMatchObject({ status: 'True', reason: 'PausedByUser' });
    expect(vmi.metadata.uid).toBe(before.metadata.uid);
    expect(vmi.status.phase).toBe('Running');
    expect((await getVm('vm-a')).status.printableStatus).toBe('Paused');
    const again = await putSubresource(tenant, subresourcePath(ns, 'vm-a', 'pause'));
    expect(again.status).toBe(409);
    expect(JSON.parse(again.body).message).toContain('VMI is already paused');

    expect((await putSubresource(tenant, subresourcePath(ns, 'vm-a', 'unpause'))).status).toBe(200);
    expect(paused(await getVmi('vm-a'))).toBeUndefined();
    expect((await getVm('vm-a')).status.printableStatus).toBe('Running');
    const notPaused = await putSubresource(tenant, subresourcePath(ns, 'vm-a', 'unpause'));
    expect(notPaused.status).toBe(409);
    expect(JSON.parse(notPaused.body).message).toContain('VMI is not paused');
  });

  it('a VMI that does not exist is 404; one that is not running is 409', async () => {
    expect((await putSubresource(asTenant(), subresourcePath(ns, 'no-such-vm', 'pause'))).status).toBe(404);
    await createVm('vm-halted', 'Halted');
    await custom.createNamespacedCustomObject({
      ...kv,
      namespace: ns,
      plural: 'virtualmachineinstances',
      body: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: 'vmi-pending' }, spec: { domain: { devices: {} } } },
    });
    const r = await putSubresource(asTenant(), subresourcePath(ns, 'vmi-pending', 'pause'));
    expect(r.status).toBe(409);
    expect(JSON.parse(r.body).message).toContain('VMI is not running');
  });

  it("restart: a Stop of the running VMI and a Start on the VM's status, played by the controller; the next VMI comes from the VM's template as it is", async () => {
    await createVm('vm-restart');
    const before = await runningVmi('vm-restart');
    // The template changes, then the restart is asked for at once: the next VMI must carry the change.
    await custom.patchNamespacedCustomObject({
      ...kv,
      namespace: ns,
      plural: 'virtualmachines',
      name: 'vm-restart',
      body: [{ op: 'replace', path: '/spec/template/metadata/annotations', value: { note: 'changed' } }],
    });
    const r = await putSubresource(asTenant(), restartPath(ns, 'vm-restart'));
    expect(r.status, r.body).toBe(202);
    const after = await eventually(async () => {
      const vmi = await getVmi('vm-restart').catch(() => null);
      return vmi && vmi.metadata.uid !== before.metadata.uid && vmi.status?.phase === 'Running' ? vmi : undefined;
    }, 30_000, 'a new VMI Running');
    expect(after.metadata.annotations).toEqual({ note: 'changed' });
    // The requests are taken off once played.
    await eventually(async () => (await getVm('vm-restart')).status?.stateChangeRequests === undefined, 30_000, 'the requests played');
    await custom.deleteNamespacedCustomObject({ ...kv, namespace: ns, plural: 'virtualmachines', name: 'vm-restart' });
  });

  it('restart: a VM without a VMI or one that does not run is 409, one that does not exist 404, a grace period other than 0 is 400', async () => {
    await createVm('vm-stopped', 'Halted');
    const notRunning = await putSubresource(asTenant(), restartPath(ns, 'vm-stopped'));
    expect(notRunning.status).toBe(409);
    expect(JSON.parse(notRunning.body).message).toContain('does not support manual restart requests');
    await createVm('vm-manual', 'Manual');
    const noVmi = await putSubresource(asTenant(), restartPath(ns, 'vm-manual'));
    expect(noVmi.status).toBe(409);
    expect(JSON.parse(noVmi.body).message).toContain('VM is not running');
    expect((await putSubresource(asTenant(), restartPath(ns, 'no-such-vm'))).status).toBe(404);
    const grace = await putSubresource(asTenant(), restartPath(ns, 'vm-a'), '{"gracePeriodSeconds":30}');
    expect(grace.status).toBe(400);
    expect(JSON.parse(grace.body).message).toContain('gracePeriodSeconds');
    expect((await getVm('vm-a')).status?.stateChangeRequests).toBeUndefined();
  });

  it('an identity without RBAC for the subresources is refused by the API server (403)', async () => {
    const nobody = asNobody();
    const restart = await putSubresource(nobody, restartPath(ns, 'vm-a'));
    expect(restart.status).toBe(403);
    expect((await getVm('vm-a')).status?.stateChangeRequests).toBeUndefined();
    const r = await putSubresource(nobody, subresourcePath(ns, 'vm-a', 'pause'));
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).message).toContain(`system:serviceaccount:${ns}:nobody`);
    await expect(openSubresource(nobody, subresourcePath(ns, 'vm-a', 'console'))).rejects.toMatchObject({ status: 403 });
    await expect(openSubresource(nobody, subresourcePath(ns, 'vm-a', 'vnc'))).rejects.toMatchObject({ status: 403 });
    expect(paused(await getVmi('vm-a'))).toBeUndefined();
  });

  it('trusts X-Remote-User only from the aggregator: called directly, it answers 401', async () => {
    const port = readState()!.ports.kubevirt;
    const status = await new Promise<number>((resolve, reject) => {
      request(
        `https://127.0.0.1:${port}${subresourcePath(ns, 'vm-a', 'pause')}`,
        { method: 'PUT', rejectUnauthorized: false, headers: { 'X-Remote-User': 'system:admin', 'X-Remote-Group': 'system:masters' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      ).on('error', reject).end();
    });
    expect(status).toBe(401);
    expect(paused(await getVmi('vm-a'))).toBeUndefined();
  });
});

describe('LoadBalancer Services (simulated load-balancer controller)', () => {
  it('get an ingress address derived from their ClusterIP', async () => {
    await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'lb' }, spec: { type: 'LoadBalancer', selector: { app: 'vm-a' }, ports: [{ port: 80, targetPort: 8080 as any }] } },
    });
    const svc = await eventually(async () => {
      const s = await core.readNamespacedService({ name: 'lb', namespace: ns });
      return s.status?.loadBalancer?.ingress?.length ? s : undefined;
    }, 30_000, 'a load-balancer ingress');
    const [, , a, b] = svc.spec!.clusterIP!.split('.');
    expect(svc.status!.loadBalancer!.ingress).toEqual([{ ip: `198.18.${a}.${b}`, ipMode: 'VIP' }]);
  });
});
