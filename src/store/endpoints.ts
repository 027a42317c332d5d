// The endpoints the observer read for an instance or a cluster's own Service,
// and what deriving them needs: the row locked (so two observations of one
// row are written in the order they were made), where it lives, and the nodes
// its pods run on. Used by src/service/endpoints.ts, in one transaction.
import type { Endpoint } from '../domain/endpoints.ts';
import type { Tx } from './db.ts';

/** An instance's Service name and namespace and its node, locked until the transaction ends; null when the row is gone. */
export async function lockInstanceForEndpoints(tx: Tx, id: number): Promise<{ namespace: string; name: string; node: string | null; endpoints: Endpoint[] } | null> {
  const rows = await tx.query<{ namespace: string; name: string; node: string | null; endpoints: Endpoint[] }>(
    `SELECT c.namespace, i.name, i.node, i.endpoints FROM instances i JOIN clusters c ON c.id = i.cluster_id
      WHERE i.id = $1 FOR UPDATE OF i`,
    [id],
  );
  return rows[0] ?? null;
}

/** A cluster's Service name and namespace and the nodes its instances run on, the cluster row locked; null when it is gone. */
export async function lockClusterForEndpoints(tx: Tx, id: number): Promise<{ namespace: string; name: string; nodes: string[]; endpoints: Endpoint[] } | null> {
  const rows = await tx.query<{ namespace: string; name: string; endpoints: Endpoint[] }>(
    'SELECT namespace, name, endpoints FROM clusters WHERE id = $1 FOR NO KEY UPDATE',
    [id],
  );
  if (!rows[0]) return null;
  const nodes = await tx.query<{ node: string }>(
    "SELECT DISTINCT node FROM instances WHERE cluster_id = $1 AND node IS NOT NULL AND desired <> 'deleted' ORDER BY node",
    [id],
  );
  return { ...rows[0], nodes: nodes.map((n) => n.node) };
}

/** Stores an instance's or a cluster's endpoints when they changed; returns whether they did. */
export async function writeEndpoints(tx: Tx, table: 'instances' | 'clusters', id: number, endpoints: Endpoint[]): Promise<boolean> {
  const rows = await tx.query(
    `UPDATE ${table === 'instances' ? 'instances' : 'clusters'} SET endpoints = $2::jsonb, updated_at = now()
      WHERE id = $1 AND endpoints IS DISTINCT FROM $2::jsonb RETURNING id`,
    [id, JSON.stringify(endpoints)],
  );
  return rows.length > 0;
}
