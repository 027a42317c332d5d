// --wait: follow a cluster until every instance is what it was last asked to
// be, with one live progress line on a terminal and plain lines otherwise.
import type { ClusterWithInstances } from '../contract/schemas.ts';
import { ApiError, type KubeKloudClient } from './client.ts';

export class WaitFailed extends Error {}

export class Progress {
  private last = '';
  private shown = false;
  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}
  update(line: string): void {
    if (line === this.last) return;
    this.last = line;
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${line}`);
      this.shown = true;
    } else this.out.write(`${line}\n`);
  }
  done(): void {
    if (this.shown) this.out.write('\n');
    this.shown = false;
  }
}

/** Instances at their desired status, out of the cluster's count; the status most asked for. */
export function tally(c: ClusterWithInstances): { ready: number; total: number; target: string; failed: string[] } {
  const counts = new Map<string, number>();
  for (const i of c.instances) counts.set(i.desired_status, (counts.get(i.desired_status) ?? 0) + 1);
  const target = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'running';
  const ready = c.instances.filter((i) => i.status === i.desired_status).length;
  const failed = c.instances.filter((i) => i.status === 'failed').map((i) => `${i.instance_name}${i.message ? ` (${i.message})` : ''}`);
  return { ready, total: Math.max(c.instance_count, c.instances.length), target, failed };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll the cluster until converged; throws WaitFailed on timeout or a failed instance. */
export async function waitForCluster(client: KubeKloudClient, id: number, timeoutSeconds: number, progress = new Progress()): Promise<ClusterWithInstances> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  try {
    for (;;) {
      const c = await client.getCluster(id);
      const t = tally(c);
      progress.update(`cluster ${c.name}: ${c.status}, instances ${t.target} ${t.ready}/${t.total}`);
      if (t.failed.length) throw new WaitFailed(`cluster ${c.name}: instance(s) failed: ${t.failed.join(', ')}`);
      if (t.ready === t.total && c.instances.length === c.instance_count && c.status !== 'pending' && c.status !== 'provisioning') return c;
      if (Date.now() > deadline) throw new WaitFailed(`timed out after ${timeoutSeconds} s: cluster ${c.name} has instances ${t.target} ${t.ready}/${t.total}`);
      await sleep(1000);
    }
  } finally {
    progress.done();
  }
}

/** Poll until the cluster is gone (404). */
export async function waitForClusterGone(client: KubeKloudClient, id: number, timeoutSeconds: number, progress = new Progress()): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  try {
    for (;;) {
      let c: ClusterWithInstances;
      try {
        c = await client.getCluster(id);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) {
          progress.update(`cluster ${id}: deleted`);
          return;
        }
        throw e;
      }
      progress.update(`cluster ${c.name}: ${c.status}, instances left ${c.instances.length}`);
      if (Date.now() > deadline) throw new WaitFailed(`timed out after ${timeoutSeconds} s: cluster ${c.name} is still ${c.status}`);
      await sleep(1000);
    }
  } finally {
    progress.done();
  }
}
