// What the watches saw, written back to instance rows, and the row reads and
// writes the status is recomputed with (src/service/status.ts: under the row
// lock, in one transaction). Observations are one statement of their own, for
// one instance or many: it answers the rows as it left them, so the caller
// opens a transaction only when a stored status no longer follows from its row.
import type { InstanceStatus } from '../domain/lifecycle.ts';
import type { DiskObservation, Observation } from '../domain/observations.ts';
import type { Db, Queryable, Tx } from './db.ts';
import { HISTORY_COLUMNS, historyValues, type HistoryEntry } from './history.ts';
import type { InstanceRow, InstanceWithCluster } from './instances.ts';

/**
 * An instance row as an observation left it, with what its status derives
 * from, and its version (`xmin`, the transaction that wrote it last): a status
 * derived from it may be stored without the lock only while the row is still
 * that version (`setStatusesIfUnchanged`).
 */
export type ObservedRow = InstanceRow & { instance_type: 'vm' | 'container'; row_version: string };

/** The rows an observation statement answers: each one it updated, or else as it locked it unchanged, with its cluster's kind. */
const AS_LEFT = `SELECT r.*, c.instance_type
     FROM (SELECT * FROM upd UNION ALL SELECT * FROM cur WHERE cur.id NOT IN (SELECT id FROM upd)) r
     JOIN clusters c ON c.id = r.cluster_id`;

/** The last of each instance's entries (a later observation of one instance supersedes an earlier one). */
function lastPerId<T extends { id: number }>(items: T[]): T[] {
  return [...new Map(items.map((x) => [x.id, x])).values()];
}

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

/** A status derived from a row as a statement left it, to be stored with its history entry. */
export type StatusUpdate = { row: Pick<ObservedRow, 'id' | 'row_version'>; status: InstanceStatus; entry: HistoryEntry };

/**
 * Stores each status, derived from its row as an observation left it, and its
 * history entry, all in one statement without a transaction of its own: each
 * only if its row is still that version (nothing wrote it since). The rows are
 * locked in id order, as the observation statements lock them. Returns the
 * ids stored; a row missing from them moved on, and its status must be derived
 * again under the row lock.
 */
export async function setStatusesIfUnchanged(q: Queryable, updates: StatusUpdate[]): Promise<Set<number>> {
  if (updates.length === 0) return new Set();
  const col = (k: number) => updates.map((u) => historyValues(u.entry)[k]);
  const rows = await q.query<{ id: number }>(
    `WITH n AS (
       SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[], $10::text[])
         AS t(id, row_version, status, cluster_id, kind, message, actor, instance_id, instance_name, detail)),
     -- Locked in id order first, as the observation statements lock them: two batches never wait on each other in a cycle.
     lk AS (SELECT i.id FROM instances i JOIN n ON n.id = i.id AND i.xmin = n.row_version::xid ORDER BY i.id FOR UPDATE OF i),
     upd AS (
       UPDATE instances i SET status = n.status, updated_at = now() FROM n
        WHERE i.id = n.id AND i.id IN (SELECT id FROM lk) AND i.xmin = n.row_version::xid RETURNING i.id),
     ins AS (
       INSERT INTO cluster_history (${HISTORY_COLUMNS})
       SELECT n.cluster_id, n.kind, n.message, n.actor, n.instance_id, n.instance_name, n.detail::jsonb FROM n JOIN upd ON upd.id = n.id ORDER BY n.id)
     SELECT id FROM upd`,
    [updates.map((u) => u.row.id), updates.map((u) => u.row.row_version), updates.map((u) => u.status), ...[0, 1, 2, 3, 4, 5, 6].map(col)],
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * Stores what Kubernetes says about instances' pods or VMs, all in one
 * statement, under the rows' locks (taken in id order); an observation equal to
 * the stored one is not written again, and of several of one instance the last
 * counts. Returns each row as it left it (its newest version: one committed
 * while this waited for the lock included); a row that is gone is missing.
 */
export async function writeObservations(q: Queryable, observations: { id: number; o: Observation }[]): Promise<ObservedRow[]> {
  const items = lastPerId(observations);
  if (items.length === 0) return [];
  const col = <T>(f: (o: Observation) => T) => items.map((x) => f(x.o));
  return q.query<ObservedRow>(
    `WITH n AS (
       SELECT * FROM unnest($1::int[], $2::boolean[], $3::text[], $4::boolean[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::boolean[], $11::int[])
         AS t(id, present, phase, ready, vm_status, ip, node, message, conditions, has_address, restart_count)),
     cur AS (SELECT *, xmin::text AS row_version FROM instances WHERE id IN (SELECT id FROM n) ORDER BY id FOR UPDATE),
     next AS (
       SELECT i.id, n.present, n.phase, n.vm_status,
              CASE WHEN n.restart_count IS NOT NULL AND n.restart_count < i.restart_count THEN false ELSE n.ready END AS ready,
              CASE WHEN n.has_address THEN n.ip ELSE i.ip END AS ip, CASE WHEN n.has_address THEN n.node ELSE i.node END AS node,
              COALESCE(n.message, i.message) AS message, COALESCE(n.conditions::jsonb, i.conditions) AS conditions
         FROM cur i JOIN n ON n.id = i.id),
     upd AS (
       UPDATE instances i SET obs_present = n.present, obs_phase = n.phase, obs_vm_status = n.vm_status, obs_ready = n.ready,
              ip = n.ip, node = n.node, message = n.message, conditions = n.conditions
         FROM next n
        WHERE i.id = n.id AND (i.obs_present, i.obs_phase, i.obs_vm_status, i.obs_ready, i.ip, i.node, i.message, i.conditions)
              IS DISTINCT FROM (n.present, n.phase, n.vm_status, n.ready, n.ip, n.node, n.message, n.conditions)
        RETURNING i.*, i.xmin::text AS row_version)
     ${AS_LEFT}`,
    [
      items.map((x) => x.id),
      col((o) => o.present),
      col((o) => o.phase ?? null),
      col((o) => o.ready),
      col((o) => o.vmStatus ?? null),
      col((o) => o.ip ?? null),
      col((o) => o.node ?? null),
      col((o) => o.message ?? null),
      col((o) => (o.conditions ? JSON.stringify(o.conditions) : null)),
      // VM observations carry no address (it is on the VMI): keep the one recorded.
      col((o) => o.ip !== undefined || o.node !== undefined),
      col((o) => o.restartCount ?? null),
    ],
  );
}

/** One observation, as writeObservations stores many: the row as it left it, or null when it is gone. */
export async function writeObservation(q: Queryable, instanceId: number, o: Observation): Promise<ObservedRow | null> {
  return (await writeObservations(q, [{ id: instanceId, o }]))[0] ?? null;
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

/** What a VM's VirtualMachineInstance says: address, node, whether it is paused, and the restart generation it was made for. */
export type VmiObservation = { ip: string | null; node: string | null; paused: boolean; restart: number | null };

/**
 * What VMs' VirtualMachineInstances say, all in one statement, under the rows'
 * locks (taken in id order); of several of one instance the last counts.
 * Returns each row as it left it; a row that is gone is missing.
 */
export async function writeVmiObservations(q: Queryable, observations: { id: number; o: VmiObservation }[]): Promise<ObservedRow[]> {
  const items = lastPerId(observations);
  if (items.length === 0) return [];
  return q.query<ObservedRow>(
    `WITH n AS (SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::boolean[], $5::int[]) AS t(id, ip, node, paused, restart)),
     cur AS (SELECT *, xmin::text AS row_version FROM instances WHERE id IN (SELECT id FROM n) ORDER BY id FOR UPDATE),
     upd AS (
       -- Only rows cur has locked (in id order): joined to n alone, the update would lock them in its own order.
       UPDATE instances i SET ip = n.ip, node = n.node, obs_paused = n.paused, obs_vmi_restart = n.restart, updated_at = now()
         FROM n JOIN cur ON cur.id = n.id
        WHERE i.id = n.id AND (i.ip, i.node, i.obs_paused, i.obs_vmi_restart) IS DISTINCT FROM (n.ip, n.node, n.paused, n.restart)
        RETURNING i.*, i.xmin::text AS row_version)
     ${AS_LEFT}`,
    [items.map((x) => x.id), items.map((x) => x.o.ip), items.map((x) => x.o.node), items.map((x) => x.o.paused), items.map((x) => x.o.restart)],
  );
}

/** Instances of one kind whose rows say their pod or VM exists (to find those a relist no longer shows). */
export async function instancesObservedPresent(db: Db, kind: 'container' | 'vm'): Promise<number[]> {
  const rows = await db.query<{ id: number }>(
    'SELECT i.id FROM instances i JOIN clusters c ON c.id = i.cluster_id WHERE c.instance_type = $1 AND i.obs_present',
    [kind],
  );
  return rows.map((r) => r.id);
}
