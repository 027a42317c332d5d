// Tells each event stream when its cluster changed. While the notifier hears
// every replica's changes (src/service/notifications.ts), a stream is told
// as each change commits. While it cannot, one poll per process covers every
// cluster someone is watching: it compares each cluster's fingerprint every
// second and tells the streams of those that moved (or are gone). A stream
// then reads the cluster as its caller may see it.
import { clusterVersions } from '../store/clusterVersions.ts';
import type { Db } from '../store/db.ts';
import type { ChangeNotifier } from './changes.ts';

export type ChangeFeed = {
  /** Calls `onChange` whenever cluster `id` changes; returns the unsubscribe. */
  subscribe(id: number, onChange: () => void): () => void;
  stop(): void;
};

export function createChangeFeed(db: Db, opts: { changes?: ChangeNotifier; pollMs?: number; onPoll?: (ok: boolean) => void } = {}): ChangeFeed {
  const pollMs = opts.pollMs ?? 1000;
  const watchers = new Map<number, Set<() => void>>();
  const versions = new Map<number, string>();
  let timer: NodeJS.Timeout | null = null;
  let polling = false;

  const tell = (id: number) => {
    for (const fn of [...(watchers.get(id) ?? [])]) fn();
  };

  async function poll(): Promise<void> {
    if (polling || watchers.size === 0) return;
    polling = true;
    const ids = [...watchers.keys()];
    try {
      const now = await clusterVersions(db, ids);
      opts.onPoll?.(true);
      for (const id of ids) {
        const v = now.get(id) ?? 'gone';
        if (versions.get(id) === v) continue;
        // Also on the first sample: the stream's own first read may predate it.
        versions.set(id, v);
        tell(id);
      }
    } catch {
      // The database is away: the streams stay open and hear of changes once it is back.
      opts.onPoll?.(false);
    } finally {
      polling = false;
    }
  }

  /** Polls only while someone watches and changes cannot be heard. */
  function pollIfNeeded(): void {
    const needed = watchers.size > 0 && !opts.changes?.up;
    if (needed && !timer) {
      timer = setInterval(() => void poll(), pollMs);
    } else if (!needed && timer) {
      clearInterval(timer);
      timer = null;
      versions.clear();
    }
  }

  const unsubscribeChanges = opts.changes?.subscribe((id) => {
    if (id !== null) return tell(id);
    // Changes may have gone unheard (the notifier dropped or came back): every stream reads again.
    for (const cid of [...watchers.keys()]) tell(cid);
    pollIfNeeded();
  });

  return {
    subscribe(id, onChange) {
      let set = watchers.get(id);
      if (!set) watchers.set(id, (set = new Set()));
      set.add(onChange);
      pollIfNeeded();
      return () => {
        set!.delete(onChange);
        if (set!.size === 0) {
          watchers.delete(id);
          versions.delete(id);
        }
        pollIfNeeded();
      };
    },
    stop() {
      unsubscribeChanges?.();
      if (timer) clearInterval(timer);
      timer = null;
      watchers.clear();
    },
  };
}
