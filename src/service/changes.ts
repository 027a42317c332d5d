// "Something was recorded": the signal that wakes requests waiting with
// ?wait= instead of having each poll the database. The one interface a
// notifier implements; this process's own (`createLocalChanges`) is fed by
// its reconciler (a reconcile ended) and its observer (a watch recorded what
// it saw). Changes recorded by other replicas reach a waiter through its slow
// fallback poll (src/service/wait.ts) until a cross-replica notifier is
// plugged in behind the same interface.

export type ChangeNotifier = {
  /** Calls `onChange` after every recorded change from now on; returns the unsubscribe. */
  subscribe(onChange: () => void): () => void;
};

export type LocalChanges = ChangeNotifier & {
  /** Tells every subscriber that something was recorded. */
  notify(): void;
};

export function createLocalChanges(): LocalChanges {
  const listeners = new Set<() => void>();
  return {
    subscribe(onChange) {
      listeners.add(onChange);
      return () => listeners.delete(onChange);
    },
    notify() {
      for (const fn of [...listeners]) fn();
    },
  };
}
