// The observer's endpoint knowledge (src/reconciler/endpoints.ts) keeps what
// exists, not everything that ever did: Services deleted and instances that
// run nowhere any more leave nothing behind. Not leading, it writes no rows,
// so no database is needed to see what it holds.
import { describe, expect, it } from 'vitest';
import { LABEL_CLUSTER, LABEL_INSTANCE } from '../../src/domain/render.ts';
import { createEndpoints } from '../../src/reconciler/endpoints.ts';
import type { Db } from '../../src/store/db.ts';

const service = (n: number) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: `ns-${n}`, name: `svc-${n}`, labels: { [LABEL_CLUSTER]: String(n), [LABEL_INSTANCE]: String(n) } },
  spec: { clusterIP: '10.0.0.1', type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
});

describe('what the endpoint knowledge holds', () => {
  it('comes back to the nodes alone once 1,000 Services and instances came and went', async () => {
    const e = createEndpoints({ db: {} as Db, leading: () => false });
    await e.node({ metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.1' }] } }, false);
    const base = e.held();
    for (let n = 1; n <= 1000; n++) {
      await e.service(service(n), false);
      await e.instanceOn(n, n, 'n1');
    }
    expect(e.held()).toBeGreaterThan(base + 3000);
    for (let n = 1; n <= 1000; n++) {
      await e.instanceOn(n, null, null);
      await e.service(service(n), true);
    }
    expect(e.held()).toBe(base);
  });
});
