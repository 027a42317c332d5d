// Run by heapRelease.test.ts in a process of its own (`node [--expose-gc]
// --import tsx`): a burst of short-lived objects, as a convergence makes, then
// quiet; prints what the release did (or that none could start) as one JSON line.
import { RELEASE_LIMITS, startHeapRelease, type Release } from '../../src/observability/heapRelease.ts';

const rssMiB = () => process.memoryUsage.rss() / 1048576;
// The release's timer does not keep a process alive; this does, until it has run.
const alive = setInterval(() => {}, 1_000);
const released = new Promise<Release>((resolve) => {
  const handle = startHeapRelease({
    checkMs: 250,
    limits: { ...RELEASE_LIMITS, quietForMs: 500, minIntervalMs: 0 }, // the server's, without its waits
    onRelease: (r) => {
      handle?.stop();
      resolve(r);
    },
  });
  if (!handle) {
    process.stdout.write(`${JSON.stringify({ started: false })}\n`);
    process.exit(0);
  }
});

// The burst: some of it kept for a while, so the heap grows in both generations.
let kept: unknown[][] = [];
const until = performance.now() + 2_000;
while (performance.now() < until) {
  const batch: unknown[] = [];
  for (let i = 0; i < 1_000; i++) batch.push({ i, name: `object-${i}`, pair: [i, i] });
  if (Math.random() < 0.01) kept.push(batch);
  if (kept.length > 200) kept.shift();
}
const rssAfterBurstMiB = rssMiB();
kept = [];
const r = await released;
clearInterval(alive);
process.stdout.write(
  `${JSON.stringify({ started: true, rssAfterBurstMiB, rssBeforeMiB: r.rssBeforeBytes / 1048576, rssAfterMiB: r.rssAfterBytes / 1048576, ms: r.ms })}\n`,
);
