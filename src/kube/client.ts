// The thin edge over @kubernetes/client-node: server-side apply with our field
// manager, delete, list and watch. Every call is timed for /metrics and every
// failure comes back as a KubeError.
import * as k8s from '@kubernetes/client-node';
import type { KubeObject } from '../domain/render.ts';
import { KubeError, toKubeError } from './errors.ts';
import { apiServerReady, serverSideApply } from './rawApply.ts';

export const FIELD_MANAGER = 'kubekloud';

export type ObjectRef = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
export type ListResult<T> = { items: T[]; resourceVersion: string };
export type CallObserver = (verb: string, kind: string, seconds: number, ok: boolean) => void;

export interface Kube {
  apply(obj: KubeObject): Promise<void>;
  /** Deletes; an object already gone is success. Returns whether it still existed. */
  remove(ref: ObjectRef, opts?: { propagation?: 'Background' | 'Foreground' }): Promise<boolean>;
  exists(ref: ObjectRef): Promise<boolean>;
  list<T extends k8s.KubernetesObject>(apiVersion: string, kind: string, labelSelector: string): Promise<ListResult<T>>;
  watch(
    path: string,
    params: Record<string, string | boolean>,
    onEvent: (type: string, obj: k8s.KubernetesObject & Record<string, unknown>) => void,
    onDone: (err: unknown) => void,
  ): Promise<AbortController>;
  ping(): Promise<void>;
  /** Resolves when the API server reports itself ready (storage reachable), rejects otherwise. */
  ready(): Promise<void>;
  readonly config: k8s.KubeConfig;
}

export function loadKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return kc;
}

export function createKube(kc: k8s.KubeConfig, observe: CallObserver = () => {}): Kube {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const version = kc.makeApiClient(k8s.VersionApi);
  const watcher = new k8s.Watch(kc);

  async function timed<T>(verb: string, kind: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const out = await fn();
      observe(verb, kind, (performance.now() - started) / 1000, true);
      return out;
    } catch (err) {
      observe(verb, kind, (performance.now() - started) / 1000, false);
      throw toKubeError(err);
    }
  }

  return {
    config: kc,
    async apply(obj) {
      await timed('apply', obj.kind, () => serverSideApply(kc, obj, FIELD_MANAGER));
    },
    async remove(ref, opts = {}) {
      try {
        await timed('delete', ref.kind, () =>
          objects.delete(ref as k8s.KubernetesObject, undefined, undefined, undefined, undefined, opts.propagation ?? 'Background'),
        );
        return true;
      } catch (err) {
        if (err instanceof KubeError && err.reason === 'not_found') return false;
        throw err;
      }
    },
    async exists(ref) {
      try {
        await timed('get', ref.kind, () => objects.read(ref as Parameters<typeof objects.read>[0]));
        return true;
      } catch (err) {
        if (err instanceof KubeError && err.reason === 'not_found') return false;
        throw err;
      }
    },
    async list<T extends k8s.KubernetesObject>(apiVersion: string, kind: string, labelSelector: string) {
      const res = await timed('list', kind, () =>
        objects.list<T>(apiVersion, kind, undefined, undefined, undefined, undefined, undefined, labelSelector),
      );
      return { items: res.items, resourceVersion: res.metadata?.resourceVersion ?? '' };
    },
    watch(path, params, onEvent, onDone) {
      return watcher.watch(path, params, onEvent, onDone);
    },
    async ping() {
      await timed('get', 'Version', () => version.getCode());
    },
    async ready() {
      await timed('get', 'readyz', () => apiServerReady(kc));
    },
  };
}
