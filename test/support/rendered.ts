// What a test expects to find in Kubernetes for a cluster, written out field by
// field from the API's own view of the cluster, independently of the product's
// rendering and drift code: the namespace and its fences, one workload (and
// Service) per live instance in the state the instance wants, and nothing else
// labelled as KubeKloud's. Returns every problem found; empty means the
// namespace is in its rendered form.
import type { KubeConfig } from '@kubernetes/client-node';
import { requestCredentials } from '../../src/kube/rest.ts';

type Obj = {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; deletionTimestamp?: string; ownerReferences?: { controller?: boolean }[] };
  spec?: any;
};

export type ClusterView = {
  id: number;
  name: string;
  namespace: string;
  instance_type: 'vm' | 'container';
  cpu_per_instance: number;
  memory_per_instance: number;
  image: string;
  ports: { port: number; protocol: string; name?: string }[];
  service_type: string;
  env: Record<string, string>;
  instances: { id: number; instance_name: string; desired_status: string }[];
};

async function getJson(kc: KubeConfig, path: string): Promise<any> {
  const cluster = kc.getCurrentCluster()!;
  const { agent, headers } = await requestCredentials(kc);
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(`${cluster.server}${path}`, { method: 'GET', agent, headers: { accept: 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => (res.statusCode === 404 ? resolve(null) : res.statusCode! >= 300 ? reject(new Error(`GET ${path}: ${res.statusCode} ${text}`)) : resolve(JSON.parse(text))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** JSON with object keys sorted, so key order does not count. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));

const QUANTITY = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/;
const quantity = (v: unknown): number => {
  const m = QUANTITY.exec(String(v));
  if (!m) return NaN;
  const scale: Record<string, number> = { '': 1, m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };
  return Number(m[1]) * scale[m[2] ?? '']!;
};
const sameQuantity = (a: unknown, b: number) => Math.abs(quantity(a) - b) < 1e-6 * Math.max(1, b);

/** Problems with one cluster's namespace, judged against the API's view `c` of it. */
export async function renderedFormProblems(kc: KubeConfig, c: ClusterView, installation: string): Promise<string[]> {
  const p: string[] = [];
  const ns = c.namespace;
  const list = async (path: string) => ((await getJson(kc, path))?.items ?? []) as Obj[];
  const ours = (o: Obj) => o.metadata.labels?.['app.kubernetes.io/managed-by'] === 'kubekloud' && !o.metadata.deletionTimestamp;
  const live = c.instances.filter((i) => i.desired_status !== 'deleted');
  const cpuMilli = Math.round(c.cpu_per_instance * 1000);
  const memMib = Math.round(c.memory_per_instance * 1024);
  const vm = c.instance_type === 'vm';

  const namespace = (await getJson(kc, `/api/v1/namespaces/${ns}`)) as Obj | null;
  if (!namespace) p.push(`${ns}: namespace missing`);
  else {
    const l = namespace.metadata.labels ?? {};
    const level = vm ? 'baseline' : 'restricted';
    if (l['pod-security.kubernetes.io/enforce'] !== level) p.push(`${ns}: pod security enforce is ${l['pod-security.kubernetes.io/enforce']}, not ${level}`);
    if (l['kubekloud.io/installation'] !== installation || l['kubekloud.io/cluster'] !== String(c.id)) p.push(`${ns}: namespace labels ${JSON.stringify(l)}`);
  }

  const perInstance = { cpu: vm ? cpuMilli + 100 : cpuMilli, mem: vm ? memMib + 256 : memMib };
  const quota = (await list(`/api/v1/namespaces/${ns}/resourcequotas`)).filter(ours);
  const n = live.length + 1;
  if (quota.length !== 1 || quota[0]!.metadata.name !== 'kubekloud-quota') p.push(`${ns}: resource quotas [${quota.map((q) => q.metadata.name)}]`);
  else {
    const hard = quota[0]!.spec.hard ?? {};
    if (!sameQuantity(hard.pods, n)) p.push(`${ns}: quota pods ${hard.pods}, want ${n}`);
    if (!sameQuantity(hard['requests.cpu'], (perInstance.cpu * n) / 1000)) p.push(`${ns}: quota requests.cpu ${hard['requests.cpu']}`);
    if (!sameQuantity(hard['limits.memory'], perInstance.mem * n * 2 ** 20)) p.push(`${ns}: quota limits.memory ${hard['limits.memory']}`);
    if (Object.keys(hard).length !== 9) p.push(`${ns}: quota has ${Object.keys(hard).length} limits, not 9`);
  }
  const limits = (await list(`/api/v1/namespaces/${ns}/limitranges`)).filter(ours);
  if (limits.length !== 1 || !sameQuantity(limits[0]!.spec.limits?.[0]?.max?.cpu, perInstance.cpu / 1000)) p.push(`${ns}: limit ranges ${JSON.stringify(limits.map((l) => l.spec))}`);

  const policies = (await list(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`)).filter(ours);
  const names = policies.map((x) => x.metadata.name).sort();
  const wantNames = c.ports.length > 0 ? ['kubekloud-default-deny', 'kubekloud-exposed-ports'] : ['kubekloud-default-deny'];
  if (JSON.stringify(names) !== JSON.stringify(wantNames)) p.push(`${ns}: network policies [${names}], want [${wantNames}]`);
  const deny = policies.find((x) => x.metadata.name === 'kubekloud-default-deny');
  if (deny && canonical(deny.spec) !== canonical({ ingress: [{ from: [{ podSelector: {} }] }], podSelector: {}, policyTypes: ['Ingress'] })) {
    p.push(`${ns}: default-deny policy is ${JSON.stringify(deny.spec)}`);
  }

  const wantWorkloads = live.map((i) => i.instance_name).sort();
  const workloads = vm
    ? (await list(`/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines`)).filter(ours)
    : (await list(`/apis/apps/v1/namespaces/${ns}/statefulsets`)).filter(ours);
  const gotWorkloads = workloads.map((w) => w.metadata.name).sort();
  if (JSON.stringify(gotWorkloads) !== JSON.stringify(wantWorkloads)) p.push(`${ns}: ${vm ? 'VirtualMachines' : 'StatefulSets'} [${gotWorkloads}], want [${wantWorkloads}]`);
  const services = (await list(`/api/v1/namespaces/${ns}/services`)).filter(ours);
  const wantServices = c.ports.length > 0 ? wantWorkloads : [];
  const gotServices = services.map((s) => s.metadata.name).sort();
  if (JSON.stringify(gotServices) !== JSON.stringify(wantServices)) p.push(`${ns}: Services [${gotServices}], want [${wantServices}]`);

  for (const i of live) {
    const where = `${ns}/${i.instance_name}`;
    const w = workloads.find((x) => x.metadata.name === i.instance_name);
    if (w && w.metadata.labels?.['kubekloud.io/instance'] !== String(i.id)) p.push(`${where}: instance label ${w.metadata.labels?.['kubekloud.io/instance']}`);
    const running = i.desired_status === 'running';
    if (w && vm) {
      // A suspended VM runs, paused (KubeVirt's pause); only a stopped one is Halted.
      const vmRuns = running || i.desired_status === 'suspended';
      if (w.spec.runStrategy !== (vmRuns ? 'Always' : 'Halted')) p.push(`${where}: runStrategy ${w.spec.runStrategy}, instance wants ${i.desired_status}`);
      const disk = w.spec.template?.spec?.volumes?.find((v: any) => v.name === 'rootdisk');
      if (disk?.containerDisk?.image !== c.image) p.push(`${where}: root disk ${JSON.stringify(disk)}`);
    } else if (w) {
      if (w.spec.replicas !== (running ? 1 : 0)) p.push(`${where}: replicas ${w.spec.replicas}, instance wants ${i.desired_status}`);
      const pod = w.spec.template?.spec ?? {};
      const containers = pod.containers ?? [];
      if (containers.length !== 1) p.push(`${where}: ${containers.length} containers`);
      const main = containers[0] ?? {};
      if (main.image !== c.image) p.push(`${where}: image ${main.image}, cluster has ${c.image}`);
      const env = Object.fromEntries((main.env ?? []).map((e: { name: string; value: string }) => [e.name, e.value]));
      if (JSON.stringify(env) !== JSON.stringify(c.env) || (main.env ?? []).length !== Object.keys(c.env).length) p.push(`${where}: env ${JSON.stringify(main.env ?? [])}`);
      const ports = (main.ports ?? []).map((x: { containerPort: number }) => x.containerPort).sort();
      if (JSON.stringify(ports) !== JSON.stringify(c.ports.map((x) => x.port).sort())) p.push(`${where}: container ports [${ports}]`);
      for (const k of ['requests', 'limits'] as const) {
        if (!sameQuantity(main.resources?.[k]?.cpu, cpuMilli / 1000) || !sameQuantity(main.resources?.[k]?.memory, memMib * 2 ** 20)) p.push(`${where}: resources.${k} ${JSON.stringify(main.resources?.[k])}`);
      }
      const sc = main.securityContext ?? {};
      if (sc.allowPrivilegeEscalation !== false || sc.runAsNonRoot !== true || sc.privileged || (sc.capabilities?.add ?? []).length > 0 || JSON.stringify(sc.capabilities?.drop) !== '["ALL"]') {
        p.push(`${where}: container securityContext ${JSON.stringify(sc)}`);
      }
      if (pod.hostNetwork || pod.hostPID || pod.hostIPC || (pod.volumes ?? []).some((v: any) => v.hostPath)) p.push(`${where}: host access in the pod template`);
      if (pod.automountServiceAccountToken !== false) p.push(`${where}: service account token automounted`);
    }
    const s = services.find((x) => x.metadata.name === i.instance_name);
    if (s) {
      if (s.spec.type !== c.service_type) p.push(`${where}: Service type ${s.spec.type}, cluster has ${c.service_type}`);
      const sp = (s.spec.ports ?? []).map((x: { port: number; targetPort: unknown }) => `${x.port}->${x.targetPort}`).sort();
      if (JSON.stringify(sp) !== JSON.stringify(c.ports.map((x) => `${x.port}->${x.port}`).sort())) p.push(`${where}: Service ports [${sp}]`);
      if (s.spec.selector?.['kubekloud.io/instance'] !== String(i.id)) p.push(`${where}: Service selector ${JSON.stringify(s.spec.selector)}`);
    }
  }
  return p;
}
