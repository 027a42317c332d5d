// The operator scripts pass shellcheck, and refuse to run -- naming what is
// missing -- when a tool or a setting they need is absent, before changing
// anything.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { k8sDir, run } from './fixture.ts';

const scriptsDir = join(k8sDir, 'scripts');
const scripts = readdirSync(scriptsDir).filter((f) => f.endsWith('.sh'));
const allScripts = [...scripts.map((f) => join(scriptsDir, f)), join(k8sDir, 'base/backup/backup.sh')];
const emptyPath = mkdtempSync(join(tmpdir(), 'kubekloud-nopath-'));
afterAll(() => rmSync(emptyPath, { recursive: true, force: true }));

// Settings every script needs, and the tools checked first.
const required: Record<string, { tools: string[]; settings: string[] }> = {
  'harbor-install.sh': { tools: ['helm', 'kubectl'], settings: ['HARBOR_ADMIN_PASSWORD', 'HARBOR_SECRET_KEY', 'HARBOR_DB_PASSWORD'] },
  'harbor-configure.sh': { tools: ['curl', 'jq', 'kubectl'], settings: ['HARBOR_ADMIN_PASSWORD'] },
  'build-push.sh': { tools: ['docker', 'git'], settings: ['HARBOR_USERNAME', 'HARBOR_PASSWORD'] },
  'deploy-all.sh': { tools: ['kubectl', 'helm', 'docker'], settings: ['HARBOR_ADMIN_PASSWORD', 'HARBOR_SECRET_KEY', 'HARBOR_DB_PASSWORD'] },
  'restore-db.sh': { tools: ['pg_restore', 'psql'], settings: ['BACKUP_FILE', 'TARGET_DATABASE_URL'] },
  'restore-from-cluster.sh': { tools: ['kubectl', 'pg_restore', 'psql'], settings: ['CONFIRM_RESTORE'] },
  'backup-now.sh': { tools: ['kubectl'], settings: [] },
};

// The environment without any of the scripts' settings.
const cleanEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(HARBOR_|BACKUP_|TARGET_|CONFIRM_|RESTORE_|PG|KUBEKLOUD_|OVERLAY|SKIP_)/.test(k)) delete env[k];
  return env;
};

describe('operator scripts', () => {
  it('pass shellcheck (every script, with the sourced helpers followed)', () => {
    const r = run('shellcheck', ['--version']);
    expect(r.code, 'shellcheck must be installed (apt-get install shellcheck)').toBe(0);
    const check = run('shellcheck', ['--external-sources', '--severity=style', ...allScripts], { cwd: scriptsDir });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.code).toBe(0);
  });

  it('are all covered here, strict (set -euo pipefail) and executable', () => {
    expect(scripts.filter((s) => s !== 'lib.sh').sort()).toEqual(Object.keys(required).sort());
    for (const s of allScripts.filter((p) => !p.endsWith('lib.sh'))) {
      const head = run('head', ['-n', '40', s]).stdout;
      expect(head, s).toMatch(/^#!\/usr\/bin\/env bash\n/);
      expect(head, s).toMatch(/^set -euo pipefail$/m);
      expect(run('test', ['-x', s]).code, `${s} is executable`).toBe(0);
    }
  });

  it.each(Object.entries(required))('%s names the tools it cannot find', (script, { tools }) => {
    const r = run('/bin/bash', [join(scriptsDir, script)], { env: { ...cleanEnv(), PATH: emptyPath } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('missing tools:');
    for (const t of tools) expect(r.stderr).toMatch(new RegExp(`missing tools:.*\\b${t}\\b`));
  });

  it.each(Object.entries(required).filter(([, r]) => r.settings.length > 0))('%s names the settings it is missing', (script, { settings }) => {
    // Stand-ins for every tool, so only the settings can be missing.
    const fakeBin = mkdtempSync(join(tmpdir(), 'kubekloud-fakebin-'));
    try {
      for (const t of ['helm', 'kubectl', 'curl', 'jq', 'docker', 'git', 'sed', 'pg_restore', 'psql', 'base64', 'basename', 'mktemp', 'seq', 'sleep', 'rm', 'od', 'tr', 'grep', 'date']) {
        run('/bin/ln', ['-s', '/bin/false', join(fakeBin, t)]);
      }
      const r = run('/bin/bash', [join(scriptsDir, script)], { env: { ...cleanEnv(), PATH: fakeBin } });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`^${script.replace('.', '\\.')}: missing settings: ${settings.join(' ')}`, 'm'));
    } finally {
      rmSync(fakeBin, { recursive: true, force: true });
    }
  });

  it('the backup script names the settings it is missing', () => {
    const r = run('/bin/bash', [join(k8sDir, 'base/backup/backup.sh')], { env: cleanEnv() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('missing settings: PGHOST PGDATABASE PGUSER BACKUP_DIR');
  });

  it('refuse a destructive restore unless it is confirmed', () => {
    const r = run('/bin/bash', [join(scriptsDir, 'restore-from-cluster.sh')], { env: { ...cleanEnv(), CONFIRM_RESTORE: 'maybe' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('CONFIRM_RESTORE must be yes');
  });
});
