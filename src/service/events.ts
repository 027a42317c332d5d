// A cluster's changes as a sequence of events, for GET /api/v1/clusters/{id}/events:
// first the whole cluster, then an `instance` event whenever one instance
// changes, `cluster` when the cluster's status or size changes, and `deleted`
// once it is gone, which ends the sequence.
//
// The change feed tells a stream when its cluster moved (as the change
// commits, or from one shared poll while notifications are down); a stream
// reads its cluster, as its caller may see it, only then, and every 15 s
// whatever the feed says. Changes heard while it reads are read once after. While
// the database is out of reach a read yields `unavailable` and the stream
// goes on. When nothing was yielded for 15 s it yields `keepalive`. It ends
// when `signal` aborts (the client went away).
import { DomainError } from '../domain/errors.ts';
import type { ChangeFeed } from './changeFeed.ts';
import { getCluster } from './clusters.ts';
import type { Principal, Services } from './context.ts';

type ClusterDetail = Awaited<ReturnType<typeof getCluster>>;
type InstanceDetail = ClusterDetail['instances'][number];

export type ClusterEvent =
  | { type: 'cluster'; data: ClusterDetail }
  | { type: 'instance'; data: InstanceDetail }
  | { type: 'deleted'; data: { id: number } }
  | { type: 'keepalive' }
  | { type: 'unavailable' };

export const HEARTBEAT_MS = 15_000;
export const REREAD_MS = 15_000;

export type ClusterEventOptions = {
  /** Ends the sequence: the generator returns at its next step. */
  signal: AbortSignal;
  feed: ChangeFeed;
  /** Called before each read after the first (metrics). */
  onRead?: () => void;
  /** For tests; 15 s each otherwise. */
  heartbeatMs?: number;
  rereadMs?: number;
};

/**
 * The first read happens on the first `next()` and throws what getCluster
 * throws (not_found for a cluster the caller may not see, or a database
 * error), before anything is yielded: a caller can answer with an error
 * before it starts a stream.
 */
export async function* clusterEvents(s: Services, p: Principal, clusterId: number, opts: ClusterEventOptions): AsyncGenerator<ClusterEvent> {
  const { signal, feed } = opts;
  const heartbeatMs = opts.heartbeatMs ?? HEARTBEAT_MS;
  const rereadMs = opts.rereadMs ?? REREAD_MS;

  // The stream follows a teardown to its end: a cluster being deleted is read as it is, until it is gone.
  const first = await getCluster(s, p, clusterId, { includeDeleting: true });
  let changed = false;
  let wake: (() => void) | null = null;
  const wakeUp = () => wake?.();
  const unsubscribe = feed.subscribe(clusterId, () => {
    changed = true;
    wakeUp();
  });
  signal.addEventListener('abort', wakeUp);
  try {
    if (signal.aborted) return;
    yield { type: 'cluster', data: first };
    const seen = new Map(first.instances.map((i) => [i.id, JSON.stringify(i)]));
    let clusterState = stateOf(first);
    let lastYield = Date.now();
    let lastRead = Date.now();
    while (!signal.aborted) {
      // A change heard while the last read was running is read at once.
      if (!changed) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(heartbeatMs, rereadMs));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = null;
      }
      if (signal.aborted) return;
      if (changed || Date.now() - lastRead >= rereadMs) {
        changed = false;
        lastRead = Date.now();
        opts.onRead?.();
        let current: ClusterDetail;
        try {
          current = await getCluster(s, p, clusterId, { includeDeleting: true });
        } catch (err) {
          if (signal.aborted) return;
          if (err instanceof DomainError && err.kind === 'not_found') {
            yield { type: 'deleted', data: { id: clusterId } };
            return;
          }
          // Not an answer about the cluster (the database is away): read again on the next change or in 15 s.
          yield { type: 'unavailable' };
          lastYield = Date.now();
          continue;
        }
        if (signal.aborted) return;
        for (const i of current.instances) {
          const text = JSON.stringify(i);
          if (seen.get(i.id) !== text) {
            seen.set(i.id, text);
            yield { type: 'instance', data: i };
            lastYield = Date.now();
          }
        }
        const state = stateOf(current);
        if (state !== clusterState) {
          clusterState = state;
          yield { type: 'cluster', data: current };
          lastYield = Date.now();
        }
      }
      if (Date.now() - lastYield >= heartbeatMs) {
        yield { type: 'keepalive' };
        lastYield = Date.now();
      }
    }
  } finally {
    unsubscribe();
    signal.removeEventListener('abort', wakeUp);
  }
}

/**
 * What a `cluster` event after the first is sent for: the cluster's status, its
 * size, or its live change moving on (a roll's last step can come after its
 * last instance is running again, with nothing else left to announce it).
 */
const stateOf = (c: ClusterDetail) => JSON.stringify([c.status, c.instance_count, c.rollout ?? null]);
