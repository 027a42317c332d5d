// What every fault scenario shares: servers tuned for load (fast claim lease,
// rate limits raised), tenants for the load, the measured figures written to
// .kubekloud/faults/results/ (for docs/RELIABILITY.md) and printed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stateDir } from '../../../testenv/harness/config.ts';
import type { ApiClient } from '../../support/api.ts';
import { createTenant } from '../../support/server.ts';
import { Tenant } from './load.ts';

export const LOAD_ENV = {
  KUBEKLOUD_CLAIM_LEASE_SECONDS: '4',
  KUBEKLOUD_RATE_LIMIT_RPS: '2000',
  KUBEKLOUD_RATE_LIMIT_BURST: '4000',
  KUBEKLOUD_WRITE_RATE_LIMIT_RPS: '1000',
  KUBEKLOUD_WRITE_RATE_LIMIT_BURST: '2000',
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `count` tenants with room for the whole load; each gets a client on every server. */
export async function tenants(admins: ApiClient[], count: number): Promise<Tenant[]> {
  const out: Tenant[] = [];
  for (let i = 0; i < count; i++) {
    const { user, client } = await createTenant(admins[0]!, { cpu: 200, memory: 400, instances: 1000 });
    out.push(new Tenant(user.username, [client, ...admins.slice(1).map((a) => a.withToken(client.token!))]));
  }
  return out;
}

/** Delete every cluster the load left, so the next scenario starts on an empty plane. */
export async function clearTenants(ts: Tenant[]): Promise<void> {
  for (const t of ts) {
    const list = await t.clients[0]!.get('/api/v1/clusters/?limit=500').catch(() => null);
    for (const c of (list?.body ?? []) as { id: number }[]) await t.clients[0]!.delete(`/api/v1/clusters/${c.id}`).catch(() => {});
  }
}

export function record(name: string, figures: unknown): void {
  const dir = join(stateDir, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`);
  process.stdout.write(`\n[fault figures] ${name}: ${JSON.stringify(figures)}\n`);
}
