// Where every benchmark run leaves its figures: one JSON file per run,
// bench/results/<date>-<commit>-<bench>.json, committed when it backs a figure
// in BENCHMARKS.md (whose tables are generated from these files).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../test/support/kube.ts';
import { gitCommit } from './util.ts';

export const resultsDir = join(repoRoot, 'bench', 'results');

/** Writes one run's figures of benchmark `bench`; returns the file's path. */
export function writeResults(bench: string, data: object): string {
  const date = new Date().toISOString().slice(0, 10);
  const commit = gitCommit().slice(0, 7);
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${date}-${commit}-${bench}.json`);
  writeFileSync(file, JSON.stringify({ bench, date: new Date().toISOString(), commit: gitCommit(), node: process.version, ...data }, null, 2) + '\n');
  return file;
}
