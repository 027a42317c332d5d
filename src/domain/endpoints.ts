// Endpoints: how an instance (or a cluster's shared Service) is reached, read
// from what Kubernetes reports -- the Service's ClusterIP and ports, the node
// ports it was given, the addresses its load balancer published, and the
// addresses of the nodes its pods run on. Nothing is guessed: a Service
// without a ClusterIP, a node port or an ingress address gives no endpoint of
// that kind. Pure; everything read here comes from objects others can write,
// so it is checked and capped.
import type { LiveObject } from './drift.ts';
import { LABEL_CLUSTER, LABEL_INSTANCE } from './render.ts';

export const ENDPOINT_KINDS = ['cluster', 'node', 'load-balancer'] as const;
export type EndpointKind = (typeof ENDPOINT_KINDS)[number];

/** One way in: `address:port` over `protocol`, leading to the instance's exposed `target_port`. */
export type Endpoint = { kind: EndpointKind; address: string; port: number; protocol: 'TCP' | 'UDP'; target_port: number };

/** What one Service says about reaching its pods, as read from it. */
export type ServiceFacts = {
  namespace: string;
  name: string;
  /** The instance it is for, or null for a cluster's shared Service. */
  instanceId: number | null;
  clusterId: number | null;
  clusterIP: string | null;
  ports: { port: number; targetPort: number; protocol: 'TCP' | 'UDP'; nodePort: number | null }[];
  /** Load-balancer ingress addresses (IP or host name). */
  ingress: string[];
};

const IP = /^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-fA-F:]{2,39}(?:%[0-9A-Za-z]{1,15})?)$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** At most this many ports and ingress addresses are read from one Service (KubeKloud renders at most 16 ports). */
const MAX_PORTS = 16;
const MAX_INGRESS = 4;

const isPort = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
const labelId = (obj: LiveObject, label: string): number | null => {
  const raw = obj.metadata?.labels?.[label];
  const n = Number(raw);
  return raw && Number.isSafeInteger(n) && n > 0 ? n : null;
};

/** Reads a Service: its ClusterIP, each port with its node port, and its load-balancer ingress. */
export function serviceFacts(svc: LiveObject): ServiceFacts {
  const spec = (svc.spec ?? {}) as { clusterIP?: unknown; ports?: unknown; type?: unknown };
  const status = (svc.status ?? {}) as { loadBalancer?: { ingress?: unknown } };
  const clusterIP = typeof spec.clusterIP === 'string' && IP.test(spec.clusterIP) ? spec.clusterIP : null;
  const rawPorts = Array.isArray(spec.ports) ? (spec.ports as Record<string, unknown>[]).slice(0, MAX_PORTS) : [];
  const ports = rawPorts.flatMap((p) => {
    if (!isPort(p.port)) return [];
    const protocol = p.protocol === 'UDP' ? 'UDP' : p.protocol === 'TCP' || p.protocol === undefined ? 'TCP' : null;
    if (!protocol) return [];
    // A named or absent targetPort: KubeKloud renders the number, and the port itself is the default.
    const targetPort = isPort(p.targetPort) ? p.targetPort : p.port;
    return [{ port: p.port, targetPort, protocol, nodePort: isPort(p.nodePort) ? p.nodePort : null } as const];
  });
  const rawIngress = Array.isArray(status.loadBalancer?.ingress) ? (status.loadBalancer.ingress as Record<string, unknown>[]) : [];
  const ingress = rawIngress
    .map((i) => (typeof i.ip === 'string' && IP.test(i.ip) ? i.ip : typeof i.hostname === 'string' && HOSTNAME.test(i.hostname) ? i.hostname.toLowerCase() : null))
    .filter((a): a is string => a !== null)
    .slice(0, MAX_INGRESS);
  // Node ports are only reachable on a NodePort or LoadBalancer Service; a ClusterIP Service keeps none.
  const type = spec.type;
  const withNodePorts = type === 'NodePort' || type === 'LoadBalancer';
  return {
    namespace: String(svc.metadata?.namespace ?? ''),
    name: String(svc.metadata?.name ?? ''),
    instanceId: labelId(svc, LABEL_INSTANCE),
    clusterId: labelId(svc, LABEL_CLUSTER),
    clusterIP,
    ports: withNodePorts ? ports : ports.map((p) => ({ ...p, nodePort: null })),
    ingress: type === 'LoadBalancer' ? ingress : [],
  };
}

/**
 * The address a node is reached at from outside the cluster: its ExternalIP
 * when it reports one, else its InternalIP (a node port answers on both; on
 * clusters without external node addresses the internal one is all there is).
 * Null when it reports neither.
 */
export function nodeAddress(node: LiveObject): string | null {
  const addresses = ((node.status as { addresses?: unknown } | undefined)?.addresses ?? []) as { type?: unknown; address?: unknown }[];
  if (!Array.isArray(addresses)) return null;
  const of = (type: string) => addresses.find((a) => a?.type === type && typeof a.address === 'string' && IP.test(a.address))?.address as string | undefined;
  return of('ExternalIP') ?? of('InternalIP') ?? null;
}

/**
 * Every endpoint of a Service, port by port: its ClusterIP, each node's address
 * with the node port, each load-balancer ingress address. `nodeAddresses` are
 * the addresses of the nodes its pods run on (none while none runs).
 */
export function deriveEndpoints(facts: ServiceFacts | null, nodeAddresses: string[]): Endpoint[] {
  if (!facts) return [];
  const nodes = [...new Set(nodeAddresses)].sort();
  const out: Endpoint[] = [];
  for (const p of facts.ports) {
    const base = { protocol: p.protocol, target_port: p.targetPort };
    if (facts.clusterIP) out.push({ kind: 'cluster', address: facts.clusterIP, port: p.port, ...base });
    if (p.nodePort !== null) for (const address of nodes) out.push({ kind: 'node', address, port: p.nodePort, ...base });
    for (const address of facts.ingress) out.push({ kind: 'load-balancer', address, port: p.port, ...base });
  }
  return out;
}

/** Whether any endpoint of these Services depends on where the pods run. */
export const hasNodePorts = (facts: ServiceFacts): boolean => facts.ports.some((p) => p.nodePort !== null);

const PREFERENCE: EndpointKind[] = ['load-balancer', 'node', 'cluster'];

/**
 * The endpoint to reach an exposed port by: a load balancer first (reachable
 * from outside and stable), then a node port, then the cluster-internal
 * address. Null when the port has no endpoint.
 */
export function preferredEndpoint(endpoints: Endpoint[], targetPort: number, protocol: 'TCP' | 'UDP' = 'TCP'): Endpoint | null {
  for (const kind of PREFERENCE) {
    const e = endpoints.find((x) => x.kind === kind && x.target_port === targetPort && x.protocol === protocol);
    if (e) return e;
  }
  return null;
}

/** The ssh command line (argv) for an endpoint; an IPv6 address needs no brackets with -p. */
export function sshCommand(e: Endpoint, user: string | null): string[] {
  const host = user ? `${user}@${e.address}` : e.address;
  return e.port === 22 ? ['ssh', host] : ['ssh', '-p', String(e.port), host];
}
