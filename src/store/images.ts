// The image catalogue (table images): admins create, update and retire
// entries; clusters resolve a name to its source when they are created.
import type { Queryable } from './db.ts';

export type ImageKind = 'vm' | 'container';

export type ImageRow = {
  id: number;
  name: string;
  kind: ImageKind;
  source: string;
  default_disk_gb: number | null;
  min_cpu_milli: number;
  min_memory_mib: number;
  os: string | null;
  retired_at: Date | null;
  created_at: Date;
  updated_at: Date;
};

export type NewImage = Pick<ImageRow, 'name' | 'kind' | 'source' | 'default_disk_gb' | 'min_cpu_milli' | 'min_memory_mib' | 'os'>;

export async function insertImage(q: Queryable, i: NewImage): Promise<ImageRow> {
  const rows = await q.query<ImageRow>(
    `INSERT INTO images (name, kind, source, default_disk_gb, min_cpu_milli, min_memory_mib, os)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    [i.name, i.kind, i.source, i.default_disk_gb, i.min_cpu_milli, i.min_memory_mib, i.os],
  );
  return rows[0]!;
}

export async function findImageByName(q: Queryable, name: string, opts: { lock?: boolean } = {}): Promise<ImageRow | null> {
  const rows = await q.query<ImageRow>(`SELECT * FROM images WHERE name = $1${opts.lock ? ' FOR NO KEY UPDATE' : ''}`, [name]);
  return rows[0] ?? null;
}

/** In name order; retired entries only when asked for. */
export async function listImages(q: Queryable, opts: { includeRetired: boolean }): Promise<ImageRow[]> {
  return q.query<ImageRow>(`SELECT * FROM images${opts.includeRetired ? '' : ' WHERE retired_at IS NULL'} ORDER BY name`);
}

/** Names of the entries a new cluster of this kind may name (for the message that refuses another). */
export async function activeImageNames(q: Queryable, kind: ImageKind): Promise<string[]> {
  const rows = await q.query<{ name: string }>('SELECT name FROM images WHERE kind = $1 AND retired_at IS NULL ORDER BY name', [kind]);
  return rows.map((r) => r.name);
}

export type ImagePatch = Partial<Pick<ImageRow, 'source' | 'default_disk_gb' | 'min_cpu_milli' | 'min_memory_mib' | 'os'>> & {
  /** true: retire now (kept if already retired); false: offer it again. */
  retired?: boolean;
};

/** Changes the given fields; a field given as null (default_disk_gb, os) is cleared. */
export async function updateImage(q: Queryable, name: string, p: ImagePatch): Promise<ImageRow | null> {
  const has = (k: keyof ImagePatch) => (k in p && p[k] !== undefined ? 1 : 0);
  const rows = await q.query<ImageRow>(
    `UPDATE images SET
       source = CASE WHEN $2 = 1 THEN $3 ELSE source END,
       default_disk_gb = CASE WHEN $4 = 1 THEN $5::int ELSE default_disk_gb END,
       min_cpu_milli = CASE WHEN $6 = 1 THEN $7::int ELSE min_cpu_milli END,
       min_memory_mib = CASE WHEN $8 = 1 THEN $9::int ELSE min_memory_mib END,
       os = CASE WHEN $10 = 1 THEN $11 ELSE os END,
       retired_at = CASE WHEN $12 = 1 THEN (CASE WHEN $13::boolean THEN COALESCE(retired_at, now()) ELSE NULL END) ELSE retired_at END,
       updated_at = now()
     WHERE name = $1 RETURNING *`,
    [
      name,
      has('source'), p.source ?? null,
      has('default_disk_gb'), p.default_disk_gb ?? null,
      has('min_cpu_milli'), p.min_cpu_milli ?? null,
      has('min_memory_mib'), p.min_memory_mib ?? null,
      has('os'), p.os ?? null,
      has('retired'), p.retired ?? null,
    ],
  );
  return rows[0] ?? null;
}
