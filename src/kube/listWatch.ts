// A list-then-watch loop that never gives up: it lists page by page
// (`limit`/`continue`), watches from the list's resourceVersion, resumes from
// the last resourceVersion seen, relists when the server says 410 Gone, when a
// handler failed (so a lost write is made good by the next list), and when
// asked to (periodic resync), and backs off its reconnects. Events of one
// object are handled one at a time, in order; events of different objects,
// and the items of a list page (`inTurn`), a few at a time, so a watch of
// thousands of objects is not held up by one database round trip after
// another.
import type { LiveObject } from '../domain/drift.ts';
import type { Kube } from './client.ts';
import { capMessage } from '../domain/untrusted.ts';
import { KubeError, toKubeError } from './errors.ts';

/** An object as the API server sent it (JSON, not a client model). */
export type WatchedObject = LiveObject;

export type RelistReason = 'start' | 'expired' | 'failed' | 'resync';

export type ListWatchOptions = {
  apiVersion: string;
  kind: string;
  /** Cluster-wide collection path, e.g. /api/v1/pods */
  path: string;
  labelSelector: string;
  /** Each page of a (re)list, in order (its items may be handled `inTurn`). */
  onListPage: (items: WatchedObject[]) => Promise<void>;
  /** After the last page: everything that exists now has been through onListPage. */
  onListDone: () => Promise<void>;
  onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: WatchedObject) => Promise<void>;
  /** A failed list or watch (a KubeError), or a handler that threw (its own error: a database's, say). */
  onError: (err: Error, context: string) => void;
  /** Each list: the first one, after 410 Gone, after a handler failed, or a resync. */
  onRelist?: (reason: RelistReason) => void;
};

/** Handlers of one watch running at once (each of a different object). */
export const HANDLERS_AT_ONCE = 16;

/** Runs what it is given, at most HANDLERS_AT_ONCE at a time, the rest in the order they came. */
function slots() {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async function inSlot(fn: () => Promise<void>): Promise<void> {
    while (running >= HANDLERS_AT_ONCE) await new Promise<void>((r) => waiting.push(r));
    running++;
    try {
      await fn();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/** Runs `fn` for every item, at most HANDLERS_AT_ONCE at a time; rejects (after all have ended) with the first failure. */
export async function inTurn<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  const inSlot = slots();
  const failed = (await Promise.allSettled(items.map((item) => inSlot(() => fn(item))))).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** An event's object: events of one object are handled in order. */
const objectOf = (obj: WatchedObject) => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;

const MIN_BACKOFF_MS = 250;
// Kept short: after an outage of the API server the watches (and so every
// status change) resume within seconds of its return, not half a minute later.
const MAX_BACKOFF_MS = 5_000;

export type ListWatchHandle = {
  stop(): Promise<void>;
  /**
   * Lists everything again (and re-judges it) as soon as the current event is
   * handled; resolves once that list has ended (done or failed) or the watch stopped.
   */
  relist(reason: RelistReason): Promise<void>;
  readonly synced: boolean;
};

/** The client's idle timeout ending a watch that received nothing for a while. */
const quietTooLong = (ended: unknown) => (ended as { name?: unknown } | null)?.name === 'TimeoutError';

export function startListWatch(kube: Kube, o: ListWatchOptions): ListWatchHandle {
  let stopped = false;
  let synced = false;
  let resourceVersion = '';
  let relistReason: RelistReason = 'start';
  let abort: AbortController | null = null;
  let wakeSleep: (() => void) | null = null;
  // Who waits for a list asked for: told when the next list to begin has ended.
  let listWaiters: (() => void)[] = [];
  // Lists asked for so far: one asked for while a list runs is not lost when it ends.
  let asked = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wakeSleep = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const requestRelist = (reason: RelistReason) => {
    asked++;
    relistReason = reason;
    resourceVersion = '';
    abort?.abort();
    wakeSleep?.();
  };
  // A handler that failed (the database away, say) leaves what it saw unrecorded:
  // the next list sees it again.
  let failures = 0;
  const failed = (context: string) => (err: unknown) => {
    failures++;
    // A handler's own error, as it is (its message capped, as toKubeError caps a Kubernetes one's).
    o.onError(err instanceof KubeError ? err : new Error(capMessage(err instanceof Error ? err.message : String(err))), context);
    if (!stopped) requestRelist('failed');
  };
  // Events: each object's after the one before it; HANDLERS_AT_ONCE objects at a time.
  const tails = new Map<string, Promise<void>>();
  const inFlight = new Set<Promise<void>>();
  const inSlot = slots();
  const handleEvent = (key: string, fn: () => Promise<void>, context: string) => {
    const p = (tails.get(key) ?? Promise.resolve()).then(() => inSlot(fn)).catch(failed(context));
    tails.set(key, p);
    inFlight.add(p);
    void p.then(() => {
      inFlight.delete(p);
      if (tails.get(key) === p) tails.delete(key);
    });
  };
  /** Resolves once every event handed over so far has been handled. */
  const drained = async () => {
    while (inFlight.size > 0) await Promise.all(inFlight);
  };
  /** A list's page or its end: after every event before it, alone. */
  const handle = async (fn: () => Promise<void>, context: string) => {
    await drained();
    await fn().catch(failed(context));
  };

  async function relist() {
    const waiters = listWaiters;
    listWaiters = [];
    try {
      await listAll();
    } finally {
      for (const told of waiters) told();
    }
  }

  async function listAll() {
    o.onRelist?.(relistReason);
    const askedBefore = asked;
    const failuresBefore = failures;
    const listFailed = () => new KubeError('server', `handling the list of ${o.kind} failed; it will be listed again`);
    let page = await kube.listPage(o.apiVersion, o.kind, o.labelSelector);
    const rv = page.resourceVersion;
    for (;;) {
      const items = page.items as WatchedObject[];
      await handle(() => o.onListPage(items), `sync ${o.kind}`);
      if (failures !== failuresBefore) throw listFailed();
      if (!page.continue || stopped) break;
      page = await kube.listPage(o.apiVersion, o.kind, o.labelSelector, page.continue);
    }
    await handle(() => o.onListDone(), `sync ${o.kind}`);
    if (failures !== failuresBefore) throw listFailed();
    synced = true;
    if (asked === askedBefore) resourceVersion = rv; // else another list was asked for meanwhile: it follows
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
              if (code === 410) {
                relistReason = 'expired';
                resourceVersion = ''; // too old: relist
              }
              resolve(new KubeError(code === 410 ? 'gone' : 'server', String((obj as { message?: string }).message ?? type), code ?? null));
              abort?.abort();
              return;
            }
            if (resourceVersion === '') return; // a relist was asked for: what follows comes from it
            const rv = obj.metadata?.resourceVersion;
            if (rv) resourceVersion = rv;
            if (type === 'BOOKMARK') return;
            handleEvent(objectOf(obj as WatchedObject), () => o.onEvent(type as 'ADDED' | 'MODIFIED' | 'DELETED', obj as WatchedObject), `${type} ${o.kind}`);
          },
          (err) => resolve(err ?? null),
        )
        .then((ac) => {
          abort = ac;
          if (stopped || resourceVersion === '') ac.abort();
        }, resolve);
    });
  }

  const loop = (async () => {
    let backoff = MIN_BACKOFF_MS;
    while (!stopped) {
      try {
        if (!resourceVersion) await relist();
        if (!resourceVersion) continue; // another list was asked for while this one ran
        const ended = await watchOnce();
        if (stopped) break;
        if (!resourceVersion && (relistReason as RelistReason) !== 'failed') {
          backoff = MIN_BACKOFF_MS; // expired, or a resync asked for: list again now
          continue;
        }
        if (resourceVersion && (ended === null || quietTooLong(ended))) {
          // The server closed the watch on time, or the client ended one that
          // had been silent for its idle timeout (a quiet kind): nothing was
          // missed, resume from the last resourceVersion at once.
          backoff = MIN_BACKOFF_MS;
          continue;
        }
        if (resourceVersion) o.onError(toKubeError(ended), `watch ${o.kind}`);
      } catch (err) {
        if (stopped) break;
        o.onError(toKubeError(err), `list ${o.kind}`);
        resourceVersion = '';
      }
      await sleep(backoff + Math.random() * backoff * 0.2);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  })();

  return {
    get synced() {
      return synced;
    },
    relist(reason) {
      if (stopped) return Promise.resolve();
      const listed = new Promise<void>((told) => listWaiters.push(told));
      requestRelist(reason);
      return listed;
    },
    async stop() {
      stopped = true;
      abort?.abort();
      wakeSleep?.();
      await loop.catch(() => {});
      await drained();
      for (const told of listWaiters.splice(0)) told();
    },
  };
}
