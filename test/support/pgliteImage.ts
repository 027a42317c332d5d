// An embedded database with every migration applied, as a dump that a test
// opens in about a second instead of running initdb and the migrations each
// time. Made once per set of migrations (by the global setup, or by the first
// test that needs it) and kept under .kubekloud/.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPglite, type Db } from '../../src/store/db.ts';
import { listMigrations, migrate } from '../../src/store/migrate.ts';
import { repoRoot } from './kube.ts';

const dir = join(repoRoot, '.kubekloud', 'pglite');

function imagePath(): string {
  const h = createHash('sha256');
  h.update(JSON.parse(readFileSync(join(repoRoot, 'node_modules', '@electric-sql', 'pglite', 'package.json'), 'utf8')).version);
  for (const m of listMigrations()) h.update(m.name).update(m.sql);
  return join(dir, `migrated-${h.digest('hex').slice(0, 16)}.tar`);
}

/** Makes the dump unless it is there; others are removed. Returns its path. */
export async function ensureMigratedImage(): Promise<string> {
  const path = imagePath();
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const db = await openPglite(null);
  await migrate(db);
  const blob = await db.image!();
  await db.close();
  // Written aside, then renamed: a reader never sees half a file.
  const tmp = `${path}.${process.pid}`;
  writeFileSync(tmp, Buffer.from(await blob.arrayBuffer()));
  renameSync(tmp, path);
  for (const f of readdirSync(dir)) if (join(dir, f) !== path && !f.includes('.tar.')) rmSync(join(dir, f), { force: true });
  return path;
}

/** A fresh in-memory embedded database with every migration applied. */
export async function openMigratedPglite(): Promise<Db> {
  const path = await ensureMigratedImage();
  const db = await openPglite(null, { image: new Blob([readFileSync(path)]) });
  await migrate(db); // nothing to do: it checks
  return db;
}
