// Shared by the deployment tests: a throwaway copy of k8s/ with generated
// secret inputs (the real ones are the operator's and never touched), kubectl
// against the local control plane, and parsing of rendered manifests.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { CONNECTIONS_PER_REPLICA } from '../../src/store/db.ts';
import { installOperatorCrds, type InstalledCrd } from '../../testenv/harness/operatorCrds.ts';
import { repoRoot, testKubeconfigPath } from '../support/kube.ts';

export const k8sDir = join(repoRoot, 'k8s');

export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any }; [k: string]: any };

export type Staged = { dir: string; adminToken: string; dbPassword: string; cleanup(): void };

/** Copy k8s/ to a temporary folder and write throwaway secret inputs into it. */
export function stageK8s(): Staged {
  const root = mkdtempSync(join(tmpdir(), 'kubekloud-k8s-'));
  const dir = join(root, 'k8s');
  cpSync(k8sDir, dir, {
    recursive: true,
    // Never copy an operator's real secret files, only the committed examples.
    filter: (src) => !/[/\\]secrets[/\\][^/\\]+\.env$/.test(src),
  });
  const dbPassword = randomBytes(16).toString('hex');
  const adminToken = `kk-test-${randomBytes(16).toString('hex')}`;
  writeFileSync(join(dir, 'base/secrets/postgres.env'), `POSTGRES_USER=kubekloud\nPOSTGRES_PASSWORD=${dbPassword}\nPOSTGRES_DB=kubekloud\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'base/secrets/api.env'),
    `DATABASE_URL=postgres://kubekloud:${dbPassword}@postgres-service:5432/kubekloud\nKUBEKLOUD_ADMIN_TOKEN=${adminToken}\n`,
    { mode: 0o600 },
  );
  return { dir, adminToken, dbPassword, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export type Run = { code: number; stdout: string; stderr: string };

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number } = {}): Run {
  const r = spawnSync(cmd, args, {
    env: opts.env ?? process.env,
    input: opts.input,
    cwd: opts.cwd ?? repoRoot,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** kubectl against the local control plane as its admin. */
export function kubectl(args: string[], opts: { input?: string; kubeconfig?: string } = {}): Run {
  return run('kubectl', args, { env: { ...process.env, KUBECONFIG: opts.kubeconfig ?? testKubeconfigPath }, input: opts.input });
}

/** kubectl that must succeed; returns stdout. */
export function kubectlOk(args: string[], opts: { input?: string; kubeconfig?: string } = {}): string {
  const r = kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

export function parseManifests(yaml: string): Manifest[] {
  return (loadAll(yaml) as (Manifest | null)[]).filter((m): m is Manifest => m !== null);
}

/** `kubectl kustomize` of k8s/<target> in a staged copy; returns the YAML and its objects. */
export function render(staged: Staged, target: string): { yaml: string; objects: Manifest[] } {
  const yaml = kubectlOk(['kustomize', join(staged.dir, target)]);
  return { yaml, objects: parseManifests(yaml) };
}

export function find(objects: Manifest[], kind: string, name: string): Manifest {
  const o = objects.find((x) => x.kind === kind && (x.metadata.name === name || x.metadata.name.startsWith(`${name}-`)));
  if (!o) throw new Error(`no ${kind} ${name} in ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

/**
 * PostgreSQL connections the rendered system may open at once: every API
 * replica the HPA allows plus the one a rollout adds (maxSurge), each holding
 * CONNECTIONS_PER_REPLICA, the backup job's one (Forbid: never two at once) and
 * the 3 that PostgreSQL reserves for superusers by default.
 */
export function connectionsNeeded(objects: Manifest[]): number {
  const replicas = find(objects, 'HorizontalPodAutoscaler', 'kubekloud-api-hpa').spec.maxReplicas + find(objects, 'Deployment', 'kubekloud-api').spec.strategy.rollingUpdate.maxSurge;
  const backup = find(objects, 'CronJob', 'kubekloud-db-backup');
  if (backup.spec.concurrencyPolicy !== 'Forbid') throw new Error('the backup CronJob may run twice at once');
  return replicas * CONNECTIONS_PER_REPLICA + 1 + 3;
}

let operatorCrds: Promise<InstalledCrd[]> | undefined;
/**
 * The CRDs the overlays use (Prometheus Operator, cert-manager, CloudNativePG), installed into the plane from the projects' published
 * manifests at the versions pinned in testenv/harness/operatorCrds.ts.
 */
export function ensureOperatorCrds(): Promise<InstalledCrd[]> {
  operatorCrds ??= installOperatorCrds({ log: (l) => process.stderr.write(`${l}\n`) });
  return operatorCrds;
}

/**
 * A volume for each of the overlay's claims (claim name → PV name), bound to it
 * by claimRef: the plane has no storage provisioner. Empty, as a new cluster's
 * storage would be; labelled as the tests'.
 */
export async function createOverlayVolumes(core: CoreV1Api, namespace: string, volumes: Record<string, string>): Promise<void> {
  for (const [claim, pv] of Object.entries(volumes)) {
    await core.createPersistentVolume({
      body: {
        metadata: { name: pv, labels: { 'kubekloud.io/test': 'true' } },
        spec: {
          capacity: { storage: '10Gi' },
          accessModes: ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Retain',
          storageClassName: '',
          claimRef: { namespace, name: claim },
          hostPath: { path: `/var/lib/kubekloud-test/${pv}`, type: 'DirectoryOrCreate' },
        },
      },
    });
  }
}
