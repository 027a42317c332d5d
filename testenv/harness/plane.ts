// The local control plane: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok (fake nodes, pods, Service load balancers) and the
// KubeVirt stand-in (virt-api's subresources behind a real APIService, VMIs of
// running VMs, and the storage of VM disks: a volume provisioner, DataVolume
// imports, volume and VM snapshots, restores), all run from one cached
// `kkplane` binary as detached background processes.
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ensureBinary, pinnedVersions } from './build.ts';
import {
  PlaneError,
  crdsDir,
  importStepMs,
  kubeconfigPath,
  logsDir,
  nodeIP,
  nodeShape,
  podCIDR,
  portEnvNames,
  ports as configuredPorts,
  runDir,
  serviceCIDR,
  stagesDir,
  stateDir,
  statePath,
  type Ports,
} from './config.ts';
import { request, probe } from './http.ts';
import { isAlive, withLock } from './lock.ts';
import { crdDocuments, type OperatorCrdSource } from './operatorCrds.ts';

export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok' | 'kubevirt';
const ORDER: ComponentName[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'kubevirt'];

/**
 * Leader election of the controller-manager and the scheduler: shorter than
 * the defaults (15 s, 10 s, 2 s) so that a restarted process, which must wait
 * out its predecessor's lease, is leader within 10 s; a process that cannot
 * renew for 8 s exits and kkplane starts it again.
 */
const LEADER_ELECTION = ['--leader-elect=true', '--leader-elect-lease-duration=10s', '--leader-elect-renew-deadline=8s', '--leader-elect-retry-period=2s'];

export interface ComponentState {
  name: ComponentName;
  pid: number;
  port: number;
  log: string;
  startedAt: string;
  /** Arguments after the component name, so one component can be restarted alone. */
  args?: string[];
}

export interface PlaneState {
  binary: string;
  apiURL: string;
  kubeconfig: string;
  token: string;
  ports: Ports;
  nodes: number;
  versions: { kubernetes: string; etcd: string; kwok: string };
  components: ComponentState[];
  readyAt?: string;
}

export interface UpOptions {
  nodes?: number;
  log?: (line: string) => void;
}

export interface UpResult {
  kubeconfigPath: string;
  apiURL: string;
  startedHere: boolean;
  state: PlaneState;
  startupMs?: number;
}

const lockDir = join(stateDir, '.lock');
const defaultLog = (line: string) => console.error(line);

export function readState(): PlaneState | undefined {
  try {
    return JSON.parse(readFileSync(statePath, 'utf8')) as PlaneState;
  } catch {
    return undefined;
  }
}

function writeState(s: PlaneState): void {
  mkdirSync(stateDir, { recursive: true });
  const tmp = `${statePath}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(tmp, statePath);
}

/** True when pid is alive and really is our kkplane process for `name`. */
export function componentAlive(c: Pick<ComponentState, 'pid' | 'name'>): boolean {
  if (!isAlive(c.pid)) return false;
  try {
    const argv = readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').split('\0');
    return argv.some((a) => a.endsWith('kkplane')) && argv[1] === c.name;
  } catch {
    return process.platform !== 'linux'; // no /proc: trust the pid
  }
}

function caBundle(): Buffer {
  return readFileSync(join(runDir, 'pki', 'apiserver.crt'));
}

async function apiReady(s: Pick<PlaneState, 'apiURL' | 'token'>): Promise<boolean> {
  try {
    return await probe(`${s.apiURL}/readyz`, { token: s.token, ca: caBundle() });
  } catch {
    return false;
  }
}

/**
 * Is a plane fully up: every component alive and the API server ready? A busy
 * API server gets `patienceMs` to answer before the plane counts as broken.
 */
export async function planeHealthy(s = readState(), patienceMs = 20_000): Promise<boolean> {
  if (!s) return false;
  if (!ORDER.every((n) => s.components.some((c) => c.name === n && componentAlive(c)))) return false;
  const deadline = Date.now() + patienceMs;
  for (;;) {
    if (await apiReady(s)) return true;
    if (Date.now() > deadline) return false;
    await sleep(500);
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

const portOwner: Record<keyof Ports, string> = {
  etcd: 'etcd (client)',
  etcdPeer: 'etcd (peer)',
  apiserver: 'kube-apiserver',
  controllerManager: 'kube-controller-manager',
  scheduler: 'kube-scheduler',
  kwok: 'kwok',
  kubevirt: 'kubevirt (virt-api stand-in)',
};

async function checkPorts(p: Ports): Promise<void> {
  for (const key of Object.keys(p) as (keyof Ports)[]) {
    if (!(await portFree(p[key]))) {
      throw new PlaneError(
        `port ${p[key]} for ${portOwner[key]} is already in use on 127.0.0.1 ` +
          `(stop what uses it, or choose another port with ${portEnvNames[key]}=<port>)`,
      );
    }
  }
}

function kubeconfigYaml(apiURL: string, ca: Buffer, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: kubekloud-local',
    '  cluster:',
    `    server: ${apiURL}`,
    `    certificate-authority-data: ${ca.toString('base64')}`,
    'users:',
    '- name: kubekloud-admin',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: kubekloud-local',
    '  context:',
    '    cluster: kubekloud-local',
    '    user: kubekloud-admin',
    '    namespace: default',
    'current-context: kubekloud-local',
    '',
  ].join('\n');
}

function tailOf(path: string, lines = 8): string {
  try {
    const all = readFileSync(path, 'utf8').trimEnd().split('\n');
    return all.slice(-lines).map((l) => `    ${l.length > 300 ? `${l.slice(0, 300)}…` : l}`).join('\n');
  } catch {
    return '';
  }
}

interface Running extends ComponentState {
  exited?: number | string;
}

async function sleep(ms: number) {
  await new Promise((r) => setTimeout(r, ms));
}

/** Wait for check() to be true; fail early when one of the watched components exits. */
async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  watched: Running[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const c of watched) {
      if (c.exited !== undefined || !isAlive(c.pid)) {
        throw new PlaneError(
          `${c.name} exited while starting (${c.exited === undefined ? 'gone' : `exit ${c.exited}`}); its log: ${c.log}\n${tailOf(c.log)}`,
        );
      }
    }
    if (await check()) return;
    if (Date.now() > deadline) {
      const logs = watched.map((c) => `${c.name}: ${c.log}`).join(', ');
      throw new PlaneError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}; logs: ${logs}`);
    }
    await sleep(150);
  }
}

function start(binary: string, name: ComponentName, port: number, args: string[], append = false): Running {
  mkdirSync(logsDir, { recursive: true });
  const log = join(logsDir, `${name}.log`);
  const fd = openSync(log, append ? 'a' : 'w');
  const child = spawn(binary, [name, ...args], {
    cwd: runDir,
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, KUBECONFIG: '' },
  });
  closeSync(fd);
  if (!child.pid) throw new PlaneError(`could not start ${name} (${binary})`);
  const r: Running = { name, pid: child.pid, port, log, startedAt: new Date().toISOString(), args };
  child.on('exit', (code, signal) => {
    r.exited = code ?? signal ?? 'unknown';
  });
  child.on('error', () => {
    r.exited = 'spawn error';
  });
  child.unref();
  return r;
}

/** SIGTERM each component (kwok first, etcd last), SIGKILL after a grace period. */
async function stopComponents(components: Pick<ComponentState, 'name' | 'pid'>[], graceMs = 8000): Promise<void> {
  const byOrder = [...components].sort((a, b) => ORDER.indexOf(b.name) - ORDER.indexOf(a.name));
  for (const c of byOrder) {
    if (!componentAlive(c)) continue;
    try {
      process.kill(c.pid, 'SIGTERM');
    } catch {
      continue;
    }
    const deadline = Date.now() + (c.name === 'etcd' || c.name === 'kube-apiserver' ? graceMs : graceMs / 2);
    while (isAlive(c.pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(c.pid)) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      while (isAlive(c.pid)) await sleep(20);
    }
  }
}

function cleanTemporaryState(): void {
  rmSync(runDir, { recursive: true, force: true });
  rmSync(kubeconfigPath, { force: true });
  rmSync(statePath, { force: true });
}

function stageFiles(): string[] {
  return readdirSync(stagesDir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(stagesDir, f));
}

/** YAML documents of testenv/crds, sent as they are (the API server parses YAML). */
function crdDocs(): string[] {
  return readdirSync(crdsDir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .flatMap((f) => readFileSync(join(crdsDir, f), 'utf8').split(/^---\s*$/m))
    .filter((doc) => /^kind:/m.test(doc));
}

/**
 * The volume snapshot API (VolumeSnapshot, VolumeSnapshotContent,
 * VolumeSnapshotClass), from the CRD manifests the CSI external-snapshotter
 * publishes in its client module, fetched with `go mod download` like the
 * operators' CRDs (operatorCrds.ts); installed at every start.
 */
export const SNAPSHOT_CRDS: OperatorCrdSource = {
  project: 'CSI external-snapshotter (VolumeSnapshot API: VM disk snapshots)',
  module: 'github.com/kubernetes-csi/external-snapshotter/client/v8',
  version: 'v8.7.0',
  dir: 'config/crd',
  files: [
    'snapshot.storage.k8s.io_volumesnapshotclasses.yaml',
    'snapshot.storage.k8s.io_volumesnapshotcontents.yaml',
    'snapshot.storage.k8s.io_volumesnapshots.yaml',
  ],
};

/** The provisioner of the KubeVirt stand-in (testenv/cmd/kkplane/storage.go). */
export const PROVISIONER = 'kubekloud.io/kkplane-local';

/** The default StorageClass and VolumeSnapshotClass, made at every start (their paths and bodies). */
function storageClasses(): [string, unknown][] {
  const labels = { 'app.kubernetes.io/managed-by': 'kubekloud-testenv' };
  return [
    [
      '/apis/storage.k8s.io/v1/storageclasses/kk-standard',
      {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: 'kk-standard', labels, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
        provisioner: PROVISIONER,
        reclaimPolicy: 'Delete',
        volumeBindingMode: 'Immediate',
        allowVolumeExpansion: true,
      },
    ],
    [
      '/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses/kk-snapshots',
      {
        apiVersion: 'snapshot.storage.k8s.io/v1',
        kind: 'VolumeSnapshotClass',
        metadata: { name: 'kk-snapshots', labels, annotations: { 'snapshot.storage.kubernetes.io/is-default-class': 'true' } },
        driver: PROVISIONER,
        deletionPolicy: 'Delete',
      },
    ],
  ];
}

/**
 * Bring the plane up, or reuse the one that is already up. Builds the binary
 * first when needed. On any failure everything started here is stopped again.
 */
export async function up(opts: UpOptions = {}): Promise<UpResult> {
  const log = opts.log ?? defaultLog;
  mkdirSync(stateDir, { recursive: true });
  return withLock(lockDir, async () => {
    const existing = readState();
    if (existing && (await planeHealthy(existing))) {
      return { kubeconfigPath, apiURL: existing.apiURL, startedHere: false, state: existing };
    }
    if (existing) {
      log('local control plane: found a stopped or broken plane; cleaning it up before starting a new one');
      await stopComponents(existing.components);
      cleanTemporaryState();
    }
    const plan = await ensureBinary(log);
    const began = Date.now();
    const state = await startPlane(plan.binary, opts.nodes, log);
    const startupMs = Date.now() - began;
    return { kubeconfigPath, apiURL: state.apiURL, startedHere: true, state, startupMs };
  }, (owner) => log(`local control plane: waiting for process ${owner}, which is starting or stopping the plane`));
}

async function startPlane(binary: string, nodeCount: number | undefined, log: (l: string) => void): Promise<PlaneState> {
  const p = configuredPorts();
  await checkPorts(p);
  const shape = nodeShape(nodeCount);
  // Read (and the first time download) before anything starts.
  const crdYaml = [...crdDocs(), ...crdDocuments(SNAPSHOT_CRDS).map((d) => d.yaml)];
  rmSync(runDir, { recursive: true, force: true });
  const pki = join(runDir, 'pki');
  mkdirSync(pki, { recursive: true });

  const token = randomBytes(24).toString('hex');
  writeFileSync(join(runDir, 'tokens.csv'), `${token},kubekloud-admin,kubekloud-admin,"system:masters"\n`, { mode: 0o600 });
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  writeFileSync(join(pki, 'sa.key'), privateKey, { mode: 0o600 });
  writeFileSync(join(pki, 'sa.pub'), publicKey);
  // The aggregation layer's front-proxy CA and client certificate, and the
  // virt-api stand-in's serving CA and certificate (testenv/cmd/kkplane/pki.go).
  const certs = spawnSync(binary, ['pki', `--dir=${pki}`], { encoding: 'utf8' });
  if (certs.status !== 0) throw new PlaneError(`kkplane pki failed: ${certs.stderr || certs.error?.message}`);

  const apiURL = `https://127.0.0.1:${p.apiserver}`;
  const versions = pinnedVersions();
  const state: PlaneState = {
    binary,
    apiURL,
    kubeconfig: kubeconfigPath,
    token,
    ports: p,
    nodes: shape.count,
    versions: { kubernetes: versions.kubernetes, etcd: versions.etcd, kwok: versions.kwok },
    components: [],
  };
  const running: Running[] = [];
  const launch = (name: ComponentName, port: number, args: string[]) => {
    const r = start(binary, name, port, args);
    running.push(r);
    state.components = running.map(({ exited: _e, ...c }) => c);
    writeState(state); // record pids at once so `down` can always find them
    return r;
  };

  try {
    // etcd
    const etcdURL = `http://127.0.0.1:${p.etcd}`;
    const peerURL = `http://127.0.0.1:${p.etcdPeer}`;
    const etcd = launch('etcd', p.etcd, [
      '--name=kubekloud',
      `--data-dir=${join(runDir, 'etcd')}`,
      `--listen-client-urls=${etcdURL}`,
      `--advertise-client-urls=${etcdURL}`,
      `--listen-peer-urls=${peerURL}`,
      `--initial-advertise-peer-urls=${peerURL}`,
      `--initial-cluster=kubekloud=${peerURL}`,
      '--initial-cluster-state=new',
      '--unsafe-no-fsync=true',
      '--quota-backend-bytes=4294967296',
      '--log-level=warn',
    ]);
    await waitFor('etcd to be healthy', () => probe(`${etcdURL}/health`), [etcd], 30_000);

    // kube-apiserver
    const apiserver = launch('kube-apiserver', p.apiserver, [
      `--etcd-servers=${etcdURL}`,
      `--cert-dir=${pki}`,
      `--secure-port=${p.apiserver}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      '--endpoint-reconciler-type=none',
      `--service-cluster-ip-range=${serviceCIDR}`,
      '--allow-privileged=true',
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,LimitRanger,ResourceQuota,PodSecurity',
      `--token-auth-file=${join(runDir, 'tokens.csv')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      '--api-audiences=https://kubernetes.default.svc.cluster.local',
      // Aggregation: the identity of a proxied request travels in X-Remote-*
      // headers, trusted by the backend only from the front-proxy client
      // certificate. APIServices are reached through their Service (not its
      // endpoints: see registerVirtApi).
      `--requestheader-client-ca-file=${join(pki, 'front-proxy-ca.crt')}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${join(pki, 'front-proxy-client.crt')}`,
      `--proxy-client-key-file=${join(pki, 'front-proxy-client.key')}`,
      '--profiling=false',
      '--v=0',
    ]);
    await waitFor(
      'kube-apiserver to be ready',
      async () => existsSync(join(pki, 'apiserver.crt')) && apiReady(state),
      [etcd, apiserver],
      90_000,
    );

    const ca = caBundle();
    writeFileSync(kubeconfigPath, kubeconfigYaml(apiURL, ca, token), { mode: 0o600 });
    const call = (method: string, path: string, body?: unknown, contentType?: string) =>
      request(`${apiURL}${path}`, { method, body, token, ca, contentType });

    // The CRDs (KubeVirt's, CDI's DataVolume, the volume snapshot API), all at
    // once and before kwok and the stand-in start (their watches need them in
    // discovery), and the fake nodes for kwok to manage (no taint: ordinary
    // pods schedule on them).
    const crds: string[] = [];
    const nodes = Array.from({ length: shape.count }, (_, i) => {
      const name = `kk-node-${i}`;
      const res = { cpu: shape.cpu, memory: shape.memory, pods: shape.pods, 'ephemeral-storage': '1Ti' };
      return {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: {
            'kubernetes.io/hostname': name,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'node-role.kubernetes.io/worker': '',
            type: 'kwok',
          },
        },
        status: { capacity: res, allocatable: res },
      };
    });
    await Promise.all([
      ...crdYaml.map(async (doc) => {
        const r = await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', doc, 'application/yaml');
        if (r.status !== 201 && r.status !== 409) throw new PlaneError(`creating a CRD failed: ${r.status} ${r.body.slice(0, 500)}`);
        crds.push(r.status === 201 ? r.json().metadata.name : r.json().details.name);
      }),
      ...nodes.map(async (node) => {
        const r = await call('POST', '/api/v1/nodes', node);
        if (r.status !== 201 && r.status !== 409) throw new PlaneError(`creating node ${node.metadata.name} failed: ${r.status} ${r.body}`);
      }),
    ]);
    await waitFor(
      'the CRDs to be established and published',
      async () => {
        const list = await call('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
        if (list.status !== 200) return false;
        const established = new Set(
          (list.json().items ?? [])
            .filter((c: any) => (c.status?.conditions ?? []).some((x: any) => x.type === 'Established' && x.status === 'True'))
            .map((c: any) => c.metadata.name),
        );
        if (!crds.every((c) => established.has(c))) return false;
        const oa = await call('GET', '/openapi/v3');
        return oa.status === 200 && Boolean(oa.json().paths?.['apis/kubevirt.io/v1']);
      },
      [etcd, apiserver],
      30_000,
    );
    // The default StorageClass (the stand-in's provisioner) and
    // VolumeSnapshotClass, server-side applied: a create (POST) of an object
    // of a CRD established less than 2 s ago is held for 2 s by the API server.
    await Promise.all(
      storageClasses().map(async ([path, body]) => {
        const r = await call('PATCH', `${path}?fieldManager=kubekloud-testenv&force=true`, body, 'application/apply-patch+yaml');
        if (r.status !== 201 && r.status !== 200) throw new PlaneError(`applying ${path}: ${r.status} ${r.body}`);
      }),
    );

    // Controllers, scheduler and kwok share the admin kubeconfig.
    // The controller-manager and the scheduler elect a leader, as in a real
    // cluster, and kkplane restarts them when they lose the lease (see
    // testenv/cmd/kkplane/supervise.go).
    const kc = kubeconfigPath;
    const kcm = launch('kube-controller-manager', p.controllerManager, [
      `--kubeconfig=${kc}`,
      ...LEADER_ELECTION,
      '--bind-address=127.0.0.1',
      `--secure-port=${p.controllerManager}`,
      `--cert-dir=${join(pki, 'kube-controller-manager')}`,
      `--root-ca-file=${join(pki, 'apiserver.crt')}`,
      `--service-account-private-key-file=${join(pki, 'sa.key')}`,
      `--service-cluster-ip-range=${serviceCIDR}`,
      '--controllers=*',
      '--profiling=false',
      // The defaults (20 requests/s) make the controllers, not the API server,
      // the bottleneck of a simulated cluster: pods would come at ~5/s.
      '--kube-api-qps=5000',
      '--kube-api-burst=10000',
    ]);
    const scheduler = launch('kube-scheduler', p.scheduler, [
      `--kubeconfig=${kc}`,
      ...LEADER_ELECTION,
      '--bind-address=127.0.0.1',
      `--secure-port=${p.scheduler}`,
      `--cert-dir=${join(pki, 'kube-scheduler')}`,
      '--profiling=false',
      '--kube-api-qps=5000',
      '--kube-api-burst=10000',
    ]);
    const kwok = launch('kwok', p.kwok, [
      `--kubeconfig=${kc}`,
      ...stageFiles().map((f) => `--config=${f}`),
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      `--cidr=${podCIDR}`,
      `--node-ip=${nodeIP}`,
      `--server-address=127.0.0.1:${p.kwok}`,
      // A restarted kwok has a new identity and must wait for its predecessor's
      // node leases to expire before it heartbeats again; 10 s (not 40) keeps that
      // well inside the node controller's 50 s grace, as a restarted kubelet would.
      '--node-lease-duration-seconds=10',
    ]);
    const kubevirt = launch('kubevirt', p.kubevirt, [
      `--kubeconfig=${kc}`,
      `--secure-port=${p.kubevirt}`,
      `--tls-cert-file=${join(pki, 'virt-api.crt')}`,
      `--tls-private-key-file=${join(pki, 'virt-api.key')}`,
      `--requestheader-client-ca-file=${join(pki, 'front-proxy-ca.crt')}`,
      '--requestheader-allowed-names=front-proxy-client',
      // Its volume provisioner, DataVolume imports and snapshots (docs/LOCAL-CLUSTER.md).
      `--volume-dir=${join(runDir, 'volumes')}`,
      `--import-step-period=${importStepMs()}ms`,
    ]);
    const all = [etcd, apiserver, kcm, scheduler, kwok, kubevirt];
    await waitFor(
      'kube-controller-manager, kube-scheduler, kwok and the KubeVirt stand-in to be healthy',
      async () =>
        (await probe(`https://127.0.0.1:${p.controllerManager}/healthz`, { insecure: true })) &&
        (await probe(`https://127.0.0.1:${p.scheduler}/healthz`, { insecure: true })) &&
        (await probe(`http://127.0.0.1:${p.kwok}/healthz`)) &&
        (await probe(`https://127.0.0.1:${p.kubevirt}/healthz`, { insecure: true })),
      all,
      60_000,
    );
    await registerVirtApi(call, p.kubevirt, readFileSync(join(pki, 'kubevirt-ca.crt')));
    await waitFor(
      'the APIService v1.subresources.kubevirt.io to be Available',
      async () => {
        const r = await call('GET', '/apis/apiregistration.k8s.io/v1/apiservices/v1.subresources.kubevirt.io');
        return r.status === 200 && (r.json().status?.conditions ?? []).some((c: any) => c.type === 'Available' && c.status === 'True');
      },
      all,
      60_000,
    );
    await waitFor(
      `${shape.count} fake nodes to be Ready and the default ServiceAccount to exist`,
      async () => {
        const nodes = await call('GET', '/api/v1/nodes?labelSelector=type%3Dkwok');
        if (nodes.status !== 200) return false;
        const ready = (nodes.json().items ?? []).filter((n: any) =>
          (n.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
        ).length;
        if (ready < shape.count) return false;
        const sa = await call('GET', '/api/v1/namespaces/default/serviceaccounts/default');
        return sa.status === 200;
      },
      all,
      60_000,
    );
    state.readyAt = new Date().toISOString();
    writeState(state);
    return state;
  } catch (e) {
    await stopComponents(running);
    cleanTemporaryState();
    throw e;
  }
}

/**
 * virt-api as KubeVirt installs it, pointed at the stand-in: the APIService
 * v1.subresources.kubevirt.io, trusting the stand-in's CA, for Service virt-api
 * in namespace kubevirt. That Service is of type ExternalName 127.0.0.1 (the
 * aggregator dials `externalName:port`), not a ClusterIP Service with an
 * EndpointSlice: EndpointSlices refuse loopback addresses, and nothing routes
 * to a ClusterIP on the plane. The aggregator still verifies the serving
 * certificate for virt-api.kubevirt.svc.
 */
async function registerVirtApi(
  call: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: string }>,
  port: number,
  ca: Buffer,
): Promise<void> {
  const labels = { 'app.kubernetes.io/managed-by': 'kubekloud-testenv', 'kubevirt.io': 'virt-api' };
  const objects: [string, unknown][] = [
    ['/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kubevirt', labels } }],
    [
      '/api/v1/namespaces/kubevirt/services',
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'virt-api', namespace: 'kubevirt', labels },
        spec: { type: 'ExternalName', externalName: '127.0.0.1' },
      },
    ],
    [
      '/apis/apiregistration.k8s.io/v1/apiservices',
      {
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        metadata: { name: 'v1.subresources.kubevirt.io', labels },
        spec: {
          group: 'subresources.kubevirt.io',
          version: 'v1',
          groupPriorityMinimum: 1000,
          versionPriority: 15,
          service: { namespace: 'kubevirt', name: 'virt-api', port },
          caBundle: ca.toString('base64'),
        },
      },
    ],
  ];
  for (const [path, body] of objects) {
    const r = await call('POST', path, body);
    if (r.status !== 201 && r.status !== 409) throw new PlaneError(`registering the virt-api stand-in: POST ${path}: ${r.status} ${r.body}`);
  }
}

/** Stop every component recorded in the state file and remove temporary state. */
export async function down(opts: { log?: (line: string) => void } = {}): Promise<boolean> {
  const log = opts.log ?? defaultLog;
  mkdirSync(stateDir, { recursive: true });
  return withLock(lockDir, async () => {
    const s = readState();
    if (s) await stopComponents(s.components);
    const had = Boolean(s) || existsSync(runDir);
    cleanTemporaryState();
    if (!s) log('local control plane: nothing was running');
    return had;
  }, (owner) => log(`local control plane: waiting for process ${owner}, which is starting or stopping the plane`));
}

export interface ComponentStatus extends ComponentState {
  alive: boolean;
}

export async function status(): Promise<{ state?: PlaneState; components: ComponentStatus[]; apiReady: boolean }> {
  const s = readState();
  if (!s) return { components: [], apiReady: false };
  const components = s.components.map((c) => ({ ...c, alive: componentAlive(c) }));
  return { state: s, components, apiReady: await apiReady(s) };
}

/** Resident memory (KiB) of each running component, from /proc. */
export function residentMemoryKiB(s = readState()): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of s?.components ?? []) {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${c.pid}/status`, 'utf8'));
      if (m?.[1]) out[c.name] = Number(m[1]);
    } catch {
      /* not running */
    }
  }
  return out;
}

/** For test global setup: the plane up (reused when already up). */
export async function ensurePlane(opts: UpOptions = {}): Promise<{ kubeconfigPath: string; apiURL: string; startedHere: boolean }> {
  const r = await up(opts);
  return { kubeconfigPath: r.kubeconfigPath, apiURL: r.apiURL, startedHere: r.startedHere };
}

export async function stopPlane(): Promise<void> {
  await down({ log: () => {} });
}

// --- One component at a time (fault tests) ---------------------------------

/** Is one component answering its health endpoint? */
async function componentHealthy(s: PlaneState, name: ComponentName): Promise<boolean> {
  const p = s.ports;
  switch (name) {
    case 'etcd':
      return probe(`http://127.0.0.1:${p.etcd}/health`);
    case 'kube-apiserver':
      return apiReady(s);
    case 'kube-controller-manager':
      return probe(`https://127.0.0.1:${p.controllerManager}/healthz`, { insecure: true });
    case 'kube-scheduler':
      return probe(`https://127.0.0.1:${p.scheduler}/healthz`, { insecure: true });
    case 'kwok':
      return probe(`http://127.0.0.1:${p.kwok}/healthz`);
    case 'kubevirt':
      return probe(`https://127.0.0.1:${p.kubevirt}/healthz`, { insecure: true });
  }
}

function recorded(name: ComponentName): { s: PlaneState; c: ComponentState } {
  const s = readState();
  const c = s?.components.find((x) => x.name === name);
  if (!s || !c) throw new PlaneError(`no ${name} recorded in ${statePath}: is the plane up?`);
  return { s, c };
}

/**
 * Kill one component of this plane (the one in KUBEKLOUD_PLANE_DIR's state):
 * SIGKILL by default, as a crash; SIGTERM to stop it cleanly. Waits until it is gone.
 */
export async function killComponent(name: ComponentName, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
  const { c } = recorded(name);
  if (!componentAlive(c)) return;
  try {
    process.kill(c.pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + 15_000;
  while (isAlive(c.pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(20);
  }
}

/**
 * Start one component again with the arguments it was first started with,
 * and wait until it answers its health endpoint (and, for etcd, until the API
 * server is ready again). A component that is still alive is left alone.
 */
export async function startComponent(name: ComponentName, timeoutMs = 90_000): Promise<ComponentState> {
  const { s, c } = recorded(name);
  if (componentAlive(c)) return c;
  if (!c.args) throw new PlaneError(`${name} was started by an older harness that did not record its arguments; restart the plane`);
  const r = start(s.binary, name, c.port, c.args, true);
  const fresh = readState() ?? s;
  fresh.components = fresh.components.map((x) => (x.name === name ? (({ exited: _e, ...rest }) => rest)(r) : x));
  writeState(fresh);
  await waitFor(`${name} to be healthy again`, () => componentHealthy(fresh, name), [r], timeoutMs);
  if (name === 'etcd') await waitFor('kube-apiserver to be ready after etcd came back', () => apiReady(fresh), [], timeoutMs);
  return fresh.components.find((x) => x.name === name)!;
}

/** Kill one component (SIGKILL unless told), keep it down for downForMs, start it again. */
export async function restartComponent(
  name: ComponentName,
  opts: { downForMs?: number; signal?: 'SIGKILL' | 'SIGTERM' } = {},
): Promise<{ downMs: number; readyMs: number }> {
  const began = Date.now();
  await killComponent(name, opts.signal ?? 'SIGKILL');
  if (opts.downForMs) await sleep(opts.downForMs);
  const restarting = Date.now();
  await startComponent(name);
  return { downMs: restarting - began, readyMs: Date.now() - restarting };
}

/** Names of the recorded components that are not running. */
export function deadComponents(s = readState()): ComponentName[] {
  return (s?.components ?? []).filter((c) => !componentAlive(c)).map((c) => c.name);
}
