// The observer's knowledge of how rows are reached: every labelled Service
// (from the Service watch), every node's address (from a watch on Nodes), and
// which node each instance's pod or VM runs on. When one of them changes, the
// endpoints of the rows it touches are derived again and stored
// (src/service/endpoints.ts); a change that touches nothing writes nothing.
import { hasNodePorts, nodeAddress, serviceFacts, type ServiceFacts } from '../domain/endpoints.ts';
import type { LiveObject } from '../domain/drift.ts';
import type { Kube } from '../kube/client.ts';
import { startListWatch, type ListWatchHandle, type RelistReason } from '../kube/listWatch.ts';
import { collectionPath } from '../kube/rest.ts';
import type { Db } from '../store/db.ts';
import { recordEndpoints, type EndpointTarget } from '../service/endpoints.ts';

const keyOf = (t: EndpointTarget) => `${t.table}/${t.id}`;
const targetOf = (f: ServiceFacts): EndpointTarget | null =>
  f.instanceId !== null ? { table: 'instances', id: f.instanceId } : f.clusterId !== null ? { table: 'clusters', id: f.clusterId } : null;

export type Endpoints = ReturnType<typeof createEndpoints>;

export function createEndpoints(d: { db: Db; leading: () => boolean }) {
  const services = new Map<string, ServiceFacts>(); // by namespace/name
  const byTarget = new Map<string, Set<string>>();
  const nodes = new Map<string, string | null>(); // node name -> address
  const nodesUsed = new Map<string, { target: EndpointTarget; nodes: string[] }>(); // targets with node ports: the nodes last used
  const instanceNode = new Map<number, string | null>();
  const instanceCluster = new Map<number, number>();
  let servicesSeen: Set<string> | null = null;
  let nodesSeen: Set<string> | null = null;

  const factsOf = (t: EndpointTarget) => [...(byTarget.get(keyOf(t)) ?? [])].map((k) => services.get(k)!).filter(Boolean);

  async function refresh(t: EndpointTarget): Promise<void> {
    if (!d.leading()) return;
    const used = await recordEndpoints(d.db, t, { services: () => factsOf(t), nodeAddress: (n) => nodes.get(n) ?? null });
    if (used !== null && factsOf(t).some(hasNodePorts)) nodesUsed.set(keyOf(t), { target: t, nodes: used });
    else nodesUsed.delete(keyOf(t));
  }

  function forgetService(key: string): EndpointTarget | null {
    const old = services.get(key);
    if (!old) return null;
    services.delete(key);
    const t = targetOf(old);
    const keys = t ? byTarget.get(keyOf(t)) : undefined;
    keys?.delete(key);
    if (t && keys?.size === 0) byTarget.delete(keyOf(t)); // nothing kept for rows that are gone
    return t;
  }

  return {
    /** A labelled Service seen (listed, added, modified) or deleted. */
    async service(obj: LiveObject, gone: boolean): Promise<void> {
      const facts = serviceFacts(obj);
      const key = `${facts.namespace}/${facts.name}`;
      servicesSeen?.add(key);
      const before = forgetService(key);
      const t = targetOf(facts);
      if (!gone && t) {
        services.set(key, facts);
        byTarget.set(keyOf(t), (byTarget.get(keyOf(t)) ?? new Set()).add(key));
      }
      if (before && (!t || keyOf(before) !== keyOf(t))) await refresh(before);
      if (t) await refresh(t);
    },
    servicesRelisting(): void {
      servicesSeen = new Set();
    },
    /** After a full list: a Service no longer listed is gone. */
    async servicesListed(): Promise<void> {
      const seen = servicesSeen;
      servicesSeen = null;
      if (!seen) return;
      for (const key of [...services.keys()]) {
        if (seen.has(key)) continue;
        const t = forgetService(key);
        if (t) await refresh(t);
      }
    },
    /** A node seen or deleted: the rows whose node-port endpoints use it are derived again when its address changed. */
    async node(obj: LiveObject, gone: boolean): Promise<void> {
      const name = obj.metadata?.name ?? '';
      nodesSeen?.add(name);
      const address = gone ? null : nodeAddress(obj);
      if (nodes.has(name) && nodes.get(name) === address) return;
      if (gone) nodes.delete(name);
      else nodes.set(name, address);
      for (const { target, nodes: used } of [...nodesUsed.values()]) if (used.includes(name)) await refresh(target);
    },
    nodesRelisting(): void {
      nodesSeen = new Set();
    },
    async nodesListed(): Promise<void> {
      const seen = nodesSeen;
      nodesSeen = null;
      if (!seen) return;
      for (const name of [...nodes.keys()]) if (!seen.has(name)) await this.node({ metadata: { name } }, true);
    },
    /**
     * An instance's pod or VM was observed on `node` (null: none), after that
     * was stored on its row: its endpoints, and its cluster's, follow when they
     * have node ports.
     */
    async instanceOn(instanceId: number, clusterId: number | null, node: string | null): Promise<void> {
      if (clusterId !== null) instanceCluster.set(instanceId, clusterId);
      else clusterId = instanceCluster.get(instanceId) ?? null;
      if (instanceNode.has(instanceId) && instanceNode.get(instanceId) === node) return;
      // Where an instance runs is kept while it runs somewhere: one that runs nowhere
      // (stopped, deleted) is forgotten, so memory follows what exists, not what ever did.
      if (node === null) {
        instanceNode.delete(instanceId);
        instanceCluster.delete(instanceId);
      } else instanceNode.set(instanceId, node);
      const own: EndpointTarget = { table: 'instances', id: instanceId };
      if (factsOf(own).some(hasNodePorts)) await refresh(own);
      const cluster: EndpointTarget | null = clusterId === null ? null : { table: 'clusters', id: clusterId };
      if (cluster && factsOf(cluster).some(hasNodePorts)) await refresh(cluster);
    },
    /** How many entries it keeps (services, their targets, nodes, where instances run): follows what exists. */
    held(): number {
      return services.size + byTarget.size + nodes.size + nodesUsed.size + instanceNode.size + instanceCluster.size;
    },
    reset(): void {
      services.clear();
      byTarget.clear();
      nodes.clear();
      nodesUsed.clear();
      instanceNode.clear();
      instanceCluster.clear();
    },
  };
}

/** Nodes (all of them: they are not KubeKloud's): their addresses, for node-port endpoints. */
export function watchNodes(
  d: { kube: Kube; onError: (err: Error, context: string) => void; onRelist?: (kind: string, reason: RelistReason) => void },
  endpoints: Endpoints,
): ListWatchHandle {
  return startListWatch(d.kube, {
    apiVersion: 'v1',
    kind: 'Node',
    path: collectionPath('v1', 'Node'),
    labelSelector: '',
    onError: d.onError,
    onRelist: (reason) => {
      endpoints.nodesRelisting();
      d.onRelist?.('Node', reason);
    },
    onListPage: async (items) => {
      for (const n of items) await endpoints.node(n, false);
    },
    onListDone: () => endpoints.nodesListed(),
    onEvent: (type, n) => endpoints.node(n, type === 'DELETED'),
  });
}
