// Group commit: many small writes of the same kind, made at once by different
// handlers, go to the database as one statement. A call made while no flush is
// running starts one after the current turn of the event loop (so that calls
// made in the same turn, a list page's, join it); calls made while a flush runs
// wait for it and go together in the next. An idle observer therefore writes
// each event at once, and a busy one writes as many events per round trip as
// arrived during the last.
//
// Under a steady trickle of events (a convergence: a few hundred a second, each
// flush shorter than the gap between them) that alone batches little: nearly
// every event would find no flush running and go alone. So a call that comes
// within `lingerMs` of the last flush's end waits out the rest of that window
// and goes with whatever else came meanwhile: when busy, at most one flush of a
// kind per window; when idle (nothing flushed for a window), at once.

/** The observer's window: an observation waits at most this long for company (ms). */
export const OBSERVER_LINGER_MS = 20;

/** The reconciler's window: an instance reconciled waits at most this long to be marked synced with others (ms). */
export const RECONCILER_LINGER_MS = 20;

type Waiting<T, R> = { item: T; resolve: (r: R) => void; reject: (err: unknown) => void };

export type GroupCommitOptions = {
  /** Items per flush, at most. */
  max?: number;
  /** The window after a flush in which a new call waits for company (ms); 0: never waits. */
  lingerMs?: number;
};

/**
 * `flush` writes a batch (at most `max` items) and answers each item's result,
 * in order. A failed flush fails every call in its batch, as each alone would
 * have failed.
 */
export function groupCommit<T, R>(flush: (items: T[]) => Promise<R[]>, { max = 500, lingerMs = 0 }: GroupCommitOptions = {}): (item: T) => Promise<R> {
  let queue: Waiting<T, R>[] = [];
  let busy = false;
  let lastEnd = -Infinity;
  const run = async () => {
    while (queue.length > 0) {
      const batch = queue.slice(0, max);
      queue = queue.slice(batch.length);
      try {
        const out = await flush(batch.map((w) => w.item));
        batch.forEach((w, k) => w.resolve(out[k]!));
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    busy = false;
    lastEnd = performance.now();
  };
  return (item) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (busy) return;
      busy = true;
      const wait = lastEnd + lingerMs - performance.now();
      if (wait > 0) setTimeout(() => void run(), wait);
      else setImmediate(() => void run());
    });
}
