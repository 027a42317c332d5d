// The backup CronJob's own script, run against a throwaway database on the
// test PostgreSQL server, writes a dump that restore-db.sh loads into an
// empty database with every row back; old dumps are pruned.
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { find, k8sDir, render, run, stageK8s, type Run } from './fixture.ts';

let source: TestDatabase;
let target: TestDatabase;
let backupDir: string;
let cronEnv: Record<string, string>;
let command: string[];

const query = async (url: string, sql: string) => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
};

const snapshot = async (url: string) => ({
  tenants: await query(url, 'SELECT * FROM tenants ORDER BY id'),
  instances: await query(url, 'SELECT * FROM instances ORDER BY id'),
  counts: await query(url, 'SELECT (SELECT count(*) FROM tenants) AS tenants, (SELECT count(*) FROM instances) AS instances'),
  view: await query(url, 'SELECT * FROM tenant_usage ORDER BY tenant_id'),
  nextTenantId: (await query(url, "SELECT last_value FROM tenants_id_seq"))[0],
});

beforeAll(async () => {
  [source, target] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  backupDir = mkdtempSync(join(tmpdir(), 'kubekloud-backups-'));
  await query(
    source.url,
    `CREATE TABLE tenants (id serial PRIMARY KEY, name text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now(), settings jsonb NOT NULL DEFAULT '{}');
     CREATE TABLE instances (id bigserial PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
       name text NOT NULL, cpu numeric(6,3) NOT NULL, memory_gib numeric(8,3) NOT NULL, blob bytea, tags text[]);
     CREATE INDEX instances_tenant ON instances (tenant_id);
     CREATE VIEW tenant_usage AS SELECT tenant_id, count(*) AS n, sum(cpu) AS cpu FROM instances GROUP BY tenant_id;
     INSERT INTO tenants (name, settings) SELECT 'tenant-' || g, jsonb_build_object('tier', g % 3, 'note', 'quote '' and "double"')
       FROM generate_series(1, 40) g;
     INSERT INTO instances (tenant_id, name, cpu, memory_gib, blob, tags)
       SELECT 1 + (g % 40), 'i-' || g, (g % 8) * 0.25 + 0.125, g * 0.5, decode(md5(g::text), 'hex'), ARRAY['a' || g, 'b']
       FROM generate_series(1, 1500) g;
     DELETE FROM tenants WHERE id = 7;`,
  );
  // The command and environment of the CronJob, as rendered by kustomize.
  const staged = stageK8s();
  try {
    const cj = find(render(staged, 'overlays/dev').objects, 'CronJob', 'kubekloud-db-backup');
    const c = cj.spec.jobTemplate.spec.template.spec.containers[0];
    command = c.command;
    cronEnv = Object.fromEntries(c.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
  } finally {
    staged.cleanup();
  }
});

afterAll(async () => {
  rmSync(backupDir, { recursive: true, force: true });
  await Promise.all([source?.drop(), target?.drop()]);
});

/** Run the CronJob's command, its script path mapped to the file the ConfigMap is generated from. */
function runBackup(env: Record<string, string>): Run {
  expect(command).toEqual(['/bin/bash', '/scripts/backup.sh']);
  const [shell, script] = command as [string, string];
  const local = script.replace('/scripts/', join(k8sDir, 'base/backup/'));
  return run(shell, [local], { env: { PATH: process.env.PATH, ...env } });
}

describe('database backup and restore', () => {
  let dump: string;

  it("the CronJob's command dumps the database into BACKUP_DIR and prunes dumps past the retention", async () => {
    const url = new URL(source.url);
    const old = join(backupDir, 'kubekloud-20200101T000000Z.dump');
    const recent = join(backupDir, 'kubekloud-20200102T000000Z.dump');
    writeFileSync(old, 'expired');
    writeFileSync(recent, 'recent');
    const day = 24 * 3600;
    const now = Date.now() / 1000;
    utimesSync(old, now - 10 * day, now - 10 * day);
    utimesSync(recent, now - 2 * day, now - 2 * day);

    const r = runBackup({
      ...cronEnv,
      PGHOST: url.hostname,
      PGPORT: url.port || '5432',
      PGUSER: decodeURIComponent(url.username),
      PGPASSWORD: decodeURIComponent(url.password),
      PGDATABASE: source.name,
      BACKUP_DIR: backupDir,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(cronEnv.BACKUP_RETENTION_DAYS).toBe('7');
    const files = readdirSync(backupDir).sort();
    const dumps = files.filter((f) => /^kubekloud-\d{8}T\d{6}Z\.dump$/.test(f));
    expect(files).not.toContain('kubekloud-20200101T000000Z.dump');
    expect(files).toContain('kubekloud-20200102T000000Z.dump');
    expect(files.some((f) => f.endsWith('.partial'))).toBe(false);
    dump = join(backupDir, dumps.at(-1)!);
    expect(dump).not.toBe(recent);
    const lastSuccess = Number(readFileSync(join(backupDir, 'last-success'), 'utf8'));
    expect(Math.abs(lastSuccess - now)).toBeLessThan(120);
  });

  it('restore-db.sh loads the dump into an empty database with every row back', async () => {
    const r = run('bash', [join(k8sDir, 'scripts/restore-db.sh')], {
      env: { PATH: process.env.PATH, BACKUP_FILE: dump, TARGET_DATABASE_URL: target.url },
    });
    expect(r.code, r.stderr).toBe(0);
    const [before, after] = await Promise.all([snapshot(source.url), snapshot(target.url)]);
    // Counts as numbers, whichever way this process's pg parses bigint.
    expect(after.counts.map((c: { tenants: unknown; instances: unknown }) => [Number(c.tenants), Number(c.instances)])).toEqual([[39, 1462]]);
    expect(after).toEqual(before);
    // Sequences continue where they were: the next tenant does not collide.
    await query(target.url, "INSERT INTO tenants (name) VALUES ('after-restore')");
  });

  it('restore-db.sh refuses a database that already has tables unless RESTORE_OVERWRITE=yes, which replaces them', async () => {
    const env = { PATH: process.env.PATH, BACKUP_FILE: dump, TARGET_DATABASE_URL: target.url };
    const refused = run('bash', [join(k8sDir, 'scripts/restore-db.sh')], { env });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('RESTORE_OVERWRITE=yes');
    expect(Number((await query(target.url, 'SELECT count(*) AS n FROM tenants'))[0].n)).toBe(40);

    const replaced = run('bash', [join(k8sDir, 'scripts/restore-db.sh')], { env: { ...env, RESTORE_OVERWRITE: 'yes' } });
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(await snapshot(target.url)).toEqual(await snapshot(source.url));
  });

  it('restore-db.sh refuses a file that is not a dump', () => {
    const bogus = join(backupDir, 'kubekloud-20200102T000000Z.dump');
    const r = run('bash', [join(k8sDir, 'scripts/restore-db.sh')], {
      env: { PATH: process.env.PATH, BACKUP_FILE: bogus, TARGET_DATABASE_URL: target.url },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('is not a pg_dump custom-format archive');
  });
});
