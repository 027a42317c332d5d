// The thin edge over the Kubernetes API: server-side apply with our field
// manager, get, delete, paginated lists, watch, and a JSON patch of an object's
// managedFields (to take back fields others set in what we own). Every call is
// timed for /metrics and every failure comes back as a KubeError.
import { loadClusterAccess, type ClusterAccess } from './config.ts';
import type { LiveObject, ManagedFieldsEntry } from '../domain/drift.ts';
import type { KubeObject } from '../domain/render.ts';
import { KubeError, toKubeError } from './errors.ts';
import { apiServerReady, deleteObject, getObject, jsonPatch, listPage, serverSideApply, serverVersion, watchRequest, type ListPage, type RequestOptions, type WatchedObject } from './rest.ts';

export const FIELD_MANAGER = 'kubekloud';
/**
 * Objects per page of a list. A page is held, text and parsed objects, until
 * every item on it has been handled; a resync lists every kind at once, so at
 * 10,000 VMs the VM and VMI pages are in memory side by side. A hundred keeps
 * each to a fraction of what 500 held, for one more request per hundred objects.
 */
export const LIST_PAGE_SIZE = 100;

export type ObjectRef = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
export type { ClusterAccess, ListPage, RequestOptions, WatchedObject };
export type CallObserver = (verb: string, kind: string, seconds: number, ok: boolean) => void;

export interface Kube {
  /** Server-side apply (forced, field manager `kubekloud`); returns the object as it is afterwards. */
  apply(obj: KubeObject, o?: RequestOptions): Promise<LiveObject>;
  /** The object as it is now, or null when it does not exist. */
  get(ref: ObjectRef, o?: RequestOptions): Promise<LiveObject | null>;
  /** Deletes; an object already gone is success. Returns whether it still existed. */
  remove(ref: ObjectRef, opts?: { propagation?: 'Background' | 'Foreground' | 'Orphan'; uid?: string } & RequestOptions): Promise<boolean>;
  exists(ref: ObjectRef, o?: RequestOptions): Promise<boolean>;
  /** Replaces the object's managedFields if it is still at `resourceVersion` (else a conflict). */
  replaceManagedFields(ref: ObjectRef, resourceVersion: string, entries: ManagedFieldsEntry[], o?: RequestOptions): Promise<LiveObject>;
  /** One page of a kind across all namespaces. */
  listPage(apiVersion: string, kind: string, labelSelector: string, cont?: string | null): Promise<ListPage>;
  /** Every page of a kind across all namespaces. */
  list(apiVersion: string, kind: string, labelSelector: string): Promise<{ items: LiveObject[]; resourceVersion: string }>;
  /** Every object of a kind, unlabelled ones too: in one namespace, or (null) in all of them and cluster-scoped kinds. */
  listAll(apiVersion: string, kind: string, namespace: string | null): Promise<LiveObject[]>;
  watch(
    path: string,
    params: Record<string, string | boolean>,
    onEvent: (type: string, obj: WatchedObject) => void,
    onDone: (err: unknown) => void,
  ): Promise<AbortController>;
  ping(): Promise<void>;
  /** Resolves when the API server reports itself ready (storage reachable), rejects otherwise. */
  ready(): Promise<void>;
  readonly config: ClusterAccess;
}

/** The kubeconfig kubectl would use here, or the pod's service account (src/kube/config.ts). */
export function loadKubeConfig(): ClusterAccess {
  return loadClusterAccess();
}

/** How long a watch may stay silent before the client ends it (30 s, as the Kubernetes client's Watch). */
export const WATCH_IDLE_TIMEOUT_MS = 30_000;

export type KubeOptions = {
  /**
   * How long a watch may stay silent before the client ends it
   * (WATCH_IDLE_TIMEOUT_MS). A quiet watch ending this way is resumed at once from its
   * last resourceVersion by startListWatch; tests shorten it to see that.
   */
  watchIdleTimeoutMs?: number;
};

export function createKube(kc: ClusterAccess, observe: CallObserver = () => {}, opts: KubeOptions = {}): Kube {
  const watchIdleMs = opts.watchIdleTimeoutMs ?? WATCH_IDLE_TIMEOUT_MS;

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
  const absentIsNull = async <T>(fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof KubeError && err.reason === 'not_found') return null;
      throw err;
    }
  };

  const kube: Kube = {
    config: kc,
    async apply(obj, o) {
      return (await timed('apply', obj.kind, () => serverSideApply(kc, obj, FIELD_MANAGER, o))) as LiveObject;
    },
    async get(ref, o) {
      return absentIsNull(() => timed('get', ref.kind, () => getObject(kc, ref, o) as Promise<LiveObject>));
    },
    async remove(ref, opts = {}) {
      const done = await absentIsNull(() => timed('delete', ref.kind, () => deleteObject(kc, ref, opts.propagation ?? 'Background', opts)));
      return done !== null;
    },
    async exists(ref, o) {
      return (await kube.get(ref, o)) !== null;
    },
    async replaceManagedFields(ref, resourceVersion, entries, o) {
      const ops = [
        { op: 'test', path: '/metadata/resourceVersion', value: resourceVersion },
        { op: 'replace', path: '/metadata/managedFields', value: entries },
      ];
      return (await timed('patch', ref.kind, () => jsonPatch(kc, ref, ops, o))) as LiveObject;
    },
    listPage(apiVersion, kind, labelSelector, cont) {
      return timed('list', kind, () => listPage(kc, apiVersion, kind, { labelSelector, limit: LIST_PAGE_SIZE, cont }));
    },
    async list(apiVersion, kind, labelSelector) {
      const items: LiveObject[] = [];
      let page = await kube.listPage(apiVersion, kind, labelSelector);
      const resourceVersion = page.resourceVersion;
      for (;;) {
        items.push(...(page.items as LiveObject[]));
        if (!page.continue) break;
        page = await kube.listPage(apiVersion, kind, labelSelector, page.continue);
      }
      return { items, resourceVersion };
    },
    async listAll(apiVersion, kind, namespace) {
      const items: LiveObject[] = [];
      let cont: string | null = null;
      do {
        const page: ListPage = await timed('list', kind, () =>
          listPage(kc, apiVersion, kind, { labelSelector: '', limit: LIST_PAGE_SIZE, cont, ...(namespace ? { namespace } : {}) }),
        );
        // List items carry no kind.
        items.push(...(page.items as LiveObject[]).map((o) => ({ ...o, apiVersion, kind })));
        cont = page.continue;
      } while (cont);
      return items;
    },
    watch(path, params, onEvent, onDone) {
      return watchRequest(kc, path, params, onEvent, onDone, watchIdleMs);
    },
    async ping() {
      await timed('get', 'Version', () => serverVersion(kc));
    },
    async ready() {
      await timed('get', 'readyz', () => apiServerReady(kc));
    },
  };
  return kube;
}
