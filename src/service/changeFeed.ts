// One poll per process for every cluster someone is watching: the event
// streams wait on it instead of each reading the database every second. A
// stream is told when its cluster's fingerprint moves (or the cluster is
// gone) and then reads the cluster as its caller may see it.
import { clusterVersions } from '../store/clusterVersions.ts';
import type { Db } from '../store/db.ts';

export type ChangeFeed = {
  /** Calls `onChange` whenever cluster `id` changes; returns the unsubscribe. */
  subscribe(id: number, onChange: () => void): () => void;
  stop(): void;
};

export function createChangeFeed(db: Db, opts: { pollMs?: number; onPoll?: (ok: boolean) => void } = {}): ChangeFeed {
  const pollMs = opts.pollMs ?? 1000;
  const watchers = new Map<number, Set<() => void>>();
  const versions = new Map<number, string>();
  let timer: NodeJS.Timeout | null = null;
  let polling = false;

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
        for (const fn of watchers.get(id) ?? []) fn();
      }
    } catch {
      // The database is away: the streams stay open and hear of changes once it is back.
      opts.onPoll?.(false);
    } finally {
      polling = false;
    }
  }

  return {
    subscribe(id, onChange) {
      let set = watchers.get(id);
      if (!set) watchers.set(id, (set = new Set()));
      set.add(onChange);
      timer ??= setInterval(() => void poll(), pollMs);
      return () => {
        set!.delete(onChange);
        if (set!.size === 0) {
          watchers.delete(id);
          versions.delete(id);
        }
        if (watchers.size === 0 && timer) {
          clearInterval(timer);
          timer = null;
        }
      };
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
      watchers.clear();
    },
  };
}
