// How an instance or a cluster is reached, as the API reports it (observed from
// Kubernetes): one line per endpoint, `kind address:port/protocol → port`.
import type { Instance } from './api.ts';

type Endpoint = Instance['endpoints'][number];

const KIND: Record<Endpoint['kind'], string> = { 'load-balancer': 'Load balancer', node: 'Node port', cluster: 'In cluster' };
const ORDER: Endpoint['kind'][] = ['load-balancer', 'node', 'cluster'];

/** `host:port`, with an IPv6 address in brackets. */
export const hostPort = (e: Endpoint) => `${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`;

export function Endpoints(props: { list: Endpoint[]; empty?: string }) {
  if (props.list.length === 0) return <span className="muted">{props.empty ?? 'none'}</span>;
  const sorted = [...props.list].sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind) || a.target_port - b.target_port);
  return (
    <ul className="endpoints">
      {sorted.map((e) => (
        <li key={`${e.kind} ${e.address} ${e.port} ${e.protocol}`} data-kind={e.kind}>
          <span className="muted small">{KIND[e.kind]}</span> <code>{hostPort(e)}</code>
          <span className="muted small">/{e.protocol}{e.port !== e.target_port ? ` → ${e.target_port}` : ''}</span>
        </li>
      ))}
    </ul>
  );
}
