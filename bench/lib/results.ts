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

/**
 * Writes one run's figures of benchmark `bench`; returns the file's path.
 * `startedAt` names the file by the run's start, so that a long run writing
 * its figures as they come keeps writing to one file.
 */
export function writeResults(bench: string, data: object, opts: { startedAt?: Date } = {}): string {
  const startedAt = opts.startedAt ?? new Date();
  const commit = gitCommit();
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${startedAt.toISOString().slice(0, 10)}-${commit.slice(0, 7)}-${bench}.json`);
  const body = { bench, date: startedAt.toISOString(), writtenAt: new Date().toISOString(), commit, srcTree: srcTree(), node: process.version, loadavgAtWrite: loadavg(), ...data };
  writeFileSync(file, JSON.stringify(body, null, 2) + '\n');
  return file;
}
