// The server gives memory V8 keeps after a burst back once quiet
// (src/observability/heapRelease.ts): when it does so, and that it does.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeListCollect, judgeRelease, LIST_OLD_SPACE_GROWTH_BYTES, RELEASE_CHECK_MS, RELEASE_LIMITS, type ReleaseState } from '../../src/observability/heapRelease.ts';
import { repoRoot } from '../support/kube.ts';

const MiB = 1048576;
const start: ReleaseState = { floorBytes: 150 * MiB, peakBytes: 150 * MiB, lastAtMs: 0, quietSinceMs: null };
const later = Math.max(RELEASE_LIMITS.minIntervalMs, RELEASE_LIMITS.quietForMs) + 5_000;
const check = RELEASE_CHECK_MS;
/** A quiet check ending at `atMs`. */
const quietAt = (rssMiB: number, atMs: number) => ({ rssBytes: rssMiB * MiB, busyShare: 0.02, sinceMs: atMs - check, atMs });

describe('judgeRelease', () => {
  it('releases once the resident set has grown enough and the event loop has been quiet long enough', () => {
    const busy = judgeRelease(start, { rssBytes: 210 * MiB, busyShare: 0.8, sinceMs: later - check, atMs: later });
    expect(busy.release).toBe(false); // still working: its pause would land on requests
    expect(busy.state.peakBytes).toBe(210 * MiB);
    // Quiet from here on; the growth seen while busy counts, once the quiet has lasted.
    let state = busy.state;
    let at = later;
    for (; at - later < RELEASE_LIMITS.quietForMs; ) {
      at += check;
      const j = judgeRelease(state, quietAt(208, at));
      expect(j.release, `quiet for ${at - later} ms`).toBe(at - later >= RELEASE_LIMITS.quietForMs);
      state = j.state;
    }
    expect(state.quietSinceMs).toBe(later);
  });

  it('starts counting the quiet again after a busy check', () => {
    let state = judgeRelease(start, quietAt(250, later)).state;
    state = judgeRelease(state, { ...quietAt(250, later + check), busyShare: 0.5 }).state;
    expect(state.quietSinceMs).toBeNull();
    const j = judgeRelease(state, quietAt(250, later + 2 * check));
    expect(j.state.quietSinceMs).toBe(later + check);
    expect(j.release).toBe(false);
  });

  it('does not release for little growth, nor twice within the least interval', () => {
    const quietLong = { ...start, quietSinceMs: 0 };
    expect(judgeRelease(quietLong, quietAt(150 + RELEASE_LIMITS.growthBytes / MiB - 0.5, later)).release).toBe(false);
    const justReleased = { ...quietLong, lastAtMs: later };
    expect(judgeRelease(justReleased, quietAt(250, later + RELEASE_LIMITS.minIntervalMs - 1)).release).toBe(false);
    expect(judgeRelease(justReleased, quietAt(250, later + Math.max(RELEASE_LIMITS.minIntervalMs, RELEASE_LIMITS.quietForMs))).release).toBe(true);
  });

  it('does not repeat for growth a release could not give back', () => {
    // A release that left the resident set at 190 MiB (native memory, say): that is the new floor.
    const after: ReleaseState = { floorBytes: 190 * MiB, peakBytes: 190 * MiB, lastAtMs: later, quietSinceMs: later };
    expect(judgeRelease(after, quietAt(190, 10 * later)).release).toBe(false);
  });
});

describe('judgeListCollect', () => {
  it("collects between list pages once the old space has grown by the step above the least it has been, and starts from what the collection left", () => {
    const step = LIST_OLD_SPACE_GROWTH_BYTES;
    let floor = 60 * MiB;
    // V8's own collections shrink it: the floor follows down.
    ({ floorBytes: floor } = judgeListCollect(floor, 50 * MiB));
    expect(floor).toBe(50 * MiB);
    expect(judgeListCollect(floor, 50 * MiB + step - 1).collect).toBe(false);
    const j = judgeListCollect(floor, 50 * MiB + step);
    expect(j).toEqual({ floorBytes: 50 * MiB, collect: true });
  });
});

/** Runs the child with or without --expose-gc; its one line of JSON. */
function child(exposeGc: boolean): Record<string, number | boolean> {
  const args = [...(exposeGc ? ['--expose-gc'] : []), '--max-semi-space-size=16', '--import', 'tsx', join(repoRoot, 'test', 'observability', 'heapReleaseChild.ts')];
  const out = execFileSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', timeout: 50_000 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number | boolean>;
}

describe('startHeapRelease', () => {
  it('gives back, once quiet, what V8 kept resident after a burst', () => {
    const r = child(true);
    expect(r.started).toBe(true);
    // V8 had shrunk its heap but kept the pages: the resident set had not come down by itself.
    expect(r.rssBeforeMiB as number).toBeGreaterThan((r.rssAfterBurstMiB as number) * 0.8);
    // The collection gave at least the growth that started it back.
    expect((r.rssBeforeMiB as number) - (r.rssAfterMiB as number)).toBeGreaterThanOrEqual(16);
    process.stderr.write(`heap release: ${JSON.stringify(r)}\n`);
  }, 60_000);

  it('starts nothing where the process runs without --expose-gc', () => {
    expect(child(false)).toEqual({ started: false });
  }, 60_000);
});
