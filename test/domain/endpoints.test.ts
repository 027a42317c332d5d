import { describe, expect, it } from 'vitest';
import { deriveEndpoints, nodeAddress, preferredEndpoint, serviceFacts, sshCommand, type Endpoint } from '../../src/domain/endpoints.ts';
import type { LiveObject } from '../../src/domain/drift.ts';
import { LABEL_CLUSTER, LABEL_INSTANCE } from '../../src/domain/render.ts';

/** A Service as the API server returns it once allocated. */
const service = (type: string, over: { ports?: unknown[]; ingress?: unknown[]; clusterIP?: string; instance?: string | null } = {}): LiveObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web-1', namespace: 'kk-7-web', labels: { [LABEL_CLUSTER]: '7', ...(over.instance === null ? {} : { [LABEL_INSTANCE]: over.instance ?? '11' }) } },
  spec: {
    type,
    clusterIP: over.clusterIP ?? '10.96.4.20',
    ports: over.ports ?? [
      { name: 'tcp-22', port: 22, targetPort: 22, protocol: 'TCP', ...(type === 'ClusterIP' ? {} : { nodePort: 31022 }) },
      { name: 'udp-53', port: 53, targetPort: 53, protocol: 'UDP', ...(type === 'ClusterIP' ? {} : { nodePort: 31053 }) },
    ],
  },
  status: { loadBalancer: over.ingress ? { ingress: over.ingress } : {} },
});
const node = (addresses: { type: string; address: string }[]): LiveObject => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, status: { addresses } });

describe('endpoints derived from a Service', () => {
  it('ClusterIP: the cluster address and port of each exposed port', () => {
    expect(deriveEndpoints(serviceFacts(service('ClusterIP')), ['192.0.2.7'])).toEqual([
      { kind: 'cluster', address: '10.96.4.20', port: 22, protocol: 'TCP', target_port: 22 },
      { kind: 'cluster', address: '10.96.4.20', port: 53, protocol: 'UDP', target_port: 53 },
    ]);
  });

  it('NodePort: also each node the pods run on, with the node port', () => {
    expect(deriveEndpoints(serviceFacts(service('NodePort')), ['192.0.2.8', '192.0.2.7', '192.0.2.8'])).toEqual([
      { kind: 'cluster', address: '10.96.4.20', port: 22, protocol: 'TCP', target_port: 22 },
      { kind: 'node', address: '192.0.2.7', port: 31022, protocol: 'TCP', target_port: 22 },
      { kind: 'node', address: '192.0.2.8', port: 31022, protocol: 'TCP', target_port: 22 },
      { kind: 'cluster', address: '10.96.4.20', port: 53, protocol: 'UDP', target_port: 53 },
      { kind: 'node', address: '192.0.2.7', port: 31053, protocol: 'UDP', target_port: 53 },
      { kind: 'node', address: '192.0.2.8', port: 31053, protocol: 'UDP', target_port: 53 },
    ]);
    // No pod running anywhere: no node to name.
    expect(deriveEndpoints(serviceFacts(service('NodePort')), []).map((e) => e.kind)).toEqual(['cluster', 'cluster']);
  });

  it('LoadBalancer: each ingress address (IP or host name) with the service port, only once published', () => {
    const pending = deriveEndpoints(serviceFacts(service('LoadBalancer')), []);
    expect(pending.some((e) => e.kind === 'load-balancer')).toBe(false);
    const lb = deriveEndpoints(serviceFacts(service('LoadBalancer', { ingress: [{ ip: '203.0.113.5' }, { hostname: 'LB-1.Example.com' }] })), []);
    expect(lb.filter((e) => e.kind === 'load-balancer')).toEqual([
      { kind: 'load-balancer', address: '203.0.113.5', port: 22, protocol: 'TCP', target_port: 22 },
      { kind: 'load-balancer', address: 'lb-1.example.com', port: 22, protocol: 'TCP', target_port: 22 },
      { kind: 'load-balancer', address: '203.0.113.5', port: 53, protocol: 'UDP', target_port: 53 },
      { kind: 'load-balancer', address: 'lb-1.example.com', port: 53, protocol: 'UDP', target_port: 53 },
    ]);
  });

  it('follows what the Service says now, not what was asked: an edited port, a new node port', () => {
    const edited = service('NodePort', { ports: [{ port: 2222, targetPort: 22, protocol: 'TCP', nodePort: 30500 }] });
    expect(deriveEndpoints(serviceFacts(edited), ['192.0.2.7'])).toEqual([
      { kind: 'cluster', address: '10.96.4.20', port: 2222, protocol: 'TCP', target_port: 22 },
      { kind: 'node', address: '192.0.2.7', port: 30500, protocol: 'TCP', target_port: 22 },
    ]);
  });

  it('reads nothing it cannot trust: a headless Service, bad ports, odd addresses, node ports on a ClusterIP Service', () => {
    expect(deriveEndpoints(serviceFacts(service('ClusterIP', { clusterIP: 'None' })), [])).toEqual([]);
    const odd = service('LoadBalancer', {
      ports: [{ port: 0 }, { port: 70000 }, { port: 80, protocol: 'SCTP' }, { port: 443, nodePort: 'x' }],
      ingress: [{ ip: 'evil; rm -rf /' }, { hostname: '-bad-' }, { hostname: 'a'.repeat(300) }, {}, 'x'],
    });
    expect(deriveEndpoints(serviceFacts(odd), ['192.0.2.7'])).toEqual([{ kind: 'cluster', address: '10.96.4.20', port: 443, protocol: 'TCP', target_port: 443 }]);
    const stale = service('ClusterIP', { ports: [{ port: 22, targetPort: 22, protocol: 'TCP', nodePort: 31022 }] });
    expect(deriveEndpoints(serviceFacts(stale), ['192.0.2.7']).map((e) => e.kind)).toEqual(['cluster']);
    expect(deriveEndpoints(null, ['192.0.2.7'])).toEqual([]);
  });

  it('names the instance, or the cluster for a cluster-wide Service', () => {
    expect(serviceFacts(service('ClusterIP'))).toMatchObject({ namespace: 'kk-7-web', name: 'web-1', instanceId: 11, clusterId: 7 });
    expect(serviceFacts(service('ClusterIP', { instance: null }))).toMatchObject({ instanceId: null, clusterId: 7 });
  });
});

describe('a node address', () => {
  it('is its ExternalIP when it has one, else its InternalIP, else none', () => {
    expect(nodeAddress(node([{ type: 'InternalIP', address: '10.240.0.1' }, { type: 'ExternalIP', address: '198.51.100.4' }, { type: 'Hostname', address: 'n1' }]))).toBe('198.51.100.4');
    expect(nodeAddress(node([{ type: 'InternalIP', address: '10.240.0.1' }, { type: 'Hostname', address: 'n1' }]))).toBe('10.240.0.1');
    expect(nodeAddress(node([{ type: 'Hostname', address: 'n1' }]))).toBeNull();
    expect(nodeAddress({ metadata: { name: 'n' } })).toBeNull();
  });
});

describe('ssh', () => {
  const eps: Endpoint[] = [
    { kind: 'cluster', address: '10.96.4.20', port: 22, protocol: 'TCP', target_port: 22 },
    { kind: 'node', address: '192.0.2.7', port: 31022, protocol: 'TCP', target_port: 22 },
    { kind: 'load-balancer', address: '203.0.113.5', port: 22, protocol: 'TCP', target_port: 22 },
    { kind: 'load-balancer', address: '203.0.113.5', port: 80, protocol: 'TCP', target_port: 80 },
  ];
  it('prefers a load balancer, then a node port, then the cluster address', () => {
    expect(preferredEndpoint(eps, 22)?.kind).toBe('load-balancer');
    expect(preferredEndpoint(eps.filter((e) => e.kind !== 'load-balancer'), 22)?.kind).toBe('node');
    expect(preferredEndpoint(eps.filter((e) => e.kind === 'cluster'), 22)?.kind).toBe('cluster');
    expect(preferredEndpoint(eps, 2222)).toBeNull();
    expect(preferredEndpoint(eps, 22, 'UDP')).toBeNull();
  });
  it('builds the command line', () => {
    expect(sshCommand(eps[2]!, null)).toEqual(['ssh', '203.0.113.5']);
    expect(sshCommand(eps[1]!, 'ubuntu')).toEqual(['ssh', '-p', '31022', 'ubuntu@192.0.2.7']);
  });
});
