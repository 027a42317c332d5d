// Where every benchmark run leaves its figures: one JSON file per run,
// bench/results/<date>-<commit>-<bench>.json, committed when it backs a figure
// in BENCHMARKS.md (whose tables `npm run bench:report` generates from these files).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../test/support/kube.ts';
import { gitCommit, loadavg } from './util.ts';

export const resultsDir = join(repoRoot, 'bench', 'results');

/**
 * The git tree of src/ at HEAD: two runs whose `srcTree` is equal measured the
 * same server code, whatever else (the benchmarks, the docs) changed between
 * their commits.
 */
export function srcTree(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD:src'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** What a run measured and when it started: taken once at its start. */
export type RunStamp = { startedAt: Date; commit: string; srcTree: string };

export const runStamp = (): RunStamp => ({ startedAt: new Date(), commit: gitCommit(), srcTree: srcTree() });

/**
 * Writes one run's figures of benchmark `bench`; returns the file's path.
 * `stamp` (default: now) names the file by the run's start and the commit it
 * started at, so that a long run writing its figures as they come keeps
 * writing to one file, whatever happens to the working tree meanwhile.
 */
export function writeResults(bench: string, data: object, stamp: RunStamp = runStamp()): string {
  const { startedAt, commit } = stamp;
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${startedAt.toISOString().slice(0, 10)}-${commit.slice(0, 7)}-${bench}.json`);
  const body = { bench, date: startedAt.toISOString(), writtenAt: new Date().toISOString(), commit, srcTree: stamp.srcTree, node: process.version, loadavgAtWrite: loadavg(), ...data };
  writeFileSync(file, JSON.stringify(body, null, 2) + '\n');
  return file;
}
