// Group commit: many small writes of the same kind, made at once by different
// handlers, go to the database as one statement. A call made while no flush is
// running starts one after the current turn of the event loop (so that calls
// made in the same turn, a list page's, join it); calls made while a flush runs
// wait for it and go together in the next. An idle observer therefore writes
// each event at once, and a busy one writes as many events per round trip as
// arrived during the last.

type Waiting<T, R> = { item: T; resolve: (r: R) => void; reject: (err: unknown) => void };

/**
 * `flush` writes a batch (at most `max` items) and answers each item's result,
 * in order. A failed flush fails every call in its batch, as each alone would
 * have failed.
 */
export function groupCommit<T, R>(flush: (items: T[]) => Promise<R[]>, max = 500): (item: T) => Promise<R> {
  let queue: Waiting<T, R>[] = [];
  let busy = false;
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
  };
  return (item) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (busy) return;
      busy = true;
      setImmediate(() => void run());
    });
}
