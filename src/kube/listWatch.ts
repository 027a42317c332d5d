// A list-then-watch loop that never gives up: it resumes from the last
// resourceVersion, relists when the server says 410 Gone, and backs off its
// reconnects. Events are handled one at a time, in order.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Kube } from './client.ts';
import { KubeError, toKubeError } from './errors.ts';

export type WatchedObject = KubernetesObject & Record<string, unknown>;

export type ListWatchOptions = {
  apiVersion: string;
  kind: string;
  /** Cluster-wide collection path, e.g. /api/v1/pods */
  path: string;
  labelSelector: string;
  /** After every (re)list, with everything that exists now. */
  onSync: (items: WatchedObject[]) => Promise<void>;
  onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: WatchedObject) => Promise<void>;
  onError: (err: KubeError, context: string) => void;
  /** Each list: the first one, or one after the server said 410 Gone. */
  onRelist?: (reason: 'start' | 'expired') => void;
};

const MIN_BACKOFF_MS = 250;
// Kept short: after an outage of the API server the watches (and so every
// status change) resume within seconds of its return, not half a minute later.
const MAX_BACKOFF_MS = 5_000;

export type ListWatchHandle = { stop(): Promise<void>; readonly synced: boolean };

export function startListWatch(kube: Kube, o: ListWatchOptions): ListWatchHandle {
  let stopped = false;
  let synced = false;
  let resourceVersion = '';
  let abort: AbortController | null = null;
  let wakeSleep: (() => void) | null = null;
  let chain: Promise<void> = Promise.resolve();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wakeSleep = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const handle = (fn: () => Promise<void>, context: string) => {
    chain = chain.then(fn).catch((err) => o.onError(toKubeError(err), context));
    return chain;
  };

  let listedOnce = false;
  async function relist() {
    o.onRelist?.(listedOnce ? 'expired' : 'start');
    listedOnce = true;
    const { items, resourceVersion: rv } = await kube.list<WatchedObject>(o.apiVersion, o.kind, o.labelSelector);
    await handle(() => o.onSync(items), `sync ${o.kind}`);
    resourceVersion = rv;
    synced = true;
  }

  /** Resolves when the watch ends: null for a normal close, else why. */
  function watchOnce(): Promise<unknown> {
    return new Promise((resolve) => {
      const params: Record<string, string | boolean> = {
        labelSelector: o.labelSelector,
        allowWatchBookmarks: true,
        resourceVersion,
        timeoutSeconds: String(240 + Math.floor(Math.random() * 120)),
      };
      kube
        .watch(
          o.path,
          params,
          (type, obj) => {
            if (type === 'ERROR') {
              const code = (obj as { code?: number }).code;
              if (code === 410) resourceVersion = ''; // too old: relist
              resolve(new KubeError(code === 410 ? 'gone' : 'server', String((obj as { message?: string }).message ?? type), code ?? null));
              abort?.abort();
              return;
            }
            const rv = obj.metadata?.resourceVersion;
            if (rv) resourceVersion = rv;
            if (type === 'BOOKMARK') return;
            void handle(() => o.onEvent(type as 'ADDED' | 'MODIFIED' | 'DELETED', obj), `${type} ${o.kind}`);
          },
          (err) => resolve(err ?? null),
        )
        .then((ac) => {
          abort = ac;
          if (stopped) ac.abort();
        }, resolve);
    });
  }

  const loop = (async () => {
    let backoff = MIN_BACKOFF_MS;
    while (!stopped) {
      try {
        if (!resourceVersion) await relist();
        const ended = await watchOnce();
        if (stopped) break;
        if (ended === null) {
          backoff = MIN_BACKOFF_MS;
          continue;
        }
        const err = toKubeError(ended);
        if (err.reason !== 'gone') o.onError(err, `watch ${o.kind}`);
        if (err.reason === 'gone') continue;
      } catch (err) {
        if (stopped) break;
        o.onError(toKubeError(err), `list ${o.kind}`);
      }
      await sleep(backoff + Math.random() * backoff * 0.2);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  })();

  return {
    get synced() {
      return synced;
    },
    async stop() {
      stopped = true;
      abort?.abort();
      wakeSleep?.();
      await loop.catch(() => {});
      await chain;
    },
  };
}
