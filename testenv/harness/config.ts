// Where the local control plane keeps its files and which ports it uses.
// Every knob is an environment variable so two checkouts (or a clash with
// something else on the machine) can be worked around without code changes.
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const testenvDir = join(repoRoot, 'testenv');
export const stagesDir = join(testenvDir, 'stages');
export const crdsDir = join(testenvDir, 'crds');

/** The default plane's directory (the one `npm run cluster:up` and `npm test` use). */
export const defaultStateDir = join(repoRoot, '.kubekloud', 'local');
/**
 * Everything of a running plane lives here; `.kubekloud/` is ignored by git.
 * KUBEKLOUD_PLANE_DIR (relative to the repository, or absolute) gives a second
 * plane its own state, so it can run beside the default one on other ports.
 */
export const stateDir = process.env.KUBEKLOUD_PLANE_DIR ? resolve(repoRoot, process.env.KUBEKLOUD_PLANE_DIR) : defaultStateDir;
export const statePath = join(stateDir, 'state.json');
export const kubeconfigPath = join(stateDir, 'kubeconfig');
export const logsDir = join(stateDir, 'logs');
/** Temporary state (etcd data, keys, certificates): removed by `down`. */
export const runDir = join(stateDir, 'run');

export function cacheRoot(): string {
  const explicit = process.env.KUBEKLOUD_CACHE_DIR;
  if (explicit) return resolve(explicit);
  const xdg = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(xdg, 'kubekloud');
}

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

export interface Ports {
  etcd: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
  kubevirt: number;
}

/** Fixed defaults in the 263xx/264xx range, far from the usual 2379/6443/102xx. */
export function ports(): Ports {
  return {
    etcd: intEnv('KUBEKLOUD_PLANE_ETCD_PORT', 26379),
    etcdPeer: intEnv('KUBEKLOUD_PLANE_ETCD_PEER_PORT', 26380),
    apiserver: intEnv('KUBEKLOUD_PLANE_APISERVER_PORT', 26443),
    controllerManager: intEnv('KUBEKLOUD_PLANE_CONTROLLER_MANAGER_PORT', 26257),
    scheduler: intEnv('KUBEKLOUD_PLANE_SCHEDULER_PORT', 26259),
    kwok: intEnv('KUBEKLOUD_PLANE_KWOK_PORT', 26247),
    kubevirt: intEnv('KUBEKLOUD_PLANE_KUBEVIRT_PORT', 26244),
  };
}

export const portEnvNames: Record<keyof Ports, string> = {
  etcd: 'KUBEKLOUD_PLANE_ETCD_PORT',
  etcdPeer: 'KUBEKLOUD_PLANE_ETCD_PEER_PORT',
  apiserver: 'KUBEKLOUD_PLANE_APISERVER_PORT',
  controllerManager: 'KUBEKLOUD_PLANE_CONTROLLER_MANAGER_PORT',
  scheduler: 'KUBEKLOUD_PLANE_SCHEDULER_PORT',
  kwok: 'KUBEKLOUD_PLANE_KWOK_PORT',
  kubevirt: 'KUBEKLOUD_PLANE_KUBEVIRT_PORT',
};

export interface NodeShape {
  count: number;
  cpu: string;
  memory: string;
  pods: string;
}

export function nodeShape(countOverride?: number): NodeShape {
  return {
    count: countOverride ?? intEnv('KUBEKLOUD_PLANE_NODES', 3),
    cpu: process.env.KUBEKLOUD_PLANE_NODE_CPU || '32',
    memory: process.env.KUBEKLOUD_PLANE_NODE_MEMORY || '128Gi',
    pods: process.env.KUBEKLOUD_PLANE_NODE_PODS || '110',
  };
}

/**
 * Time between two steps of a simulated DataVolume import (10 % of progress
 * each), passed to the KubeVirt stand-in as --import-step-period.
 */
export function importStepMs(): number {
  return intEnv('KUBEKLOUD_PLANE_IMPORT_STEP_MS', 300);
}

/** Network ranges of the simulated cluster (no real traffic ever flows). */
export const serviceCIDR = '10.96.0.0/16';
export const podCIDR = '10.244.0.0/16';
export const nodeIP = '10.240.0.1';

export class PlaneError extends Error {
  override name = 'PlaneError';
}
