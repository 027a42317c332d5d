// Endpoints are observed, not guessed: the server as a real process on
// PostgreSQL and the real control plane reports, per exposed port, the
// Service's ClusterIP, the node port on the address of the node its pod runs
// on, and the address the (simulated) load-balancer controller published in
// the Service's status -- each compared here with the live objects. A Service
// changed by someone else is put back and the endpoints follow it; a cluster
// exposed as a whole has one Service across its instances; the CLI's ssh
// prints the command for the endpoint it prefers.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, DiscoveryV1Api, type V1Service } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonPatch } from '../../src/kube/rest.ts';
import type { ApiClient } from '../support/api.ts';
import { eventually, loadTestKubeConfig, repoRoot } from '../support/kube.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

type Endpoint = { kind: string; address: string; port: number; protocol: string; target_port: number };
type Instance = { id: number; instance_name: string; node: string | null; endpoints: Endpoint[]; phase: string; message: string | null };
type Cluster = { id: number; name: string; namespace: string; expose: string; endpoints: Endpoint[]; instances: Instance[] };

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const discovery = kc.makeApiClient(DiscoveryV1Api);
let server: ServerProcess;
let client: ApiClient;
let token: string;
let home: string;

beforeAll(async () => {
  server = await startServer({ env: { KUBEKLOUD_ALLOW_NODEPORT: 'true' } });
  const t = await createTenant(server.admin, { cpu: 8, memory: 8, instances: 20 });
  client = t.client;
  token = t.user.token as string;
  home = mkdtempSync(join(tmpdir(), 'kubekloud-endpoints-'));
});
afterAll(async () => {
  await server?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

async function create(body: Record<string, unknown>): Promise<Cluster> {
  const res = await client.post('/api/v1/clusters/?wait=60', { cpu_per_instance: 0.25, memory_per_instance: 0.25, ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body.wait?.converged, JSON.stringify(res.body)).toBe(true);
  return res.body as Cluster;
}
const cluster = async (id: number) => (await client.get(`/api/v1/clusters/${id}`)).body as Cluster;
const instance = async (id: number) => (await client.get(`/api/v1/instances/${id}`)).body as Instance;
const liveService = (namespace: string, name: string) => core.readNamespacedService({ namespace, name });
const internalIP = async (node: string) => (await core.readNode({ name: node })).status!.addresses!.find((a) => a.type === 'InternalIP')!.address;

/** What the live Service and nodes say the endpoints are, written out here by hand (not by the code under test). */
async function expectedFrom(svc: V1Service, nodes: string[]): Promise<Endpoint[]> {
  const addresses = [...new Set(await Promise.all(nodes.map(internalIP)))].sort();
  const ingress = (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname!);
  return (svc.spec!.ports ?? []).flatMap((p) => {
    const base = { protocol: p.protocol ?? 'TCP', target_port: Number(p.targetPort ?? p.port) };
    return [
      { kind: 'cluster', address: svc.spec!.clusterIP!, port: p.port, ...base },
      ...(p.nodePort ? addresses.map((address) => ({ kind: 'node', address, port: p.nodePort!, ...base })) : []),
      ...ingress.map((address) => ({ kind: 'load-balancer', address, port: p.port, ...base })),
    ];
  });
}

/** Waits until the instance reports exactly what its live Service and node say; returns those endpoints. */
async function instanceMatchesLive(c: Cluster, id: number, what: string, check: (svc: V1Service) => boolean = () => true): Promise<Endpoint[]> {
  let last = '';
  return eventually(
    async () => {
      const i = await instance(id);
      const svc = await liveService(c.namespace, i.instance_name);
      last = `live Service ports ${JSON.stringify(svc.spec?.ports)}, instance ${JSON.stringify(i)}`;
      if (!check(svc) || !i.node) return false;
      const want = await expectedFrom(svc, [i.node]);
      last = `reported ${JSON.stringify(i.endpoints)}\nlive      ${JSON.stringify(want)}`;
      return JSON.stringify(i.endpoints) === JSON.stringify(want) && want;
    },
    30_000,
    what,
  ).catch((e) => {
    throw new Error(`${String(e)}\n${last}\n${server.output().slice(-1500)}`);
  });
}

function kk(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'kubekloud.js'), ...args], {
      cwd: home,
      env: { PATH: process.env.PATH ?? '', HOME: home, XDG_CONFIG_HOME: join(home, '.config'), KUBEKLOUD_URL: server.url, KUBEKLOUD_TOKEN: token, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('a NodePort instance', () => {
  let np: Cluster;
  beforeAll(async () => {
    np = await create({ name: 'np', instance_type: 'container', instance_count: 1, ports: [{ port: 8080 }], service_type: 'NodePort' });
  });

  it("reports its ClusterIP and the node port on its node's address", async () => {
    const id = np.instances[0]!.id;
    const eps = await instanceMatchesLive(np, id, 'NodePort endpoints observed');
    const svc = await liveService(np.namespace, 'np-1');
    const i = await instance(id);
    expect(eps).toEqual([
      { kind: 'cluster', address: svc.spec!.clusterIP, port: 8080, protocol: 'TCP', target_port: 8080 },
      { kind: 'node', address: await internalIP(i.node!), port: svc.spec!.ports![0]!.nodePort, protocol: 'TCP', target_port: 8080 },
    ]);
    const shown = await kk(['instances', 'get', String(id)]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`node\\s+${eps[1]!.address.replace(/\./g, '\\.')}\\s+${eps[1]!.port}/TCP\\s+8080`));
    expect(shown.stdout).toMatch(new RegExp(`cluster\\s+${eps[0]!.address.replace(/\./g, '\\.')}\\s+8080/TCP`));
  });

  it('follows a Service someone else changed, and again once KubeKloud has put it back', async () => {
    const id = np.instances[0]!.id;
    const before = await liveService(np.namespace, 'np-1');
    const nodePort = before.spec!.ports![0]!.nodePort!;
    // Another client moves the port and the node port.
    const other = 30000 + ((nodePort - 30000 + 1) % 2768);
    await jsonPatch(kc, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'np-1', namespace: np.namespace } }, [
      { op: 'replace', path: '/spec/ports/0/port', value: 9090 },
      { op: 'replace', path: '/spec/ports/0/nodePort', value: other },
    ]).catch((e) => {
      throw new Error(`${String(e)} ${JSON.stringify(e)}`);
    });
    // Put back: port 8080 again, and the endpoints are what the live Service says now.
    const after = await instanceMatchesLive(np, id, 'repaired Service observed', (svc) => svc.spec!.ports!.length === 1 && svc.spec!.ports![0]!.port === 8080);
    expect(after.map((e) => [e.kind, e.port === 8080 || e.kind === 'node'])).toEqual([
      ['cluster', true],
      ['node', true],
    ]);
    const live = await liveService(np.namespace, 'np-1');
    expect(after[1]!.port).toBe(live.spec!.ports![0]!.nodePort);
    // KubeKloud renders no node port: the API server keeps the one allocated by the edit, so the endpoints moved with it.
    expect(live.spec!.ports![0]!.nodePort).toBe(other);
    expect(after[1]!.port).not.toBe(nodePort);
    // And the instance came through it running, not failed.
    await eventually(async () => {
      const i = await instance(id);
      return i.phase === 'running' && i.message === null;
    }, 30_000, 'instance running again');
  });
});

describe('a LoadBalancer VM exposing ssh', () => {
  let vm: Cluster;
  beforeAll(async () => {
    vm = await create({ name: 'vmlb', instance_type: 'vm', instance_count: 1, ports: [{ port: 22 }], service_type: 'LoadBalancer' });
  });

  it('reports the address the load balancer published, once the Service has it', async () => {
    const id = vm.instances[0]!.id;
    const eps = await instanceMatchesLive(vm, id, 'load-balancer endpoint observed', (svc) => (svc.status?.loadBalancer?.ingress?.length ?? 0) > 0);
    const svc = await liveService(vm.namespace, 'vmlb-1');
    expect(eps.filter((e) => e.kind === 'load-balancer')).toEqual([
      { kind: 'load-balancer', address: svc.status!.loadBalancer!.ingress![0]!.ip, port: 22, protocol: 'TCP', target_port: 22 },
    ]);
    expect(eps.map((e) => e.kind)).toEqual(['cluster', 'node', 'load-balancer']);
  });

  it('kubekloud ssh prints the command for the load balancer, and --exec runs it', async () => {
    const id = vm.instances[0]!.id;
    const lb = (await instance(id)).endpoints.find((e) => e.kind === 'load-balancer')!;
    const printed = await kk(['ssh', String(id)]);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toBe(`ssh ${lb.address}\n`);
    const asUser = await kk(['ssh', String(id), '--user', 'ubuntu', '--', '-i', '/keys/my key']);
    expect(asUser.stdout).toBe(`ssh ubuntu@${lb.address} -i '/keys/my key'\n`);
    // --exec runs `ssh` from PATH: here a stand-in that shows what it was given.
    writeFileSync(join(home, 'ssh'), '#!/bin/sh\necho "ssh was run with: $*"\nexit 7\n');
    chmodSync(join(home, 'ssh'), 0o755);
    const ran = await kk(['ssh', String(id), '--exec', '--user', 'ubuntu'], { PATH: `${home}:${process.env.PATH ?? ''}` });
    expect(ran.stdout).toBe(`ssh was run with: ubuntu@${lb.address}\n`);
    expect(ran.code).toBe(7); // ssh's own exit status
  });

  it('kubekloud ssh refuses clearly: a container, a VM without port 22, a user name that is not one', async () => {
    const np = (await client.get('/api/v1/clusters/')).body.find((c: Cluster) => c.name === 'np') as Cluster;
    const container = await kk(['ssh', String((await cluster(np.id)).instances[0]!.id)]);
    expect(container.code).toBe(1);
    expect(container.stderr).toMatch(/is a container; ssh is for VM instances/);
    const plain = await create({ name: 'vmweb', instance_type: 'vm', instance_count: 1, ports: [{ port: 80 }], service_type: 'LoadBalancer' });
    const noSsh = await kk(['ssh', String(plain.instances[0]!.id)]);
    expect(noSsh.code).toBe(1);
    expect(noSsh.stderr).toBe('error: instance vmweb-1 does not expose port 22: create its cluster with --port 22\n');
    const badUser = await kk(['ssh', String(vm.instances[0]!.id), '--user', 'x; rm -rf /']);
    expect(badUser.code).toBe(2);
  });
});

describe('a cluster exposed as a whole', () => {
  let pool: Cluster;
  beforeAll(async () => {
    pool = await create({ name: 'pool', instance_type: 'container', instance_count: 2, ports: [{ port: 8080 }], service_type: 'LoadBalancer', expose: 'cluster' });
  });

  it('has one Service across its instances, and its endpoints on the cluster', async () => {
    expect(pool.expose).toBe('cluster');
    const svc = await liveService(pool.namespace, 'pool');
    expect(svc.spec!.selector).toEqual({ 'kubekloud.io/cluster': String(pool.id) });
    // The endpoints controller sends the Service's traffic to both instances' pods.
    const pods = (await core.listNamespacedPod({ namespace: pool.namespace })).items;
    await eventually(async () => {
      const slices = (await discovery.listNamespacedEndpointSlice({ namespace: pool.namespace, labelSelector: 'kubernetes.io/service-name=pool' })).items;
      const ips = slices.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses)).sort();
      return ips.length === 2 && JSON.stringify(ips) === JSON.stringify(pods.map((p) => p.status!.podIP!).sort());
    }, 30_000, 'the cluster Service selects both pods');
    let last = '';
    await eventually(async () => {
      const c = await cluster(pool.id);
      const live = await liveService(pool.namespace, 'pool');
      if (!live.status?.loadBalancer?.ingress?.length) return false;
      const nodes = c.instances.map((i) => i.node).filter((n): n is string => n !== null);
      if (nodes.length !== 2) return false;
      const want = await expectedFrom(live, nodes);
      last = `reported ${JSON.stringify(c.endpoints)}\nlive      ${JSON.stringify(want)}`;
      return JSON.stringify(c.endpoints) === JSON.stringify(want);
    }, 30_000, 'cluster endpoints observed').catch((e) => {
      throw new Error(`${String(e)}\n${last}`);
    });
    const c = await cluster(pool.id);
    expect(c.endpoints.map((e) => e.kind)).toEqual(['cluster', ...c.endpoints.filter((e) => e.kind === 'node').map(() => 'node'), 'load-balancer']);
    const shown = await kk(['clusters', 'get', 'pool']);
    expect(shown.stdout).toContain(`load-balancer ${c.endpoints.at(-1)!.address}:8080/TCP -> 8080`);
  });

  it('refuses expose: cluster without ports, and an unknown value, with a 422 naming the field', async () => {
    const none = await client.post('/api/v1/clusters/', { name: 'noports', instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 1, expose: 'cluster' });
    expect(none.status).toBe(422);
    expect(none.body.detail).toEqual([expect.objectContaining({ loc: ['body', 'expose'] })]);
    const odd = await client.post('/api/v1/clusters/', { name: 'odd', instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 1, ports: [{ port: 80 }], expose: 'everything' });
    expect(odd.status).toBe(422);
    expect(JSON.stringify(odd.body.detail)).toContain('expose');
  });
});
