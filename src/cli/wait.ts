// --wait: follow a cluster until it has converged, with one live progress line
// on a terminal and plain lines otherwise. "Converged" is the server's own
// judgement (src/domain/convergence.ts, pure code), so --wait and ?wait= agree.
import type { ClusterWithInstances } from '../contract/schemas.ts';
import { clusterConvergence, type ClusterState, type ConvergenceTarget } from '../domain/convergence.ts';
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
  // Judged on the precise state (phase): `status` shows a stop in progress as already stopped.
  const ready = c.instances.filter((i) => i.phase === i.desired_status).length;
  const failed = c.instances.filter((i) => i.phase === 'failed').map((i) => `${i.instance_name}${i.message ? ` (${i.message})` : ''}`);
  return { ready, total: Math.max(c.instance_count, c.instances.length), target, failed };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The cluster as the convergence judgement needs it (its view says 'deleting' exactly while it is being deleted). */
export function clusterState(c: ClusterWithInstances): ClusterState {
  return {
    state: c.status === 'deleting' ? 'deleting' : 'active',
    instance_count: c.instance_count,
    instances: c.instances.map((i) => ({ desired: i.desired_status, status: i.phase })),
    rollout: c.rollout?.state ?? null,
  };
}

/** The cluster, or null once it is gone (404). */
async function current(client: KubeKloudClient, id: number): Promise<ClusterWithInstances | null> {
  try {
    return await client.getCluster(id);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/** What the progress line, a timeout and a failure say about the cluster. */
function describe(c: ClusterWithInstances | null, id: number, target: ConvergenceTarget) {
  if (c === null) return { now: `cluster ${id}: deleted`, still: `cluster ${id} is gone`, failed: `cluster ${id} no longer exists` };
  if (target === 'gone') {
    return { now: `cluster ${c.name}: ${c.status}, instances left ${c.instances.length}`, still: `cluster ${c.name} is still ${c.status}`, failed: '' };
  }
  const t = tally(c);
  return {
    now: `cluster ${c.name}: ${c.status}, instances ${t.target} ${t.ready}/${t.total}`,
    still: `cluster ${c.name} has instances ${t.target} ${t.ready}/${t.total}`,
    failed: t.failed.length ? `cluster ${c.name}: instance(s) failed: ${t.failed.join(', ')}` : `cluster ${c.name} is being deleted`,
  };
}

/** Poll once a second (a 429 waits its Retry-After) until the cluster has converged on `target` (null: it is gone); WaitFailed on timeout or when it cannot converge. */
async function follow(client: KubeKloudClient, id: number, target: ConvergenceTarget, timeoutSeconds: number, progress: Progress): Promise<ClusterWithInstances | null> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  try {
    for (;;) {
      let c: ClusterWithInstances | null;
      try {
        c = await current(client, id);
      } catch (e) {
        // Past a rate limit: look again when the server says, if that is before the deadline.
        if (!(e instanceof ApiError) || e.status !== 429 || Date.now() + (e.retryAfterSeconds ?? 1) * 1000 > deadline) throw e;
        progress.update(`rate limited; looking again in ${e.retryAfterSeconds ?? 1} s`);
        await sleep((e.retryAfterSeconds ?? 1) * 1000);
        continue;
      }
      const verdict = clusterConvergence(c && clusterState(c), target);
      const say = describe(c, id, target);
      progress.update(say.now);
      if (verdict === 'converged') return c;
      if (verdict === 'failed') throw new WaitFailed(say.failed);
      if (Date.now() > deadline) throw new WaitFailed(`timed out after ${timeoutSeconds} s: ${say.still}`);
      await sleep(1000);
    }
  } finally {
    progress.done();
  }
}

/** Poll until the cluster's instances are running or suspended as asked. */
export async function waitForCluster(
  client: KubeKloudClient,
  id: number,
  target: Exclude<ConvergenceTarget, 'gone'>,
  timeoutSeconds: number,
  progress = new Progress(),
): Promise<ClusterWithInstances> {
  const c = await follow(client, id, target, timeoutSeconds, progress);
  // A cluster that no longer exists is 'failed' for these targets, so this is only for the type.
  if (c === null) throw new WaitFailed(`cluster ${id} no longer exists`);
  return c;
}

/** Poll until the cluster is gone (404). */
export async function waitForClusterGone(client: KubeKloudClient, id: number, timeoutSeconds: number, progress = new Progress()): Promise<void> {
  await follow(client, id, 'gone', timeoutSeconds, progress);
}
