// CRDs of the operators the deployment overlays use (Prometheus Operator,
// cert-manager, CloudNativePG), installed into the local plane
// from the projects' own published CRD manifests so that a server-side dry run
// of k8s/overlays/* is validated against the real schemas. No operator runs:
// only the API types exist.
//
// The files are not copied into this repository: they ship inside each
// project's Go module, which `go mod download` fetches (from the Go module
// proxy, checked against the checksum database) into the module cache. This
// list is the one place their versions are pinned (docs/LOCAL-CLUSTER.md).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlaneError, runDir } from './config.ts';
import { request } from './http.ts';
import { readState } from './plane.ts';

export interface OperatorCrdSource {
  /** What the overlays need it for. */
  project: string;
  module: string;
  version: string;
  /** Directory of the published CRD manifests inside the module. */
  dir: string;
  /** The CRD files installed (only the kinds the overlays use). */
  files: string[];
}

export const OPERATOR_CRDS: OperatorCrdSource[] = [
  {
    project: 'Prometheus Operator (ServiceMonitor, PodMonitor, PrometheusRule: prod, ha-postgres)',
    module: 'github.com/prometheus-operator/prometheus-operator',
    version: 'v0.85.0',
    dir: 'example/prometheus-operator-crd',
    files: ['monitoring.coreos.com_servicemonitors.yaml', 'monitoring.coreos.com_podmonitors.yaml', 'monitoring.coreos.com_prometheusrules.yaml'],
  },
  {
    project: 'cert-manager (Certificate, Issuer: the API\'s TLS certificate in prod)',
    module: 'github.com/cert-manager/cert-manager',
    version: 'v1.21.2',
    dir: 'deploy/crds',
    files: ['cert-manager.io_certificates.yaml', 'cert-manager.io_issuers.yaml', 'cert-manager.io_clusterissuers.yaml'],
  },
  {
    project: 'CloudNativePG (Cluster, ScheduledBackup, Backup: ha-postgres)',
    module: 'github.com/cloudnative-pg/cloudnative-pg',
    version: 'v1.28.0',
    dir: 'config/crd/bases',
    files: ['postgresql.cnpg.io_clusters.yaml', 'postgresql.cnpg.io_scheduledbackups.yaml', 'postgresql.cnpg.io_backups.yaml'],
  },
];

/** Field manager of the plane's own objects applied here. */
const FIELD_MANAGER = 'kubekloud-testenv';

/**
 * The module's directory in the Go module cache, downloading it first when
 * needed (`go mod download -json <module>@<version>`, run outside any module
 * so testenv/go.mod and go.sum are never touched).
 */
export function moduleDir(src: Pick<OperatorCrdSource, 'module' | 'version'>): string {
  const cwd = mkdtempSync(join(tmpdir(), 'kubekloud-crds-'));
  try {
    const r = spawnSync('go', ['mod', 'download', '-json', `${src.module}@${src.version}`], {
      cwd,
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, GO111MODULE: 'on', GOFLAGS: '' },
    });
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PlaneError('Go is needed to fetch the operators\' CRDs (`go mod download`), and `go` is not on PATH (https://go.dev/dl/).');
    }
    let info: { Dir?: string; Error?: string } = {};
    try {
      info = JSON.parse(r.stdout);
    } catch {
      /* no JSON: the error is on stderr */
    }
    if (r.status !== 0 || !info.Dir) {
      throw new PlaneError(`go mod download ${src.module}@${src.version} failed: ${info.Error ?? r.stderr.trim() ?? `exit ${r.status}`}`);
    }
    return info.Dir;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** The CRD documents of one source, read from the module cache. */
export function crdDocuments(src: OperatorCrdSource): { name: string; yaml: string; file: string }[] {
  const dir = join(moduleDir(src), src.dir);
  return src.files.flatMap((file) => {
    let text: string;
    try {
      text = readFileSync(join(dir, file), 'utf8');
    } catch (e) {
      throw new PlaneError(`${src.module}@${src.version} has no ${src.dir}/${file}: ${(e as Error).message}`);
    }
    return text
      .split(/^---\s*$/m)
      .filter((doc) => /^kind:\s*CustomResourceDefinition\s*$/m.test(doc))
      .map((yaml) => {
        // controller-gen output: the CRD's name is the `name:` directly under `metadata:`.
        const name = /^metadata:\n(?:[ ]{2,}.*\n)*?[ ]{2}name:\s*(\S+)/m.exec(yaml)?.[1];
        if (!name) throw new PlaneError(`no metadata.name in a CRD of ${src.module}@${src.version} ${src.dir}/${file}`);
        return { name, yaml, file: `${src.dir}/${file}` };
      });
  });
}

export interface InstalledCrd {
  name: string;
  module: string;
  version: string;
}

/**
 * Server-side apply every CRD of OPERATOR_CRDS to the running plane (the one
 * of KUBEKLOUD_PLANE_DIR) and wait until each is established and served.
 * Idempotent; a changed version replaces the schema. Returns what it applied.
 */
export async function installOperatorCrds(opts: { log?: (line: string) => void; timeoutMs?: number } = {}): Promise<InstalledCrd[]> {
  const s = readState();
  if (!s) throw new PlaneError('the local control plane is not running (npm run cluster:up)');
  const ca = readFileSync(join(runDir, 'pki', 'apiserver.crt'));
  const call = (method: string, path: string, body?: unknown, contentType?: string) =>
    request(`${s.apiURL}${path}`, { method, body, token: s.token, ca, contentType, timeoutMs: 60_000 });
  const installed: InstalledCrd[] = [];
  for (const src of OPERATOR_CRDS) {
    const docs = crdDocuments(src);
    for (const d of docs) {
      const r = await call(
        'PATCH',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${d.name}?fieldManager=${FIELD_MANAGER}&force=true`,
        d.yaml,
        'application/apply-patch+yaml',
      );
      if (r.status !== 200 && r.status !== 201) throw new PlaneError(`applying CRD ${d.name} (${src.module}@${src.version} ${d.file}) failed: ${r.status} ${r.body.slice(0, 500)}`);
      installed.push({ name: d.name, module: src.module, version: src.version });
    }
    opts.log?.(`local control plane: CRDs of ${src.module}@${src.version}: ${docs.map((d) => d.name).join(', ')}`);
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (const c of installed) {
    for (;;) {
      const r = await call('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c.name}`);
      const crd = r.status === 200 ? r.json() : null;
      const established = (crd?.status?.conditions ?? []).some((x: any) => x.type === 'Established' && x.status === 'True');
      const version = crd?.spec?.versions?.find((v: any) => v.storage)?.name;
      // Served: the group/version lists the resource (what kubectl's discovery reads).
      const served = established && version ? (await call('GET', `/apis/${crd.spec.group}/${version}`)).body.includes(`"name":"${crd.spec.names.plural}"`) : false;
      if (served) break;
      if (Date.now() > deadline) throw new PlaneError(`CRD ${c.name} was not established and served within ${Math.round((opts.timeoutMs ?? 60_000) / 1000)} s`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  return installed;
}
