// Every replica hears what any replica commits, as it commits: one
// notification connection per replica, listening on the database's channel
// (src/store/notifications.ts; the triggers say what changed). It wakes the
// event streams and ?wait= requests of the cluster that changed, the
// reconciler when there is new work, and clears the token cache when access
// changes. While the connection is down, `up` is false and each of them falls
// back to polling; it reconnects on its own, and tells everyone that anything
// may have changed unheard both when it drops and when it is back.
//
// `settled()` is how a change of access takes effect everywhere before it is
// answered: it asks every listening replica to confirm that it has handled
// every notification committed before the call (PostgreSQL delivers them in
// commit order), and ends the notification connection of any replica that
// does not confirm in time, which makes that replica stop trusting its cache.
import { randomBytes } from 'node:crypto';
import { ackNotice, barrierNotice, parseNotice } from '../domain/notifications.ts';
import type { Db, ListenHandle } from '../store/db.ts';
import { CHANNEL, dropListener, LISTENER_PREFIX, liveListeners, notify } from '../store/notifications.ts';
import type { ChangeNotifier } from './changes.ts';

export type Notifications = ChangeNotifier & {
  /** This replica's name on the channel. */
  readonly replica: string;
  /** Calls `fn` when there is new work for the reconcilers (and when notifications may have been missed). */
  onWork(fn: () => void): () => void;
  /** Calls `fn` when who may do what changed (and when notifications may have been missed). */
  onAccess(fn: () => void): () => void;
  /** Resolves once every listening replica has handled what was committed before the call. */
  settled(): Promise<void>;
  close(): Promise<void>;
};

export type NotificationOptions = {
  /** Names this replica; made unique with a random suffix. */
  worker: string;
  /** Wait this long before connecting again; doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  /** How long settled() waits for every replica's confirmation. */
  settleTimeoutMs?: number;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** The connection went up (true) or down (false). */
  onState?: (up: boolean) => void;
  /** A notification was handled (metrics). */
  onNotice?: () => void;
};

/** PostgreSQL keeps 63 bytes of an application_name. */
const MAX_NAME = 63 - LISTENER_PREFIX.length;

export function replicaName(worker: string): string {
  const suffix = randomBytes(4).toString('hex');
  return `${worker.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, MAX_NAME - suffix.length - 1)}-${suffix}`;
}

export async function startNotifications(db: Db, opts: NotificationOptions): Promise<Notifications> {
  const replica = replicaName(opts.worker);
  const retryMs = opts.retryMs ?? 500;
  const maxRetryMs = opts.maxRetryMs ?? 5000;
  const settleTimeoutMs = opts.settleTimeoutMs ?? 2000;
  const clusters = new Set<(id: number | null) => void>();
  const work = new Set<() => void>();
  const access = new Set<() => void>();
  /** settled() calls waiting for confirmations: by seq, the replicas yet to confirm. */
  const pending = new Map<number, { waiting: Set<string>; done: () => void }>();
  let seq = 0;
  let handle: ListenHandle | null = null;
  let up = false;
  let closed = false;
  let retryTimer: NodeJS.Timeout | null = null;
  let delay = retryMs;

  const each = <A extends unknown[]>(fns: Set<(...a: A) => void>, ...a: A) => {
    for (const fn of [...fns]) fn(...a);
  };
  /** Anything may have changed unheard: everyone looks again. */
  const everything = () => {
    each(access);
    each(clusters, null);
    each(work);
  };

  function message(payload: string): void {
    const n = parseNotice(payload);
    if (!n) return;
    opts.onNotice?.();
    switch (n.kind) {
      case 'cluster':
        return each(clusters, n.id);
      case 'work':
        return each(work);
      case 'access':
        return each(access);
      case 'barrier':
        // Everything committed before the request has been handled (in order, above): confirm.
        void notify(db, ackNotice(replica, n.from, n.seq)).catch(() => {});
        return;
      case 'ack': {
        if (n.to !== replica) return;
        const p = pending.get(n.seq);
        if (!p) return;
        p.waiting.delete(n.from);
        if (p.waiting.size === 0) p.done();
        return;
      }
    }
  }

  function setUp(value: boolean): void {
    if (up === value) return;
    up = value;
    opts.onState?.(value);
    everything();
  }

  async function connect(): Promise<void> {
    retryTimer = null;
    if (closed) return;
    try {
      const h = await db.listen(CHANNEL, LISTENER_PREFIX + replica, {
        message,
        ended: (err) => {
          handle = null;
          opts.log?.warn({ err: err?.message }, 'notification connection lost; polling until it is back');
          setUp(false);
          schedule();
        },
      });
      if (closed) return void (await h.close());
      handle = h;
      delay = retryMs;
      setUp(true);
    } catch (err) {
      if (up) setUp(false);
      schedule();
      if (delay >= maxRetryMs) opts.log?.warn({ err: (err as Error).message }, 'notification connection refused; polling meanwhile');
    }
  }

  function schedule(): void {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => void connect(), delay);
    delay = Math.min(maxRetryMs, delay * 2);
  }

  await connect();

  return {
    replica,
    get up() {
      return up;
    },
    subscribe(fn) {
      clusters.add(fn);
      return () => clusters.delete(fn);
    },
    onWork(fn) {
      work.add(fn);
      return () => work.delete(fn);
    },
    onAccess(fn) {
      access.add(fn);
      return () => access.delete(fn);
    },
    async settled() {
      // The embedded database has one process, which is this one.
      const listeners = db.kind === 'pglite' ? [{ pid: 0, replica }] : await liveListeners(db);
      if (listeners.length === 0) return;
      const n = ++seq;
      const waiting = new Set(listeners.map((l) => l.replica));
      let timer: NodeJS.Timeout | null = null;
      const confirmed = await new Promise<boolean>((resolve) => {
        pending.set(n, { waiting, done: () => resolve(true) });
        timer = setTimeout(() => resolve(false), settleTimeoutMs);
        notify(db, barrierNotice(replica, n)).catch(() => resolve(false));
      });
      if (timer) clearTimeout(timer);
      pending.delete(n);
      if (confirmed) return;
      // A replica that cannot confirm must not go on trusting what it cached: end its connection.
      const late = listeners.filter((l) => waiting.has(l.replica));
      opts.log?.warn({ replicas: late.map((l) => l.replica) }, 'replicas did not confirm a change of access in time; ending their notification connections');
      for (const l of late) {
        if (l.replica === replica) {
          // This one's own connection is down or slow: its cache is cleared by the drop below all the same.
          each(access);
        }
        if (db.kind === 'postgres') await dropListener(db, l.pid).catch(() => {});
      }
    },
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      const h = handle;
      handle = null;
      up = false;
      for (const p of pending.values()) p.done();
      await h?.close();
    },
  };
}
