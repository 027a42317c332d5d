// The server gives memory V8 keeps after a burst back once quiet
// (src/observability/heapRelease.ts): when it does so, and that it does.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeRelease, RELEASE_LIMITS, type ReleaseState } from '../../src/observability/heapRelease.ts';
import { repoRoot } from '../support/kube.ts';

const MiB = 1048576;
const start: ReleaseState = { floorBytes: 150 * MiB, peakBytes: 150 * MiB, lastAtMs: 0 };
const later = RELEASE_LIMITS.minIntervalMs;

describe('judgeRelease', () => {
  it('releases once the resident set has grown enough and the event loop is quiet', () => {
    const busy = judgeRelease(start, { rssBytes: 210 * MiB, busyShare: 0.8, atMs: later });
    expect(busy.release).toBe(false); // still working: its pause would land on requests
    expect(busy.state.peakBytes).toBe(210 * MiB);
    // Quiet now; the growth seen while busy counts.
    expect(judgeRelease(busy.state, { rssBytes: 208 * MiB, busyShare: 0.02, atMs: later + 5_000 }).release).toBe(true);
  });

  it('does not release for little growth, nor twice within the least interval', () => {
    expect(judgeRelease(start, { rssBytes: 150 * MiB + RELEASE_LIMITS.growthBytes - 1, busyShare: 0, atMs: later }).release).toBe(false);
    expect(judgeRelease(start, { rssBytes: 250 * MiB, busyShare: 0, atMs: later - 1 }).release).toBe(false);
    expect(judgeRelease(start, { rssBytes: 250 * MiB, busyShare: 0, atMs: later }).release).toBe(true);
  });

  it('does not repeat for growth a release could not give back', () => {
    // A release that left the resident set at 190 MiB (native memory, say): that is the new floor.
    const after: ReleaseState = { floorBytes: 190 * MiB, peakBytes: 190 * MiB, lastAtMs: later };
    expect(judgeRelease(after, { rssBytes: 190 * MiB, busyShare: 0, atMs: 10 * later }).release).toBe(false);
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
