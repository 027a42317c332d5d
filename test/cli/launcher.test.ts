// The CLI launcher (bin/kubekloud.js) decides between the bundle `npm run
// build` makes and the TypeScript sources through tsx. Run here as the real
// script in a project laid out like this one, whose bundle and sources each
// say which of them ran: the bundle only when it is newer than every source.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/kube.ts';

let dir: string;
const bundle = () => join(dir, 'dist', 'cli.mjs');
const source = () => join(dir, 'src', 'cli', 'main.ts');
const at = (path: string, seconds: number) => utimesSync(path, seconds, seconds);
const run = () => execFileSync(process.execPath, [join(dir, 'bin', 'kubekloud.js'), 'a', 'b'], { encoding: 'utf8' }).trim();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kubekloud-launcher-'));
  for (const d of ['bin', 'dist', 'src/cli', 'src/domain']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(join(repoRoot, 'bin', 'kubekloud.js'), join(dir, 'bin', 'kubekloud.js'));
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(bundle(), "console.log('bundle', process.argv.slice(2).join(' '));\n");
  // Typed, so only tsx can run it.
  writeFileSync(source(), "const from: string = 'sources';\nconsole.log(from, process.argv.slice(2).join(' '));\n");
  writeFileSync(join(dir, 'src', 'domain', 'other.ts'), 'export const x = 1;\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the CLI launcher', () => {
  it('runs the bundle when it is newer than every source, with the arguments given', () => {
    at(source(), 1_000);
    at(join(dir, 'src', 'domain', 'other.ts'), 1_000);
    at(bundle(), 2_000);
    expect(run()).toBe('bundle a b');
  });

  it('runs the sources through tsx once any source, in any folder, is newer than the bundle', () => {
    at(join(dir, 'src', 'domain', 'other.ts'), 3_000);
    expect(run()).toBe('sources a b');
  });

  it('runs the sources when there is no bundle', () => {
    rmSync(bundle());
    expect(run()).toBe('sources a b');
  });
});
