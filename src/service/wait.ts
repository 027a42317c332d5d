// ?wait=<seconds>: answer once Kubernetes has converged, or say why not:
// the time ran out, or an instance failed (then waiting longer will not help).
// What "converged" means is src/domain/convergence.ts; this is when to look
// again: when a change of its cluster is heard (the notifier, which hears
// every replica's), or every FALLBACK_POLL_MS while the notifier is down or
// absent, never more often than every MIN_RECHECK_MS.
import type { Waited } from '../contract/schemas.ts';
import type { Convergence } from '../domain/convergence.ts';
import type { ChangeNotifier } from './changes.ts';

export type WaitOutcome = Waited;

/** While changes cannot be heard, look again this often. */
export const FALLBACK_POLL_MS = 2000;
/** However many notifications arrive, one waiter reads at most this often (the earlier fixed poll). */
export const MIN_RECHECK_MS = 250;

export type WaitOptions = {
  changes?: ChangeNotifier;
  /** Only changes of this cluster wake the wait; absent: any change. */
  clusterId?: number;
  fallbackPollMs?: number;
  /** Stops the wait (the client went away): it answers as if the time were up. */
  signal?: AbortSignal;
};

export async function waitUntil(check: () => Promise<Convergence>, seconds: number, opts: WaitOptions = {}): Promise<WaitOutcome> {
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const elapsed = () => (Date.now() - started) / 1000;
  const fallback = opts.fallbackPollMs ?? FALLBACK_POLL_MS;
  // A change heard while a check runs is looked at after it: the check may have read before it.
  let heard = false;
  let wakeUp: (() => void) | null = null;
  const unsubscribe = opts.changes?.subscribe((id) => {
    if (id !== null && opts.clusterId !== undefined && id !== opts.clusterId) return;
    heard = true;
    wakeUp?.();
  });
  const stop = () => wakeUp?.();
  opts.signal?.addEventListener('abort', stop);
  try {
    for (;;) {
      const checkedAt = Date.now();
      heard = false;
      const state = await check();
      if (state === 'converged') return { converged: true, waited_seconds: elapsed() };
      if (state === 'failed') return { converged: false, failed: true, waited_seconds: elapsed() };
      if (Date.now() >= deadline || opts.signal?.aborted) return { converged: false, waited_seconds: elapsed() };
      if (!heard) {
        await new Promise<void>((resolve) => {
          // Heard changes wake it; only while they cannot be heard does it look on a timer.
          const untilDeadline = Math.max(1, deadline - Date.now());
          const t = setTimeout(resolve, opts.changes?.up ? untilDeadline : Math.min(fallback, untilDeadline));
          wakeUp = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wakeUp = null;
      }
      if (opts.signal?.aborted) return { converged: false, waited_seconds: elapsed() };
      const soonest = checkedAt + MIN_RECHECK_MS - Date.now();
      if (soonest > 0) await new Promise((r) => setTimeout(r, Math.min(soonest, Math.max(1, deadline - Date.now()))));
    }
  } finally {
    unsubscribe?.();
    opts.signal?.removeEventListener('abort', stop);
  }
}
