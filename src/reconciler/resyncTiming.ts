// When the periodic resync runs. It is the safety net under the watches, and
// at 10,000 VMs it lists four kinds 10,000 objects long and judges each
// object: run in the middle of a convergence, it takes the CPU the work and
// the plane need and judges objects that are about to change anyway. So while
// the installation converges (work due, or instances' statuses moving: the
// reconcilers may be done while Kubernetes still brings instances up) it
// waits, looking again every few seconds, but never longer than one more
// period: drift the watches missed is still found within two periods. A
// resync asked for (SIGHUP, a lease won back) is never postponed.

/** While converging, whether it still is is asked this often. */
export const RESYNC_RECHECK_MS = 5_000;
/** Instances whose status moved this recently mean the installation is still converging. */
export const CONVERGING_WITHIN_SECONDS = 10;

export type ResyncTiming = { run: true } | { run: false; recheckMs: number };

/**
 * The periodic resync is due: whether it runs now or is looked at again later.
 * `converging`: whether the installation is converging now (null when that could not be read);
 * `postponedMs`: how long it has already waited past its time.
 */
export function periodicResync(converging: boolean | null, postponedMs: number, periodMs: number): ResyncTiming {
  if (converging !== true) return { run: true };
  const left = periodMs - postponedMs;
  if (left <= 0) return { run: true };
  return { run: false, recheckMs: Math.min(RESYNC_RECHECK_MS, left) };
}
