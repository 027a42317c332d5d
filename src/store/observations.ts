// What the watches saw, written back to instance rows, and the row reads and
// writes the status is recomputed with (src/service/status.ts: under the row
// lock, in one transaction). An observation is one statement of its own: it
// answers the row as it left it, so the caller opens a transaction only when
// the stored status no longer follows from it.
import type { InstanceStatus } from '../domain/lifecycle.ts';
import type { DiskObservation, Observation } from '../domain/observations.ts';
import type { Db, Queryable, Tx } from './db.ts';
import type { InstanceRow, InstanceWithCluster } from './instances.ts';

/** An instance row as an observation left it, with what its status derives from. */
export type ObservedRow = InstanceRow & { instance_type: 'vm' | 'container' };

/**
 * The row an observation statement answers, with its cluster's kind: the one
 * it updated (its newest version: a concurrent write is waited for and built
 * on), or else, when the observation equals what is stored, the row as the
 * statement found it, neither locked nor written.
 */
const AS_LEFT = `SELECT r.*, c.instance_type
     FROM (SELECT * FROM upd UNION ALL SELECT * FROM instances WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM upd)) r
     JOIN clusters c ON c.id = r.cluster_id`;

/** An instance with what its status derives from, locked until the transaction ends (null: the row is gone). */
export async function lockInstanceForStatus(tx: Tx, id: number): Promise<InstanceWithCluster | null> {
  const rows = await tx.query<InstanceWithCluster>(
    `SELECT i.*, c.owner_id, c.instance_type FROM instances i JOIN clusters c ON c.id = i.cluster_id
      WHERE i.id = $1 FOR UPDATE OF i`,
    [id],
  );
  return rows[0] ?? null;
}

export async function setInstanceStatus(tx: Tx, id: number, status: InstanceStatus): Promise<void> {
  await tx.query('UPDATE instances SET status = $2, updated_at = now() WHERE id = $1', [id, status]);
}

/** An observation's columns and what each becomes, from the parameters and the row itself. */
const OBSERVED: [column: string, value: string][] = [
  ['obs_present', '$2::boolean'],
  ['obs_phase', '$3::text'],
  ['obs_vm_status', '$5::text'],
  // A pod of an older restart generation than the row asks for is not ready.
  ['obs_ready', 'CASE WHEN $11::int IS NOT NULL AND $11::int < i.restart_count THEN false ELSE $4::boolean END'],
  // A VM observation carries no address (it is on the VMI): the recorded one stays.
  ['ip', 'CASE WHEN $10 THEN $6::text ELSE i.ip END'],
  ['node', 'CASE WHEN $10 THEN $7::text ELSE i.node END'],
  ['message', 'COALESCE($8::text, i.message)'],
  ['conditions', 'COALESCE($9::jsonb, i.conditions)'],
];
const WRITE_OBSERVATION = `WITH upd AS (
       UPDATE instances i SET ${OBSERVED.map(([c, v]) => `${c} = ${v}`).join(', ')}
        WHERE i.id = $1 AND (${OBSERVED.map(([c]) => `i.${c}`).join(', ')}) IS DISTINCT FROM (${OBSERVED.map(([, v]) => v).join(', ')})
        RETURNING i.*)
     ${AS_LEFT}`;

/**
 * Stores what Kubernetes says about an instance's pod or VM; an observation
 * equal to the stored one is not written again (and takes no row lock).
 * Returns the row as it left it, or null when the row is gone.
 */
export async function writeObservation(q: Queryable, instanceId: number, o: Observation): Promise<ObservedRow | null> {
  const rows = await q.query<ObservedRow>(
    WRITE_OBSERVATION,
    [
      instanceId,
      o.present,
      o.phase ?? null,
      o.ready,
      o.vmStatus ?? null,
      o.ip ?? null,
      o.node ?? null,
      o.message ?? null,
      o.conditions ? JSON.stringify(o.conditions) : null,
      o.ip !== undefined || o.node !== undefined,
      o.restartCount ?? null,
    ],
  );
  return rows[0] ?? null;
}

/**
 * A root disk's import onto its instance. `dataVolume`: the DataVolume seen;
 * one that is not the instance's root disk now (the one a restore from a
 * snapshot replaced) changes nothing. Null: no DataVolume at all was seen.
 */
export async function writeDiskObservation(q: Queryable, instanceId: number, o: DiskObservation, dataVolume: string | null): Promise<boolean> {
  const rows = await q.query(
    `UPDATE instances SET obs_disk_phase = $2, obs_disk_progress = $3, obs_disk_message = $4, updated_at = now()
      WHERE id = $1 AND (obs_disk_phase, obs_disk_progress, obs_disk_message) IS DISTINCT FROM ($2, $3::real, $4)
        AND ($5::text IS NULL OR COALESCE(root_disk, name || '-root') = $5)
      RETURNING id`,
    [instanceId, o.phase, o.progress, o.message, dataVolume],
  );
  return rows.length > 0;
}

/** Instances whose rows still hold a root disk observation, of this installation's VMs. */
export async function instancesWithDiskObserved(q: Db): Promise<number[]> {
  const rows = await q.query<{ id: number }>('SELECT id FROM instances WHERE obs_disk_phase IS NOT NULL');
  return rows.map((r) => r.id);
}

/**
 * What a VM's VirtualMachineInstance says: address, node and whether it is
 * paused, and the restart generation it was made for; written only when it
 * differs from what is stored. Returns the row as it left it (null: no such row).
 */
export async function writeVmiObservation(
  q: Queryable,
  instanceId: number,
  o: { ip: string | null; node: string | null; paused: boolean; restart: number | null },
): Promise<ObservedRow | null> {
  const rows = await q.query<ObservedRow>(
    `WITH upd AS (
       UPDATE instances i SET ip = $2, node = $3, obs_paused = $4, obs_vmi_restart = $5, updated_at = now()
        WHERE i.id = $1 AND (i.ip, i.node, i.obs_paused, i.obs_vmi_restart) IS DISTINCT FROM ($2::text, $3::text, $4::boolean, $5::int)
        RETURNING i.*)
     ${AS_LEFT}`,
    [instanceId, o.ip, o.node, o.paused, o.restart],
  );
  return rows[0] ?? null;
}

/** Instances of one kind whose rows say their pod or VM exists (to find those a relist no longer shows). */
export async function instancesObservedPresent(db: Db, kind: 'container' | 'vm'): Promise<number[]> {
  const rows = await db.query<{ id: number }>(
    'SELECT i.id FROM instances i JOIN clusters c ON c.id = i.cluster_id WHERE c.instance_type = $1 AND i.obs_present',
    [kind],
  );
  return rows.map((r) => r.id);
}
