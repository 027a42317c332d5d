// Endpoints: what the observer read of a row's Service and of the nodes its
// pods run on, derived (src/domain/endpoints.ts) and stored on the instance or
// cluster row. The row is locked first and the Service and node addresses are
// read only then, from the caller's latest knowledge, so of two observations of
// one row the later one is always written last.
import { deriveEndpoints, type ServiceFacts } from '../domain/endpoints.ts';
import type { Db } from '../store/db.ts';
import { lockClusterForEndpoints, lockInstanceForEndpoints, writeEndpoints } from '../store/endpoints.ts';

export type EndpointTarget = { table: 'instances' | 'clusters'; id: number };

/** What the observer knows now: the Services labelled for the target, and a node's address by name. */
export type EndpointKnowledge = { services: () => ServiceFacts[]; nodeAddress: (node: string) => string | null };

/**
 * Derives and stores the endpoints of an instance or of a cluster's own
 * Service (the one named after it, in its namespace: a stray Service labelled
 * the same way counts for nothing). Returns the nodes the derivation used,
 * or null when the row is gone.
 */
export async function recordEndpoints(db: Db, target: EndpointTarget, know: EndpointKnowledge): Promise<string[] | null> {
  return db.transaction(async (tx) => {
    const row = target.table === 'instances' ? await lockInstanceForEndpoints(tx, target.id) : await lockClusterForEndpoints(tx, target.id);
    if (!row) return null;
    const nodes = 'nodes' in row ? row.nodes : row.node ? [row.node] : [];
    const facts = know.services().find((s) => s.namespace === row.namespace && s.name === row.name) ?? null;
    const addresses = nodes.map(know.nodeAddress).filter((a): a is string => a !== null);
    await writeEndpoints(tx, target.table, target.id, deriveEndpoints(facts, addresses));
    return nodes;
  });
}
