// Gives the memory V8 no longer uses back to the system once the server is
// quiet again after a burst of work (a convergence, a resync, a teardown).
//
// V8 shrinks its heap after such a burst but keeps the freed pages resident,
// pooled for reuse: the resident set stays near its peak. It returns them on a
// memory-reducing collection, which its memory reducer starts only once it has
// measured a low allocation rate, and it measures that at a collection: a quiet
// server runs almost none, so the pages could stay for minutes. Here the
// server asks for that collection itself (V8's last-resort collection, which
// `--expose-gc` makes callable: SERVER_NODE_FLAGS in scripts/build.ts) when
// the resident set has grown by RELEASE_AFTER_GROWTH_BYTES since the last one
// ended, the event loop has been nearly idle for RELEASE_QUIET_FOR_MS, and at
// most once every RELEASE_MIN_INTERVAL_MS. Growth V8 cannot give back (native
// memory) leaves the next release's floor where it is: it does not repeat.
// It holds the event loop for tens to hundreds of milliseconds and, reducing
// memory, drops the bytecode of functions not running, which the next calls
// compile again: so it waits for a quiet that is more than a pause between
// requests (5 s under 10 % busy), and comes at most once a minute. Waiting
// longer would keep a burst's peak resident for longer than the burst: what
// an HPA scaling on memory, or a node under pressure, sees.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

/** How often the heap and the event loop are looked at. */
export const RELEASE_CHECK_MS = 2_500;
/** Growth of the resident set since the last release that makes another worth its pause. */
export const RELEASE_AFTER_GROWTH_BYTES = 16 * 1024 * 1024;
/** The event loop's busy share over a check, below which the server counts as quiet. */
export const RELEASE_QUIET_BELOW = 0.1;
/** How long the server must have been quiet. */
export const RELEASE_QUIET_FOR_MS = 5_000;
/** The least time between two releases. */
export const RELEASE_MIN_INTERVAL_MS = 60_000;

/**
 * The resident set the last release left, the most it has been since, when
 * that release was, and since when the event loop has been quiet (null: busy).
 */
export type ReleaseState = { floorBytes: number; peakBytes: number; lastAtMs: number; quietSinceMs: number | null };
/** A check: the resident set, the event loop's busy share since the previous check (made at sinceMs), the time. */
export type HeapSample = { rssBytes: number; busyShare: number; sinceMs: number; atMs: number };

export type ReleaseLimits = { growthBytes: number; quietBelow: number; quietForMs: number; minIntervalMs: number };
export const RELEASE_LIMITS: ReleaseLimits = {
  growthBytes: RELEASE_AFTER_GROWTH_BYTES,
  quietBelow: RELEASE_QUIET_BELOW,
  quietForMs: RELEASE_QUIET_FOR_MS,
  minIntervalMs: RELEASE_MIN_INTERVAL_MS,
};

/** The state after a sample (its peak updated) and whether to release now. */
export function judgeRelease(state: ReleaseState, s: HeapSample, limits: ReleaseLimits = RELEASE_LIMITS): { state: ReleaseState; release: boolean } {
  const quiet = s.busyShare < limits.quietBelow;
  const next: ReleaseState = {
    ...state,
    peakBytes: Math.max(state.peakBytes, s.rssBytes),
    quietSinceMs: quiet ? (state.quietSinceMs ?? s.sinceMs) : null,
  };
  const release =
    next.peakBytes - next.floorBytes >= limits.growthBytes &&
    next.quietSinceMs !== null &&
    s.atMs - next.quietSinceMs >= limits.quietForMs &&
    s.atMs - state.lastAtMs >= limits.minIntervalMs;
  return { state: next, release };
}

export type Release = { rssBeforeBytes: number; rssAfterBytes: number; ms: number };

type GcFunction = (o: { type: 'major'; execution: 'sync'; flavor?: 'last-resort' }) => void;

/** V8's collector when the process runs with --expose-gc, else null. */
function exposedGc(): GcFunction | null {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? (gc as GcFunction) : null;
}

/**
 * Looks every RELEASE_CHECK_MS and releases when judgeRelease says so; null
 * (nothing started) when the process runs without --expose-gc.
 */
export function startHeapRelease(o: { onRelease: (r: Release) => void; checkMs?: number; limits?: ReleaseLimits }): { stop(): void } | null {
  const gc = exposedGc();
  if (!gc) return null;
  const rss = () => process.memoryUsage.rss();
  const startBytes = rss();
  let state: ReleaseState = { floorBytes: startBytes, peakBytes: startBytes, lastAtMs: performance.now(), quietSinceMs: null };
  let elu: EventLoopUtilization = performance.eventLoopUtilization();
  let lastCheckMs = performance.now();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busyShare = performance.eventLoopUtilization(now, elu).utilization;
    elu = now;
    const sinceMs = lastCheckMs;
    lastCheckMs = performance.now();
    const rssBeforeBytes = rss();
    const judged = judgeRelease(state, { rssBytes: rssBeforeBytes, busyShare, sinceMs, atMs: lastCheckMs }, o.limits);
    state = judged.state;
    if (!judged.release) return;
    const started = performance.now();
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    const ms = performance.now() - started;
    const rssAfterBytes = rss();
    lastCheckMs = performance.now();
    state = { floorBytes: rssAfterBytes, peakBytes: rssAfterBytes, lastAtMs: lastCheckMs, quietSinceMs: null };
    // The collection's own time is not the application's: the next check measures from here.
    elu = performance.eventLoopUtilization();
    o.onRelease({ rssBeforeBytes, rssAfterBytes, ms });
  }, o.checkMs ?? RELEASE_CHECK_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

// A list of thousands of objects (a resync, a watch listing again) is a burst
// the server makes itself, page after page. Objects of a page outlive the
// young generation's collections while the page is judged (database round
// trips), so they are promoted, and V8 lets the old generation grow to well
// above what survived its last full collection (a fifth more, at least 8 MiB,
// plus the young generation's capacity) before it collects: at 5,000 VMs a
// resync took the old space from 43 to 65 MiB and the resident set 28 MiB
// above its figure with all running. While lists go on, a full collection
// (not the memory-reducing one above: pages stay pooled for reuse, and nothing
// compiled is dropped) whenever the old space has grown LIST_OLD_SPACE_GROWTH_BYTES
// above the least it has been since the last such collection keeps it there.
// 4 MiB: with 8 a 10,000-VM resync still took the resident set's anonymous
// part 12 MiB up (to 201 MiB in all; 11 collections of about 60 ms); with 4
// it did not rise at 5,000 or 10,000 VMs, for 14 and 22 collections (0.8 and
// 1.7 s of pauses over the resync). BENCHMARKS.md, Changed on the way.

/** Growth of V8's old space during lists after which the server collects before the next page. */
export const LIST_OLD_SPACE_GROWTH_BYTES = 4 * 1024 * 1024;

/** The least the old space has been since the last collection, and whether to collect now at `bytes`. */
export function judgeListCollect(floorBytes: number, bytes: number, growthBytes = LIST_OLD_SPACE_GROWTH_BYTES): { floorBytes: number; collect: boolean } {
  const floor = Math.min(floorBytes, bytes);
  return { floorBytes: floor, collect: bytes - floor >= growthBytes };
}

export type ListCollection = { oldSpaceBeforeBytes: number; oldSpaceAfterBytes: number; ms: number };

/** What V8's old space holds in objects, live or not yet collected (not the pages it keeps, which a collection need not give up at once). */
const oldSpaceBytes = () => getHeapSpaceStatistics().find((x) => x.space_name === 'old_space')?.space_used_size ?? 0;

/**
 * Called after each page of a Kubernetes list; null (nothing to call) when the
 * process runs without --expose-gc.
 */
export function listCollector(o: { onCollect?: (c: ListCollection) => void; growthBytes?: number } = {}): { onListPage(): void } | null {
  const gc = exposedGc();
  if (!gc) return null;
  let floorBytes = oldSpaceBytes();
  return {
    onListPage() {
      const bytes = oldSpaceBytes();
      const judged = judgeListCollect(floorBytes, bytes, o.growthBytes);
      floorBytes = judged.floorBytes;
      if (!judged.collect) return;
      const started = performance.now();
      gc({ type: 'major', execution: 'sync' });
      const after = oldSpaceBytes();
      floorBytes = after;
      o.onCollect?.({ oldSpaceBeforeBytes: bytes, oldSpaceAfterBytes: after, ms: performance.now() - started });
    },
  };
}
